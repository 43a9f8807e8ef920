// `mail-archiver gmail-auth <mailbox>`: stores the credential a `via: "gmail-api"` target is delivered with, and
// `mail-archiver collect-sent`: one run of the Sent collection (on AWS a scheduled function does it).
// Consumer Gmail: a loopback OAuth flow as desktop tools do it (RFC 8252: the browser is sent back to
// http://127.0.0.1:<port>, PKCE S256), which yields a refresh token. Workspace: a service account key with
// domain-wide delegation; the key is tried (a token for the target user) before it is stored.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Command } from 'commander';
import { CodeChallengeMethod, OAuth2Client } from 'google-auth-library';
import { GmailApi, GOOGLE_TOKEN_URL, gmailAuthClient } from '../../shared/adapters/gmail-api';
import {
  FileGmailCredentialStore,
  parseGmailCredential,
  SecretsManagerGmailCredentialStore,
} from '../../shared/adapters/gmail-credentials';
import { RawStoreSentCollectionState } from '../../shared/adapters/raw-store-sent-state';
import { type ArchiverConfig, gmailApiTargets } from '../../shared/config';
import { errorMessage } from '../../shared/errors';
import { gmailScopes } from '../../shared/forwarding/gmail';
import { collectSentForAll } from '../../shared/forwarding/sent-collection';
import type { GmailCredential, GmailCredentialStore } from '../../shared/ports';
import type { CliContext } from '../context';
import { localGmailRootUrl } from '../local/forwarding';
import { archiverHome } from '../local/running-stack';
import { ExitCode, fileProblem, UserError } from '../process/output';

export const GOOGLE_AUTH_URL = 'https://accounts.google.com/o/oauth2/v2/auth';

/** The Gmail target of a mailbox that `gmail-auth` is for: the one named, or the only `via: "gmail-api"` one. */
export function gmailTargetOf(
  config: ArchiverConfig,
  mailbox: string,
  target?: string,
): { address: string; collectSent: boolean } {
  const targets = gmailApiTargets(config).filter((t) => t.mailbox === mailbox.toLowerCase());
  const chosen = target ? targets.find((t) => t.address === target.toLowerCase()) : targets[0];
  if (!chosen) {
    const names = targets.map((t) => t.address).join(', ');
    throw new UserError(
      target && targets.length > 0
        ? `${target} is not a Gmail API target of ${mailbox} (its Gmail API targets: ${names})`
        : `${mailbox} has no forwarding target with "via": "gmail-api" in the config`,
    );
  }
  if (!target && targets.length > 1) {
    throw new UserError(
      `${mailbox} has ${targets.length} Gmail API targets: name one with --address (${targets.map((t) => t.address).join(', ')})`,
    );
  }
  return chosen;
}

/** The OAuth client file Google Cloud console gives for a "Desktop app" client. */
interface InstalledClient {
  client_id: string;
  client_secret: string;
  auth_uri?: string;
  token_uri?: string;
}

export function parseClientSecretFile(text: string, where: string): InstalledClient {
  let json: { installed?: InstalledClient; web?: InstalledClient };
  try {
    json = JSON.parse(text) as typeof json;
  } catch (error) {
    throw new UserError(`${where} is not JSON (${errorMessage(error)})`, { cause: error });
  }
  const client = json?.installed ?? json?.web;
  if (!client?.client_id || !client.client_secret) {
    throw new UserError(
      `${where}: not an OAuth client file (expected {"installed": {"client_id", "client_secret", ...}})`,
    );
  }
  return client;
}

/**
 * The loopback flow: a one-shot HTTP listener on 127.0.0.1, the consent URL handed to `openUrl` (the CLI prints
 * it), the code exchanged with its PKCE verifier. Returns the credential to store. Times out after `timeoutMs`.
 */
