// The Gmail API through Google's maintained clients (google-auth-library for OAuth, @googleapis/gmail for the
// REST calls): users.messages.import for delivery; profile, history.list, messages.list and messages.get for the
// Sent collection. The only file that imports Google's libraries.
import { Readable } from 'node:stream';
import { type gmail_v1, gmail as gmailApi } from '@googleapis/gmail';
import { gaxios, JWT, OAuth2Client } from 'google-auth-library';

type GaxiosError = gaxios.GaxiosError;

import { SendError } from '../forwarding/errors';
import {
  classifyGmailFailure,
  GMAIL_IMPORT_MAX_BYTES,
  GmailAuthError,
  gmailScopes,
} from '../forwarding/gmail';
import type {
  GmailCredential,
  GmailCredentialStore,
  GmailImporter,
  GmailMailboxReader,
  SentHistoryPage,
} from '../ports';
import { backoffDelay, sleep as wait } from '../retry/backoff';

/** Google's token endpoint; google-auth-library's service-account flow posts here whatever the key file says. */
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
export const GMAIL_ROOT_URL = 'https://gmail.googleapis.com/';
/**
 * How long one request to Google (token endpoint or Gmail API) may take before it counts as no answer (a
 * transient failure, retried): without it a server that accepts the connection and never answers held a
 * forward for ever (the forward Lambda until its 2-minute timeout, leaving a claim only `redrive` takes over;
 * locally the SMTP transaction). 4 attempts of 20 s fit in the forward Lambda's 2 minutes.
 */
export const GOOGLE_REQUEST_TIMEOUT_MS = 20_000;
/** An upload may take this much longer per MB it carries (1 MB/s, far below Lambda's network). */
const UPLOAD_MS_PER_MB = 1000;

/** Above this size the import uses a resumable upload, as Google advises for files over 5 MB. */
export const RESUMABLE_ABOVE_BYTES = 5 * 1024 * 1024;

