// A local stand-in for the two Google services the Gmail transport uses, written from Google's published
// descriptions (OAuth 2.0 for server-to-server and installed applications; Gmail API v1 reference:
// users.messages.import with media upload, users.getProfile, users.history.list, users.messages.list/get), so
// that Google's real clients can be run against it. It is not Google: it checks what the documents say Google
// checks (the service account's RS256-signed JWT against its public key, the audience, the lifetime, the
// delegated scopes and the subject; refresh tokens; PKCE), and keeps each user's mailbox in memory.
import { createHash, createVerify, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const GOOGLE_TOKEN_AUDIENCE = 'https://oauth2.googleapis.com/token';

export interface StoredGmailMessage {
  id: string;
  threadId: string;
  raw: Buffer;
  labelIds: string[];
  internalDate: number;
  historyId: number;
  /** How it arrived: the import's query parameters and upload type, or 'sent' for mail the user sent. */
  via: { uploadType?: string; params: Record<string, string> } | 'sent';
}

interface Mailbox {
  messages: StoredGmailMessage[];
  historyId: number;
  /** history.list answers 404 for a start below this (Google keeps history for about a week). */
  oldestHistoryId: number;
  history: { id: number; messageId: string }[];
}

interface AccessToken {
  user: string;
  scopes: string[];
  expiresAt: number;
}

export interface CannedResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface StandInRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  status: number;
}

const READ_SCOPES = [
  'https://mail.google.com/',
  'https://www.googleapis.com/auth/gmail.modify',
  'https://www.googleapis.com/auth/gmail.readonly',
];
const IMPORT_SCOPES = [
  'https://mail.google.com/',
  'https://www.googleapis.com/auth/gmail.modify',
  'https://www.googleapis.com/auth/gmail.insert',
];

function apiError(code: number, message: string, reason: string, status: string) {
  return { error: { code, message, errors: [{ message, domain: 'global', reason }], status } };
}

function b64urlJson(part: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
}