export async function authoriseConsumerGmail(input: {
  client: InstalledClient;
  user: string;
  scopes: string[];
  openUrl: (url: string) => void | Promise<void>;
  timeoutMs?: number;
}): Promise<GmailCredential> {
  const state = randomBytes(16).toString('hex');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  try {
    const tokenUrl = input.client.token_uri ?? GOOGLE_TOKEN_URL;
    const oauth = new OAuth2Client({
      clientId: input.client.client_id,
      clientSecret: input.client.client_secret,
      redirectUri,
      endpoints: { oauth2AuthBaseUrl: input.client.auth_uri ?? GOOGLE_AUTH_URL, oauth2TokenUrl: tokenUrl },
    });
    const { codeVerifier, codeChallenge } = await oauth.generateCodeVerifierAsync();
    const code = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('no answer from the browser in time')),
        input.timeoutMs ?? 5 * 60_000,
      );
      server.on('request', (req, res) => {
        const url = new URL(req.url ?? '/', redirectUri);
        const given = url.searchParams.get('code');
        const ok = given && url.searchParams.get('state') === state;
        res.writeHead(ok ? 200 : 400, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(ok ? 'mail-archiver is authorised. You can close this window.\n' : 'Authorisation failed.\n');
        if (!ok && !url.searchParams.get('error')) return;
        clearTimeout(timer);
        if (ok) resolve(given);
        else reject(new Error(`Google said: ${url.searchParams.get('error')}`));
      });
    });
    await input.openUrl(
      oauth.generateAuthUrl({
        access_type: 'offline',
        prompt: 'consent',
        scope: input.scopes,
        login_hint: input.user,
        state,
        code_challenge_method: CodeChallengeMethod.S256,
        ...(codeChallenge ? { code_challenge: codeChallenge } : {}),
      }),
    );
    const { tokens } = await oauth.getToken({ code: await code, codeVerifier, redirect_uri: redirectUri });
    if (!tokens.refresh_token)
      throw new Error('Google returned no refresh token (revoke the app and try again)');
    return {
      type: 'authorized_user',
      client_id: input.client.client_id,
      client_secret: input.client.client_secret,
      refresh_token: tokens.refresh_token,
      ...(tokenUrl !== GOOGLE_TOKEN_URL ? { token_uri: tokenUrl } : {}),
    };
  } finally {
    server.close();
  }
}

/** Proves a service account key works for the user (domain-wide delegation for these scopes) before storing it. */
export async function checkServiceAccount(
  credential: GmailCredential,
  user: string,
  scopes: string[],
): Promise<void> {
  try {
    await gmailAuthClient(credential, user, scopes).getAccessToken();
  } catch (error) {
    throw new UserError(
      `Google refused the service account for ${user}: ${errorMessage(error)}. In the Admin console (Security > Access and data control > API controls > Domain-wide delegation) add its client ID with the scopes ${scopes.join(',')}`,
      { cause: error },
    );
  }
}

/** A file the user named: its text, or one plain line saying why it cannot be read. */
async function readUserFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const why = fileProblem(error);
    throw new UserError(`cannot read the ${what} ${path}: ${why}`, { cause: error });
  }
}

export function gmailCredentialStore(
  config: ArchiverConfig,
  target: 'local' | 'aws',
  home: string,
): GmailCredentialStore {
  return target === 'aws'
    ? new SecretsManagerGmailCredentialStore(new SecretsManagerClient({}), config.stackName)
    : new FileGmailCredentialStore(join(home, 'gmail'));
}