export interface GmailApiOptions {
  credentials: GmailCredentialStore;
  /** The Gmail API's root. @default https://gmail.googleapis.com/ (tests name a local stand-in) */
  rootUrl?: string;
  /** Attempts per import before the failure goes back to the queue as transient. @default 4 */
  attempts?: number;
  /** First backoff delay; doubled per attempt, or the server's Retry-After when that is longer. @default 1000 */
  backoffMs?: number;
  /** Milliseconds one request may take (uploads: plus 1 s per MB). @default GOOGLE_REQUEST_TIMEOUT_MS */
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * An authorised client for one Gmail user: a service account impersonating `user` (domain-wide delegation),
 * or the user's own refresh token. A credential naming another `token_uri` (a stand-in) gets its token there.
 */
export function gmailAuthClient(
  credential: GmailCredential,
  user: string,
  scopes: string[],
  timeoutMs = GOOGLE_REQUEST_TIMEOUT_MS,
): OAuth2Client {
  const tokenUrl = credential.token_uri ?? GOOGLE_TOKEN_URL;
  // Every request the client makes (its tokens, and the Gmail API calls made through it) gets the timeout.
  const transporter = new gaxios.Gaxios({ timeout: timeoutMs });
  if (credential.type === 'service_account') {
    if (tokenUrl !== GOOGLE_TOKEN_URL) {
      // The service-account flow has no endpoint option; its request is pointed at the credential's token_uri.
      transporter.interceptors.request.add({
        resolved: async (config: gaxios.GaxiosOptionsPrepared) => {
          if (String(config.url) === GOOGLE_TOKEN_URL) config.url = new URL(tokenUrl);
          return config;
        },
      });
    }
    return new JWT({
      email: credential.client_email,
      key: credential.private_key,
      ...(credential.private_key_id ? { keyId: credential.private_key_id } : {}),
      scopes,
      subject: user,
      transporter,
    });
  }
  const client = new OAuth2Client({
    clientId: credential.client_id,
    clientSecret: credential.client_secret,
    endpoints: { oauth2TokenUrl: tokenUrl },
    transporter,
  });
  client.setCredentials({ refresh_token: credential.refresh_token });
  return client;
}

interface GoogleFailure {
  status: number | undefined;
  reason: string | undefined;
  message: string;
  retryAfterMs: number | undefined;
  tokenEndpoint: boolean;
}

/** What a failed call said: the HTTP status, the first error reason, Retry-After. */
function describeFailure(error: unknown): GoogleFailure {
  const e = error as GaxiosError & { errors?: { reason?: string }[] };
  const data = e.response?.data as
    | { error?: { message?: string; errors?: { reason?: string }[] } | string; error_description?: string }
    | undefined;
  const apiError = typeof data?.error === 'object' ? data.error : undefined;
  const tokenError = typeof data?.error === 'string' ? data.error : undefined;
  const retryAfter = Number(e.response?.headers?.get?.('retry-after'));
  // Our request timeout aborts the request: say so, and where, rather than "The operation was aborted".
  const timedOut =
    !e.response &&
    (e.name === 'TimeoutError' || e.name === 'AbortError' || /operation was aborted/i.test(e.message));
  const host = (() => {
    try {
      return new URL(String(e.config?.url)).host;
    } catch {
      return 'Google';
    }
  })();
  return {
    status: e.response?.status ?? (typeof e.status === 'number' ? e.status : undefined),
    reason: apiError?.errors?.[0]?.reason ?? e.errors?.[0]?.reason,
    message: timedOut
      ? `${host} did not answer in time (request timed out)`
      : (apiError?.message ?? (tokenError ? `${tokenError}: ${data?.error_description ?? ''}` : e.message)),
    retryAfterMs: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined,
    tokenEndpoint: tokenError !== undefined || String(e.config?.url ?? '').includes('token'),
  };
}

/** Turns a failed Google call into the forwarder's errors. */
function failureError(target: string, failure: GoogleFailure, error: unknown): SendError {
  // The token endpoint answers 400 invalid_grant for a revoked refresh token or a missing delegation, 401
  // invalid_client for a deleted client: either way someone must authorise again.
  if (
    failure.tokenEndpoint &&
    failure.status !== undefined &&
    failure.status < 500 &&
    failure.status !== 429
  ) {
    return new GmailAuthError(`Google refused the credential of ${target}: ${failure.message}`, target, {
      cause: error,
    });
  }
  const kind = classifyGmailFailure(failure.status, failure.reason);
  const text = `Gmail API ${failure.status ?? 'no answer'}${failure.reason ? ` ${failure.reason}` : ''}: ${failure.message}`;
  if (kind === 'auth') return new GmailAuthError(text, target, { cause: error });
  return new SendError(text, kind === 'permanent', { cause: error });
}

export class GmailApi implements GmailImporter, GmailMailboxReader {
  private readonly clients = new Map<string, { auth: OAuth2Client; api: gmail_v1.Gmail }>();
  private readonly rootUrl: string;

  constructor(private readonly options: GmailApiOptions) {
    this.rootUrl = options.rootUrl ?? GMAIL_ROOT_URL;
    this.timeoutMs = options.timeoutMs ?? GOOGLE_REQUEST_TIMEOUT_MS;
  }

  private readonly timeoutMs: number;

  /** The time an upload of `bytes` may take. */
  private uploadTimeout(bytes: number): number {
    return this.timeoutMs + Math.ceil(bytes / (1024 * 1024)) * UPLOAD_MS_PER_MB;
  }

  /** One client per user, kept for the life of the process (it caches and refreshes its access token). */
  private async client(user: string, collectSent: boolean) {
    const key = `${user} ${collectSent}`;
    const existing = this.clients.get(key);
    if (existing) return existing;
    const credential = await this.options.credentials.load(user);
    const auth = gmailAuthClient(credential, user, gmailScopes(collectSent), this.timeoutMs);
    const made = {
      auth,
      api: gmailApi({ version: 'v1', auth, rootUrl: this.rootUrl, timeout: this.timeoutMs }),
    };
    this.clients.set(key, made);
    return made;
  }