export class GoogleStandIn {
  readonly requests: StandInRequest[] = [];
  readonly mailboxes = new Map<string, Mailbox>();
  /** Access token lifetime in seconds. */
  tokenLifetime = 3600;
  /** Page size cap of history.list and messages.list (small values exercise paging). */
  pageSize = 500;
  private readonly serviceAccounts = new Map<string, { publicKey: string; delegatedScopes: string[] }>();
  private readonly oauthClients = new Map<string, { secret: string }>();
  private readonly refreshTokens = new Map<string, { clientId: string; user: string; scopes: string[] }>();
  private readonly codes = new Map<
    string,
    { clientId: string; user: string; scopes: string[]; redirectUri: string; challenge?: string }
  >();
  private readonly tokens = new Map<string, AccessToken>();
  private readonly uploads = new Map<
    string,
    { user: string; metadata: { labelIds?: string[] }; params: Record<string, string>; length: number }
  >();
  private readonly canned: { pattern: RegExp; response: CannedResponse }[] = [];
  private nextId = 0x18c0000000000000n;
  /** The user who consents on the stand-in's authorisation page. */
  consentUser: string | undefined;
  private server = createServer((req, res) => {
    this.handle(req, res).catch((error) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify(apiError(500, String(error), 'backendError', 'INTERNAL')));
    });
  });
  url = '';

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  get tokenUri(): string {
    return `${this.url}/token`;
  }
  get authUri(): string {
    return `${this.url}/o/oauth2/v2/auth`;
  }
  get rootUrl(): string {
    return `${this.url}/`;
  }

  /** A Workspace service account and the scopes an admin delegated to it domain-wide. */
  addServiceAccount(clientEmail: string, publicKeyPem: string, delegatedScopes: string[]): void {
    this.serviceAccounts.set(clientEmail, { publicKey: publicKeyPem, delegatedScopes });
  }

  addOAuthClient(clientId: string, secret: string): void {
    this.oauthClients.set(clientId, { secret });
  }

  /** A refresh token as the consent flow would have issued it. */
  issueRefreshToken(clientId: string, user: string, scopes: string[]): string {
    const token = `1//stand-in-${randomBytes(12).toString('hex')}`;
    this.refreshTokens.set(token, { clientId, user, scopes });
    return token;
  }

  revokeRefreshTokens(): void {
    this.refreshTokens.clear();
  }

  /** Every access token handed out so far stops working (as if its hour had passed). */
  expireAccessTokens(): void {
    for (const token of this.tokens.values()) token.expiresAt = 0;
  }

  addUser(address: string): Mailbox {
    const existing = this.mailboxes.get(address);
    if (existing) return existing;
    const mailbox: Mailbox = { messages: [], historyId: 1000, oldestHistoryId: 1, history: [] };
    this.mailboxes.set(address, mailbox);
    return mailbox;
  }

  /** The next requests whose path matches get these answers, in order (then normal service resumes). */
  failNext(pattern: RegExp, ...responses: CannedResponse[]): void {
    for (const response of responses) this.canned.push({ pattern, response });
  }

  /** The user sends a message from Gmail: it gets the SENT label and a history record. */
  userSends(user: string, raw: Buffer, at = new Date()): StoredGmailMessage {
    return this.store(user, raw, ['SENT'], at.getTime(), 'sent');
  }

  /** Google forgets history before now: older start ids answer 404. */
  forgetHistory(user: string): void {
    const mailbox = this.addUser(user);
    mailbox.oldestHistoryId = mailbox.historyId + 1;
  }

  private store(
    user: string,
    raw: Buffer,
    labelIds: string[],
    internalDate: number,
    via: StoredGmailMessage['via'],
  ): StoredGmailMessage {
    const mailbox = this.addUser(user);
    const id = (this.nextId++).toString(16);
    mailbox.historyId += 1 + Math.floor(Math.random() * 5); // increasing, with gaps, as documented
    const message: StoredGmailMessage = {
      id,
      threadId: id,
      raw,
      labelIds,
      internalDate,
      historyId: mailbox.historyId,
      via,
    };
    mailbox.messages.push(message);
    mailbox.history.push({ id: mailbox.historyId, messageId: id });
    return message;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const body = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}): undefined => {
      this.requests.push({
        method: req.method ?? '',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        status,
      });
      res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...headers });
      res.end(payload === undefined ? '' : JSON.stringify(payload));
    };
    const cannedIndex = this.canned.findIndex((c) => c.pattern.test(url.pathname));
    if (cannedIndex >= 0) {
      const { response } = this.canned.splice(cannedIndex, 1)[0] as { response: CannedResponse };
      send(
        response.status,
        response.body ?? apiError(response.status, 'canned', 'canned', 'CANNED'),
        response.headers,
      );
      return;
    }
    if (url.pathname === '/token' && req.method === 'POST') return this.token(body, send);
    if (url.pathname === '/o/oauth2/v2/auth' && req.method === 'GET') return this.consent(url, res, send);
    const match = /^\/(upload\/)?gmail\/v1\/users\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (!match) return send(404, apiError(404, 'Not Found', 'notFound', 'NOT_FOUND'));
    const [, upload, rawUser, rest] = match as unknown as [string, string | undefined, string, string];
    const resumableSession = url.searchParams.get('upload_id');
    const needs = upload && rest === 'messages/import' ? IMPORT_SCOPES : READ_SCOPES;
    const token = this.authorise(req, needs);
    if ('status' in token) return send(token.status, token.body);
    const user = decodeURIComponent(rawUser) === 'me' ? token.user : decodeURIComponent(rawUser);
    if (user !== token.user) {
      return send(
        403,
        apiError(403, `Delegation denied for ${token.user}`, 'forbidden', 'PERMISSION_DENIED'),
      );
    }
    const mailbox = this.addUser(user);

    if (upload && rest === 'messages/import') {
      const params = Object.fromEntries(
        [...url.searchParams].filter(([k]) => !['uploadType', 'upload_id'].includes(k)),
      );
      const uploadType = url.searchParams.get('uploadType') ?? '';
      if (req.method === 'PUT' && resumableSession) {
        const session = this.uploads.get(resumableSession);
        if (!session) return send(404, apiError(404, 'upload session not found', 'notFound', 'NOT_FOUND'));
        if (body.length !== session.length)
          return send(400, apiError(400, 'length mismatch', 'badRequest', 'INVALID_ARGUMENT'));
        this.uploads.delete(resumableSession);
        return send(200, this.imported(session.user, body, session.metadata, 'resumable', session.params));
      }
      if (req.method !== 'POST') return send(405, apiError(405, 'method', 'badRequest', 'INVALID_ARGUMENT'));
      const invalid = this.checkImportParams(params);
      if (invalid) return send(400, apiError(400, invalid, 'invalidArgument', 'INVALID_ARGUMENT'));
      if (uploadType === 'multipart') {
        const parts = parseMultipartRelated(req.headers['content-type'] ?? '', body);
        if (parts?.length !== 2)
          return send(400, apiError(400, 'bad multipart', 'badRequest', 'INVALID_ARGUMENT'));
        const [meta, media] = parts as [Part, Part];
        if (!/application\/json/i.test(meta.contentType) || !/message\/rfc822/i.test(media.contentType)) {
          return send(400, apiError(400, 'wrong part types', 'badRequest', 'INVALID_ARGUMENT'));
        }
        return send(
          200,
          this.imported(user, media.body, JSON.parse(meta.body.toString('utf8')), 'multipart', params),
        );
      }
      if (uploadType === 'resumable') {
        const length = Number(req.headers['x-upload-content-length']);
        if (!/message\/rfc822/i.test(String(req.headers['x-upload-content-type'] ?? '')) || !(length > 0)) {
          return send(400, apiError(400, 'bad resumable headers', 'badRequest', 'INVALID_ARGUMENT'));
        }
        if (length > 150 * 1024 * 1024)
          return send(413, apiError(413, 'too large', 'uploadTooLarge', 'INVALID_ARGUMENT'));
        const id = randomBytes(8).toString('hex');
        this.uploads.set(id, { user, metadata: JSON.parse(body.toString('utf8') || '{}'), params, length });
        return send(200, undefined, {
          location: `${this.url}/upload/gmail/v1/users/${encodeURIComponent(user)}/messages/import?uploadType=resumable&upload_id=${id}`,
        });
      }
      return send(400, apiError(400, `uploadType ${uploadType}`, 'badRequest', 'INVALID_ARGUMENT'));
    }

    if (req.method !== 'GET') return send(405, apiError(405, 'method', 'badRequest', 'INVALID_ARGUMENT'));
    if (rest === 'profile') {
      return send(200, {
        emailAddress: user,
        messagesTotal: mailbox.messages.length,
        threadsTotal: mailbox.messages.length,
        historyId: String(mailbox.historyId),
      });
    }
    if (rest === 'history') {
      const start = Number(url.searchParams.get('startHistoryId'));
      if (!Number.isFinite(start) || start <= 0) {
        return send(400, apiError(400, 'startHistoryId required', 'invalidArgument', 'INVALID_ARGUMENT'));
      }
      if (start < mailbox.oldestHistoryId)
        return send(404, apiError(404, 'Requested entity was not found.', 'notFound', 'NOT_FOUND'));
      const label = url.searchParams.get('labelId');
      const types = url.searchParams.getAll('historyTypes');
      const records = mailbox.history
        .filter((h) => h.id > start)
        .map((h) => ({ h, m: mailbox.messages.find((m) => m.id === h.messageId) as StoredGmailMessage }))
        .filter(({ m }) => !label || m.labelIds.includes(label))
        .filter(() => types.length === 0 || types.includes('messageAdded'));
      const offset = Number(url.searchParams.get('pageToken') ?? 0);
      const size = Math.min(Number(url.searchParams.get('maxResults') ?? 100), this.pageSize);
      const page = records.slice(offset, offset + size);
      return send(200, {
        ...(page.length
          ? {
              history: page.map(({ h, m }) => ({
                id: String(h.id),
                messages: [{ id: m.id, threadId: m.threadId }],
                messagesAdded: [{ message: { id: m.id, threadId: m.threadId, labelIds: m.labelIds } }],
              })),
            }
          : {}),
        ...(offset + size < records.length ? { nextPageToken: String(offset + size) } : {}),
        historyId: String(mailbox.historyId),
      });
    }
    if (rest === 'messages') {
      const labels = url.searchParams.getAll('labelIds');
      const after = /after:(\d+)/.exec(url.searchParams.get('q') ?? '')?.[1];
      const all = [...mailbox.messages]
        .reverse()
        .filter((m) => labels.every((l) => m.labelIds.includes(l)))
        .filter((m) => !after || m.internalDate > Number(after) * 1000);
      const offset = Number(url.searchParams.get('pageToken') ?? 0);
      const size = Math.min(Number(url.searchParams.get('maxResults') ?? 100), this.pageSize);
      const page = all.slice(offset, offset + size);
      return send(200, {
        ...(page.length ? { messages: page.map((m) => ({ id: m.id, threadId: m.threadId })) } : {}),
        ...(offset + size < all.length ? { nextPageToken: String(offset + size) } : {}),
        resultSizeEstimate: all.length,
      });
    }
    const get = /^messages\/([^/]+)$/.exec(rest);
    if (get) {
      const message = mailbox.messages.find((m) => m.id === get[1]);
      if (!message)
        return send(404, apiError(404, 'Requested entity was not found.', 'notFound', 'NOT_FOUND'));
      if (url.searchParams.get('format') !== 'raw') {
        return send(
          400,
          apiError(400, 'the stand-in serves format=raw only', 'invalidArgument', 'INVALID_ARGUMENT'),
        );
      }
      return send(200, {
        id: message.id,
        threadId: message.threadId,
        labelIds: message.labelIds,
        historyId: String(message.historyId),
        internalDate: String(message.internalDate),
        sizeEstimate: message.raw.length,
        raw: message.raw.toString('base64url'),
      });
    }
    return send(404, apiError(404, 'Not Found', 'notFound', 'NOT_FOUND'));
  }

  private checkImportParams(params: Record<string, string>): string | undefined {
    const source = params.internalDateSource;
    if (source !== undefined && source !== 'receivedTime' && source !== 'dateHeader') {
      return `Invalid value for internalDateSource: ${source}`;
    }
    for (const flag of ['neverMarkSpam', 'processForCalendar', 'deleted']) {
      const value = params[flag];
      if (value !== undefined && value !== 'true' && value !== 'false')
        return `Invalid value for ${flag}: ${value}`;
    }
    return undefined;
  }

  private imported(
    user: string,
    raw: Buffer,
    metadata: { labelIds?: string[] },
    uploadType: string,
    params: Record<string, string>,
  ) {
    const labels = metadata.labelIds ?? [];
    const stored = this.store(user, Buffer.from(raw), labels, Date.now(), { uploadType, params });
    return { id: stored.id, threadId: stored.threadId, labelIds: labels };
  }

  private authorise(req: IncomingMessage, needs: string[]): AccessToken | { status: number; body: unknown } {
    const header = req.headers.authorization ?? '';
    const token = this.tokens.get(header.replace(/^Bearer\s+/i, ''));
    if (!token || token.expiresAt <= Date.now()) {
      return {
        status: 401,
        body: {
          error: {
            code: 401,
            message: 'Request had invalid authentication credentials.',
            errors: [
              {
                message: 'Invalid Credentials',
                domain: 'global',
                reason: 'authError',
                location: 'Authorization',
                locationType: 'header',
              },
            ],
            status: 'UNAUTHENTICATED',
          },
        },
      };
    }
    if (!token.scopes.some((s) => needs.includes(s))) {
      return {
        status: 403,
        body: apiError(
          403,
          'Request had insufficient authentication scopes.',
          'insufficientPermissions',
          'PERMISSION_DENIED',
        ),
      };
    }
    return token;
  }

  private grant(user: string, scopes: string[], extra: Record<string, unknown> = {}) {
    const accessToken = `ya29.stand-in-${randomBytes(16).toString('hex')}`;
    this.tokens.set(accessToken, { user, scopes, expiresAt: Date.now() + this.tokenLifetime * 1000 });
    return {
      access_token: accessToken,
      expires_in: this.tokenLifetime,
      token_type: 'Bearer',
      scope: scopes.join(' '),
      ...extra,
    };
  }

  private token(body: Buffer, send: (status: number, payload: unknown) => undefined): undefined {
    const form = new URLSearchParams(body.toString('utf8'));
    const grantType = form.get('grant_type');
    const fail = (status: number, error: string, description: string): undefined =>
      send(status, { error, error_description: description });
    if (grantType === 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
      const [h, p, s] = (form.get('assertion') ?? '').split('.');
      if (!h || !p || !s) return fail(400, 'invalid_grant', 'Invalid JWT: malformed');
      let header: Record<string, unknown>;
      let claims: Record<string, unknown>;
      try {
        header = b64urlJson(h);
        claims = b64urlJson(p);
      } catch {
        return fail(400, 'invalid_grant', 'Invalid JWT: not JSON');
      }
      if (header.alg !== 'RS256') return fail(400, 'invalid_grant', 'Invalid JWT: alg must be RS256');
      const account = this.serviceAccounts.get(String(claims.iss));
      if (!account) return fail(401, 'invalid_client', 'The OAuth client was not found.');
      const verifier = createVerify('RSA-SHA256');
      verifier.update(`${h}.${p}`);
      if (!verifier.verify(account.publicKey, Buffer.from(s, 'base64url'))) {
        return fail(400, 'invalid_grant', 'Invalid JWT Signature.');
      }
      const now = Math.floor(Date.now() / 1000);
      const iat = Number(claims.iat);
      const exp = Number(claims.exp);
      if (claims.aud !== GOOGLE_TOKEN_AUDIENCE) return fail(400, 'invalid_grant', 'Invalid JWT: aud');
      if (!(exp > now) || !(iat <= now + 300) || exp - iat > 3600) {
        return fail(
          400,
          'invalid_grant',
          'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.',
        );
      }
      const scopes = String(claims.scope ?? '')
        .split(' ')
        .filter(Boolean);
      const subject = typeof claims.sub === 'string' ? claims.sub : undefined;
      if (!subject)
        return fail(400, 'invalid_grant', 'the Gmail API needs a subject (a user to impersonate)');
      if (!this.mailboxes.has(subject)) return fail(400, 'invalid_grant', 'Invalid email or User ID');
      if (scopes.length === 0 || !scopes.every((sc) => account.delegatedScopes.includes(sc))) {
        return fail(
          401,
          'unauthorized_client',
          'Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.',
        );
      }
      return send(200, this.grant(subject, scopes));
    }
    const clientId = form.get('client_id') ?? '';
    const client = this.oauthClients.get(clientId);
    if (!client || client.secret !== form.get('client_secret')) {
      return fail(401, 'invalid_client', 'Unauthorized');
    }
    if (grantType === 'refresh_token') {
      const refresh = this.refreshTokens.get(form.get('refresh_token') ?? '');
      if (!refresh || refresh.clientId !== clientId)
        return fail(400, 'invalid_grant', 'Token has been expired or revoked.');
      return send(200, this.grant(refresh.user, refresh.scopes));
    }
    if (grantType === 'authorization_code') {
      const code = this.codes.get(form.get('code') ?? '');
      this.codes.delete(form.get('code') ?? '');
      if (!code || code.clientId !== clientId || code.redirectUri !== form.get('redirect_uri')) {
        return fail(400, 'invalid_grant', 'Bad Request');
      }
      if (code.challenge) {
        const verifier = form.get('code_verifier') ?? '';
        if (createHash('sha256').update(verifier).digest('base64url') !== code.challenge) {
          return fail(400, 'invalid_grant', 'Invalid code verifier.');
        }
      }
      const refreshToken = this.issueRefreshToken(clientId, code.user, code.scopes);
      return send(200, this.grant(code.user, code.scopes, { refresh_token: refreshToken }));
    }
    return fail(400, 'unsupported_grant_type', `Invalid grant_type: ${grantType}`);
  }

  /** The consent page: the configured user approves at once and the browser is sent back to the app. */
  private consent(
    url: URL,
    res: ServerResponse,
    send: (status: number, payload: unknown) => undefined,
  ): undefined {
    const clientId = url.searchParams.get('client_id') ?? '';
    const redirectUri = url.searchParams.get('redirect_uri') ?? '';
    if (!this.oauthClients.has(clientId)) return send(401, { error: 'invalid_client' });
    if (!/^http:\/\/(127\.0\.0\.1|\[::1\]|localhost)(:\d+)?(\/|$)/.test(redirectUri)) {
      return send(400, {
        error: 'invalid_request',
        error_description: 'redirect_uri must be a loopback address',
      });
    }
    if (url.searchParams.get('response_type') !== 'code' || !this.consentUser) {
      return send(400, { error: 'invalid_request' });
    }
    const challenge = url.searchParams.get('code_challenge') ?? undefined;
    if (challenge && url.searchParams.get('code_challenge_method') !== 'S256') {
      return send(400, { error: 'invalid_request', error_description: 'S256 only' });
    }
    const code = `4/stand-in-${randomBytes(8).toString('hex')}`;
    this.codes.set(code, {
      clientId,
      user: this.consentUser,
      scopes: (url.searchParams.get('scope') ?? '').split(' ').filter(Boolean),
      redirectUri,
      ...(challenge ? { challenge } : {}),
    });
    const back = new URL(redirectUri);
    back.searchParams.set('code', code);
    const state = url.searchParams.get('state');
    if (state) back.searchParams.set('state', state);
    this.requests.push({
      method: 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      status: 302,
    });
    res.writeHead(302, { location: back.href });
    res.end();
  }
}

interface Part {
  contentType: string;
  body: Buffer;
}

/** multipart/related as Google's upload protocol sends it: a JSON part, then the media part. */
function parseMultipartRelated(contentType: string, body: Buffer): Part[] | undefined {
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  if (!/^multipart\/related/i.test(contentType) || !boundary) return undefined;
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Part[] = [];
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const after = at + delimiter.length;
    if (body.subarray(after, after + 2).toString() === '--') return parts;
    const headersEnd = body.indexOf('\r\n\r\n', after);
    if (headersEnd < 0) return undefined;
    const headers = body.subarray(after, headersEnd).toString('latin1');
    const next = body.indexOf(Buffer.from(`\r\n--${boundary}`), headersEnd + 4);
    if (next < 0) return undefined;
    parts.push({
      contentType: /content-type:\s*([^\r\n]+)/i.exec(headers)?.[1] ?? '',
      body: body.subarray(headersEnd + 4, next),
    });
    at = next + 2;
  }
  return undefined;
}
