// Where Gmail credentials live: one AWS Secrets Manager secret per target on AWS (`<stack>/gmail/<address>`),
// one file per target under the data directory locally (`<home>/gmail/<address>.json`, mode 0600).
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { errorMessage } from '../errors';
import { GmailAuthError } from '../forwarding/gmail';
import { gmailSecretName } from '../index/schema';
import type { GmailCredential, GmailCredentialStore } from '../ports';

/** Checks a credential's shape (Google's service-account key file, or an authorised user); throws otherwise. */
export function parseGmailCredential(text: string, where: string): GmailCredential {
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`${where} is not JSON`, { cause: error });
  }
  const strings = (...names: string[]) => names.every((n) => typeof value[n] === 'string' && value[n] !== '');
  if (value.type === 'service_account' && strings('client_email', 'private_key'))
    return value as GmailCredential;
  if (value.type === 'authorized_user' && strings('client_id', 'client_secret', 'refresh_token')) {
    return value as GmailCredential;
  }
  throw new Error(
    `${where}: expected a service account key ("type": "service_account") or an authorised user ("type": "authorized_user")`,
  );
}

/** A stored credential that is not one (damaged JSON, a wrong file) needs `gmail-auth` as a refused one does. */
function unusableIsAuthError(target: string, parse: () => GmailCredential): GmailCredential {
  try {
    return parse();
  } catch (error) {
    throw new GmailAuthError(errorMessage(error), target, { cause: error });
  }
}

export class FileGmailCredentialStore implements GmailCredentialStore {
  constructor(private readonly dir: string) {}

  path(target: string): string {
    if (!/^[^/\\\s]+@[^/\\\s]+$/.test(target)) throw new Error(`not an address: ${target}`);
    return join(this.dir, `${target.toLowerCase()}.json`);
  }

  /**
   * The target's credential. Throws GmailAuthError (permanent, with the alarm) when there is none, when others
   * can read the file, or when it holds no credential: retrying cannot help until someone fixes or replaces it.
   */
  async load(target: string): Promise<GmailCredential> {
    const path = this.path(target);
    let text: string;
    try {
      const { mode } = await stat(path);
      // A key readable by others is a leaked key: refuse it rather than use it.
      if ((mode & 0o077) !== 0) {
        throw new GmailAuthError(`${path} is readable by others (chmod 600 it)`, target);
      }
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new GmailAuthError(`no Gmail credential for ${target} (${path})`, target, { cause: error });
      }
      throw error;
    }
    return unusableIsAuthError(target, () => parseGmailCredential(text, path));
  }

  async save(target: string, credential: GmailCredential): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const path = this.path(target);
    await writeFile(path, `${JSON.stringify(credential, null, 2)}\n`, { mode: 0o600 });
    await chmod(path, 0o600);
  }
}

export class SecretsManagerGmailCredentialStore implements GmailCredentialStore {
  constructor(
    private readonly client: SecretsManagerClient,
    private readonly stackName: string,
  ) {}

  async load(target: string): Promise<GmailCredential> {
    const name = gmailSecretName(this.stackName, target);
    try {
      const { SecretString } = await this.client.send(new GetSecretValueCommand({ SecretId: name }));
      if (!SecretString || SecretString === '{}') {
        throw new GmailAuthError(`the secret ${name} holds no Gmail credential yet`, target);
      }
      return unusableIsAuthError(target, () => parseGmailCredential(SecretString, `secret ${name}`));
    } catch (error) {
      if (error instanceof ResourceNotFoundException) {
        throw new GmailAuthError(`no secret ${name}`, target, { cause: error });
      }
      throw error;
    }
  }

  /** The stack creates the secret (empty); this puts the credential into it. */
  async save(target: string, credential: GmailCredential): Promise<void> {
    await this.client.send(
      new PutSecretValueCommand({
        SecretId: gmailSecretName(this.stackName, target),
        SecretString: JSON.stringify(credential),
      }),
    );
  }
}