  /** Drops a user's cached clients (and their access tokens). */
  private forget(user: string): void {
    for (const key of [...this.clients.keys()]) if (key.startsWith(`${user} `)) this.clients.delete(key);
  }

  async importMessage(input: { user: string; raw: Buffer }): Promise<{ gmailMessageId: string }> {
    if (input.raw.length > GMAIL_IMPORT_MAX_BYTES) {
      throw new SendError(
        `too large for the Gmail API (${input.raw.length} bytes; users.messages.import takes ${GMAIL_IMPORT_MAX_BYTES})`,
        true,
      );
    }
    const attempts = this.options.attempts ?? 4;
    const sleep = this.options.sleep ?? wait;
    let refreshed = false;
    for (let attempt = 1; ; attempt++) {
      try {
        const { auth, api } = await this.client(input.user, false);
        const id =
          input.raw.length > RESUMABLE_ABOVE_BYTES
            ? await this.resumableImport(auth, input.user, input.raw)
            : await this.multipartImport(api, input.user, input.raw);
        if (!id) throw new SendError('the Gmail API returned no message id', false);
        return { gmailMessageId: id };
      } catch (error) {
        if (error instanceof SendError) throw error;
        const failure = describeFailure(error);
        if (failure.status === 401 && !failure.tokenEndpoint && !refreshed) {
          // The library does not replay an upload stream after a 401: start over once with a fresh token.
          refreshed = true;
          this.forget(input.user);
          attempt -= 1;
          continue;
        }
        const mapped = failureError(input.user, failure, error);
        // A refused credential is read again next time: `gmail-auth` may have replaced it meanwhile.
        if (mapped instanceof GmailAuthError) this.forget(input.user);
        if (mapped.permanent || attempt >= attempts) throw mapped;
        await sleep(
          backoffDelay(
            { firstMs: this.options.backoffMs ?? 1000, maxMs: 60_000 },
            attempt,
            failure.retryAfterMs,
          ),
        );
      }
    }
  }

  /** Import parameters (Gmail API reference, users.messages.import): live delivery, Gmail's spam filter on. */
  private static readonly IMPORT_PARAMS = {
    internalDateSource: 'receivedTime',
    neverMarkSpam: false,
    processForCalendar: false,
  } as const;
  private static readonly LABELS = { labelIds: ['INBOX', 'UNREAD'] };

  private async multipartImport(api: gmail_v1.Gmail, user: string, raw: Buffer): Promise<string | undefined> {
    const response = await api.users.messages.import(
      {
        userId: user,
        ...GmailApi.IMPORT_PARAMS,
        requestBody: GmailApi.LABELS,
        media: { mimeType: 'message/rfc822', body: Readable.from([raw]) },
      },
      // The upload URL is built from the per-call root (the client-wide one does not reach media uploads);
      // retries are ours, with the failure classified first.
      { rootUrl: this.rootUrl, retry: false, timeout: this.uploadTimeout(raw.length) },
    );
    return response.data.id ?? undefined;
  }