export function registerGmailCommands(program: Command, context: CliContext): void {
  program
    .command('gmail-auth')
    .description('store the credential a "via": "gmail-api" target is delivered with')
    .argument('<mailbox>', 'the archive mailbox whose Gmail target this is')
    // Not --target: that is the global local|aws option, which commander reads wherever it stands.
    .option('--address <address>', 'the Gmail address, when the mailbox has more than one Gmail API target')
    .option('--client-secret-file <file>', 'consumer Gmail: the OAuth client file of a "Desktop app" client')
    .option(
      '--service-account-key <file>',
      'Google Workspace: the JSON key of a service account with domain-wide delegation',
    )
    .addHelpText(
      'after',
      `
Consumer Gmail: the command prints a Google consent URL; open it, sign in as the Gmail user and allow access.
The browser returns to this machine (http://127.0.0.1), and the refresh token is stored. An OAuth app left in
"Testing" status gets refresh tokens that expire after 7 days: publish it (it can stay unverified for your own use).
Google Workspace: the service account's client ID must be allowed, with the printed scopes, under Admin console >
Security > Access and data control > API controls > Domain-wide delegation.
Stored locally under $MAIL_ARCHIVER_HOME/gmail/ (mode 0600); with --target aws in Secrets Manager.`,
    )
    .action(
      async (
        mailbox: string,
        options: { address?: string; clientSecretFile?: string; serviceAccountKey?: string },
      ) => {
        const { target, configuration } = context.globals();
        const gmail = gmailTargetOf(configuration, mailbox, options.address);
        const scopes = gmailScopes(gmail.collectSent);
        if (Boolean(options.clientSecretFile) === Boolean(options.serviceAccountKey)) {
          throw new UserError(
            'give one of --client-secret-file (consumer Gmail) or --service-account-key (Workspace)',
            { exitCode: ExitCode.usage },
          );
        }
        let credential: GmailCredential;
        if (options.serviceAccountKey) {
          const file = options.serviceAccountKey;
          const text = await readUserFile(file, 'service account key');
          try {
            credential = parseGmailCredential(text, file);
          } catch (error) {
            throw new UserError(errorMessage(error), { cause: error });
          }
          if (credential.type !== 'service_account')
            throw new UserError(`${file} is not a service account key ("type": "service_account")`);
          console.log(`scopes to delegate: ${scopes.join(',')}`);
          await checkServiceAccount(credential, gmail.address, scopes);
        } else {
          const file = options.clientSecretFile as string;
          credential = await authoriseConsumerGmail({
            client: parseClientSecretFile(await readUserFile(file, 'OAuth client file'), file),
            user: gmail.address,
            scopes,
            openUrl: (url) => {
              console.log(`Open this address in a browser and sign in as ${gmail.address}:\n\n  ${url}\n`);
            },
          });
        }
        await gmailCredentialStore(configuration, target, archiverHome()).save(gmail.address, credential);
        console.log(`stored the Gmail credential of ${gmail.address} (${credential.type})`);
      },
    );

  program
    .command('collect-sent')
    .description(
      'archive what Gmail API targets with "collectSent" sent, into their mailboxes\' Sent folders',
    )
    .action(async () => {
      const { target, configuration } = context.globals();
      const targets = gmailApiTargets(configuration).filter((t) => t.collectSent);
      if (targets.length === 0) {
        console.log('no forwarding target has "via": "gmail-api" with "collectSent": true');
        return;
      }
      const gmailRootUrl = localGmailRootUrl();
      const reports = await context.withArchive(async (archive, config) =>
        collectSentForAll({
          config,
          reader: new GmailApi({
            credentials: gmailCredentialStore(config, target, archiverHome()),
            // The same Gmail API root as forwarding uses (a stand-in when MAIL_ARCHIVER_GMAIL_ROOT_URL names one).
            ...(gmailRootUrl ? { rootUrl: gmailRootUrl } : {}),
          }),
          store: archive.store,
          state: new RawStoreSentCollectionState(archive.store, archive.bucket),
          index: archive.index,
          bucket: archive.bucket,
          deliveryLog: archive.deliveryLog,
        }),
      );
      for (const r of reports) {
        console.log(
          'error' in r
            ? `${r.target}: ${r.error}`
            : `${r.target} -> ${r.mailbox}/Sent: ${r.archived} archived, ${r.duplicates} already there (${r.mode}, history ${r.historyId})`,
        );
      }
      if (reports.some((r) => 'error' in r)) process.exitCode = 1;
    });
}
