// An archive's S3 that does not answer, named in the user's terms: the errors are the SDK's own, from a real
// S3Client sent to a port nothing listens on and to a name that cannot resolve (RFC 2606's .invalid).
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../../../cli/process/output';
import { s3NotAnswering } from '../../../../cli/target/s3-place';
import { createS3Client } from '../../../../shared/adapters/clients';
import { startSilentServer } from '../../../support/silent-server';

async function failureOf(client: S3Client): Promise<unknown> {
  try {
    await client.send(new ListObjectsV2Command({ Bucket: 'mail-archiver-raw', Prefix: 'delivery-log/' }));
  } catch (error) {
    return error;
  } finally {
    client.destroy();
  }
  throw new Error('the request succeeded');
}

const credentials = { accessKeyId: 'x', secretAccessKey: 'y' };
const KEEPS = 'the replica keeps what it has';

describe('s3NotAnswering', () => {
  it("names the running stack's S3 server and npm start for a refused connection", async () => {
    const error = await failureOf(
      new S3Client({
        region: 'us-east-1',
        endpoint: 'http://127.0.0.1:9',
        forcePathStyle: true,
        credentials,
        maxAttempts: 1,
      }),
    );
    const said = s3NotAnswering(error, { kind: 'local-stack', endpoint: 'http://127.0.0.1:9' }, KEEPS);
    expect(said).toBeInstanceOf(UserError);
    expect(said?.message).toBe(
      "the local stack's S3 server at http://127.0.0.1:9 is not answering (connection refused by 127.0.0.1:9): is `npm start` still running?",
    );
    expect(said?.hint).toMatch(/stop npm start and start it again .*; the replica keeps what it has$/);
    expect(said?.cause).toBe(error);
  });

  it('names the bucket and region on AWS for a name that does not resolve', async () => {
    const error = await failureOf(
      new S3Client({
        region: 'eu-west-1',
        endpoint: 'https://s3.mail-archiver.invalid',
        credentials,
        maxAttempts: 1,
      }),
    );
    const said = s3NotAnswering(error, { kind: 'aws', bucket: 'archive-raw-1', region: 'eu-west-1' }, KEEPS);
    expect(said?.message).toMatch(
      /^S3 \(the bucket archive-raw-1 in eu-west-1\) is not answering \(the name \S*mail-archiver\.invalid does not resolve\) from this machine$/,
    );
    expect(said?.hint).toMatch(/check this machine's network/);
  }, 30_000);

  it('says an S3 that accepts connections and never answers is not answering (timed out), instead of waiting forever', async () => {
    const silent = await startSilentServer();
    const { endpoint } = silent;
    process.env.MAIL_ARCHIVER_S3_IDLE_TIMEOUT_MS = '500';
    try {
      const error = await failureOf(createS3Client({ s3: endpoint }));
      const said = s3NotAnswering(error, { kind: 'local-stack', endpoint }, KEEPS);
      expect(said?.message).toBe(
        `the local stack's S3 server at ${endpoint} is not answering (timed out): is \`npm start\` still running?`,
      );
    } finally {
      delete process.env.MAIL_ARCHIVER_S3_IDLE_TIMEOUT_MS;
      await silent.close();
    }
  }, 30_000);

  it('leaves every other error alone: an S3 answer, a file system error on a network mount', () => {
    const place = { kind: 'local-stack', endpoint: 'http://127.0.0.1:9' } as const;
    expect(
      s3NotAnswering(Object.assign(new Error('Access Denied'), { name: 'AccessDenied' }), place, KEEPS),
    ).toBe(undefined);
    const nfs = Object.assign(new Error('ETIMEDOUT: connection timed out, open'), {
      code: 'ETIMEDOUT',
      syscall: 'open',
      path: '/mnt/nas/replica/x',
    });
    expect(s3NotAnswering(nfs, place, KEEPS)).toBe(undefined);
  });
});