  /** Resumable upload (Google's upload protocol): a session with the metadata, then the bytes in one PUT. */
  private async resumableImport(auth: OAuth2Client, user: string, raw: Buffer): Promise<string | undefined> {
    const url = new URL(`upload/gmail/v1/users/${encodeURIComponent(user)}/messages/import`, this.rootUrl);
    url.searchParams.set('uploadType', 'resumable');
    for (const [name, value] of Object.entries(GmailApi.IMPORT_PARAMS))
      url.searchParams.set(name, String(value));
    const session = await auth.request({
      url: url.href,
      method: 'POST',
      headers: {
        'Content-Type': 'application/json; charset=UTF-8',
        'X-Upload-Content-Type': 'message/rfc822',
        'X-Upload-Content-Length': String(raw.length),
      },
      data: JSON.stringify(GmailApi.LABELS),
      retry: false,
    });
    const location = session.headers.get('location');
    if (!location) throw new SendError('the Gmail API opened no upload session', false);
    const upload = await auth.request<gmail_v1.Schema$Message>({
      url: location,
      method: 'PUT',
      headers: { 'Content-Type': 'message/rfc822' },
      data: raw,
      retry: false,
      timeout: this.uploadTimeout(raw.length),
    });
    return upload.data.id ?? undefined;
  }

  async historyId(user: string): Promise<string> {
    return this.read(user, async (api) => {
      const { data } = await api.users.getProfile({ userId: user });
      if (!data.historyId) throw new Error('the Gmail profile has no historyId');
      return data.historyId;
    });
  }

  async sentHistory(
    user: string,
    startHistoryId: string,
    pageToken?: string,
  ): Promise<SentHistoryPage | 'expired'> {
    return this.read(user, async (api) => {
      try {
        const { data } = await api.users.history.list({
          userId: user,
          startHistoryId,
          labelId: 'SENT',
          historyTypes: ['messageAdded'],
          maxResults: 500,
          ...(pageToken ? { pageToken } : {}),
        });
        const ids = (data.history ?? []).flatMap((h) =>
          (h.messagesAdded ?? [])
            .map((m) => m.message)
            .filter((m) => m?.id && (m.labelIds ?? ['SENT']).includes('SENT'))
            .map((m) => m?.id as string),
        );
        return {
          messageIds: ids,
          historyId: data.historyId ?? startHistoryId,
          ...(data.nextPageToken ? { nextPageToken: data.nextPageToken } : {}),
        };
      } catch (error) {
        // A history id Google no longer keeps answers 404 (users.history.list): the caller lists instead.
        if ((error as GaxiosError).response?.status === 404) return 'expired' as const;
        throw error;
      }
    });
  }

  async sentSince(
    user: string,
    after: Date,
    pageToken?: string,
  ): Promise<{ messageIds: string[]; nextPageToken?: string }> {
    return this.read(user, async (api) => {
      const { data } = await api.users.messages.list({
        userId: user,
        labelIds: ['SENT'],
        q: `after:${Math.floor(after.getTime() / 1000)}`,
        maxResults: 500,
        ...(pageToken ? { pageToken } : {}),
      });
      return {
        messageIds: (data.messages ?? []).map((m) => m.id).filter((id): id is string => Boolean(id)),
        ...(data.nextPageToken ? { nextPageToken: data.nextPageToken } : {}),
      };
    });
  }

  async rawMessage(user: string, id: string): Promise<{ raw: Buffer; internalDate?: Date } | undefined> {
    return this.read(user, async (api) => {
      try {
        const { data } = await api.users.messages.get({ userId: user, id, format: 'raw' });
        if (!data.raw) throw new Error(`message ${id} came without its raw form`);
        return {
          raw: Buffer.from(data.raw, 'base64url'),
          ...(data.internalDate ? { internalDate: new Date(Number(data.internalDate)) } : {}),
        };
      } catch (error) {
        // Deleted between the listing and the fetch.
        if ((error as GaxiosError).response?.status === 404) return undefined;
        throw error;
      }
    });
  }

  /** A read call with the collection scopes; Google's refusals become GmailAuthError, the rest SendError. */
  private async read<T>(user: string, call: (api: gmail_v1.Gmail) => Promise<T>): Promise<T> {
    const { api } = await this.client(user, true);
    try {
      return await call(api);
    } catch (error) {
      if (error instanceof SendError) throw error;
      const mapped = failureError(user, describeFailure(error), error);
      if (mapped instanceof GmailAuthError) this.forget(user);
      throw mapped;
    }
  }
}
