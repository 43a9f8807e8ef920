// The exporter against DynamoDB Local and s3rver: incremental bundles, mboxrd round trip, verify catching
// damage, hostile paths, the export Lambda handler streaming into an S3 multipart upload, and the built Lambda
// bundle building its part in a bounded worker thread.
import { execFile, execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGzip } from 'node:zlib';
import { DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExportHandler } from '../../lambdas/export/handler';
import { S3RawMailStore } from '../../shared/adapters/s3-raw-store';
import { archiveReceivedMail, type IngestDeps } from '../../shared/archive/ingest';
import { decryptBundle, newIdentity } from '../../shared/bundle/age';
import { exportMailbox } from '../../shared/bundle/export';
import { runExportJob } from '../../shared/bundle/export-job';
import { EXPORT_HEAP_LIMITS, runInExportWorker } from '../../shared/bundle/export-worker';
import { joinBundles } from '../../shared/bundle/join';
import type { BundleManifest } from '../../shared/bundle/manifest';
import { verifyBundle } from '../../shared/bundle/verify';
import { deliveryRecordOf } from '../../shared/delivery-log/record';
import { importMessages } from '../../shared/history/import';
import { indexKeys } from '../../shared/index/schema';
import { deliveryLogSource, readLeafDelivery } from '../../shared/transparency/leaf';
import { formatVerifierKey, KeyFileSigner } from '../../shared/transparency/note';
import { seal } from '../../shared/transparency/seal';
import { checkBundleTransparency } from '../../shared/transparency/verify-bundle';
import { buildLambdaBundle, exportToFile, unpack } from '../support/bundles';
import { exampleConfig } from '../support/config';
import { makeMessage } from '../support/messages';
import { startTestServices, type TestServices } from '../support/services';
import { receiveLikeSes } from '../support/ses';

let services: TestServices;
let deps: IngestDeps;
let work: string;
let clock = Date.parse('2025-01-01T00:00:00Z');

beforeAll(async () => {
  services = await startTestServices();
  deps = { config: exampleConfig(), store: services.store, index: services.index };
  work = mkdtempSync(join(tmpdir(), 'mail-archiver-export-'));
});
afterAll(async () => {
  await services?.stop();
  rmSync(work, { recursive: true, force: true });
});

async function receive(
  message: Buffer,
  recipients = ['bob@example.com'],
  extra: { verdicts?: { spam: 'FAIL' } } = {},
) {
  clock += 60_000;
  const { notification } = await receiveLikeSes(services.store, services.bucket, message, {
    recipients,
    timestamp: new Date(clock),
    ...extra,
  });
  return archiveReceivedMail(notification, deps);
}

/** Every file under a directory with its bytes and mtime (seconds), for comparing trees. */
function tree(root: string): Map<string, { bytes: string; mtime: number }> {
  const out = new Map<string, { bytes: string; mtime: number }>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else {
        out.set(relative(root, path), {
          bytes: readFileSync(path).toString('base64'),
          mtime: Math.floor(statSync(path).mtimeMs / 1000),
        });
      }
    }
  };
  walk(root);
  return out;
}

const verify = (path: string) => verifyBundle(createReadStream(path));

describe('a sink that fails', () => {
  it('is the error export reports, not the tar writer\'s "already finalized"', async () => {
    for (let i = 0; i < 3; i++) await receive(makeMessage({ subject: `sink ${i}` }), ['alice@example.com']);
    const sink = createWriteStream(join(work, 'no', 'such', 'dir', 'bundle.tar.gz'));
    await expect(
      exportMailbox(
        { index: services.index, store: services.store },
        { mailbox: 'alice@example.com', format: 'maildir' },
        sink,
      ),
    ).rejects.toThrow(/ENOENT/);
  });
});

describe('folder names as long as a file name may be', () => {
  // The exporter spooled each folder's uidlists to a file named by the folder name in hex (two characters per
  // byte): a folder name of 128 bytes or more made a spool name over the file system's 255, and the export died
  // with an unhandled ENAMETOOLONG from the spool's stream (a stack trace, no bundle). Import names a folder
  // after an mbox file, so a long file name is enough.
  it('exports a folder whose name is 200 characters long, in both formats', async () => {
    const mailbox = 'longnames@example.com';
    const config = exampleConfig();
    config.mailboxes[mailbox] = { forwardTo: [], targets: [] };
    const longName = `${'Projekt '.repeat(25)}`.trim();
    const mbox = join(work, `${longName}.mbox`);
    writeFileSync(
      mbox,
      `From x@y Sat Jan  3 01:05:34 2015\n${makeMessage({ to: mailbox, subject: 'long' }).toString('latin1')}\n`,
    );
    const report = await importMessages(
      config,
      {
        store: services.store,
        bucket: services.bucket,
        index: services.index,
        deliver: async (notification) => {
          await archiveReceivedMail(notification, { config, store: services.store, index: services.index });
        },
      },
      [mbox],
    );
    expect(report.archived).toBe(1);
    for (const format of ['maildir', 'mboxrd'] as const) {
      const bundle = join(work, `long-${format}.tar.gz`);
      await exportMailbox(
        { index: services.index, store: services.store },
        { mailbox, format },
        createWriteStream(bundle),
      );
      const verified = await verify(bundle);
      expect(verified.errors).toEqual([]);
      expect(verified.manifest?.messages.map((m) => m.folder)).toEqual([longName]);
    }
  });
});

describe('incremental bundles', () => {
  it('full + incrementals unpacked in order give the same tree as a full export made now', async () => {
    for (let i = 0; i < 3; i++) await receive(makeMessage({ subject: `first ${i}` }));
    const job = (incremental: boolean, out: string) =>
      runExportJob(services, { mailbox: 'bob@example.com', format: 'maildir', incremental }, () => {
        const stream = createWriteStream(out);
        return { key: out, stream, done: finished(stream) };
      });
    const manifestOf = async (path: string) => (await verify(path)).manifest?.messages ?? [];
    const full = await job(false, join(work, 'inc-full.tar.gz'));
    expect(full.incremental).toBe(false);

    await receive(makeMessage({ subject: 'second 1' }));
    await receive(makeMessage({ subject: 'second junk' }), ['bob@example.com'], {
      verdicts: { spam: 'FAIL' },
    });
    const inc1 = await job(true, join(work, 'inc-1.tar.gz'));
    expect(inc1.incremental).toBe(true);
    expect((await manifestOf(join(work, 'inc-1.tar.gz'))).map((m) => m.folder).sort()).toEqual([
      'INBOX',
      'Junk',
    ]);

    await receive(makeMessage({ subject: 'third 1' }));
    const inc2 = await job(true, join(work, 'inc-2.tar.gz'));
    expect(inc2.messagesDone).toBe(1);
    expect(await manifestOf(join(work, 'inc-2.tar.gz'))).toHaveLength(1);
    for (const bundle of ['inc-full', 'inc-1', 'inc-2']) {
      const report = await verify(join(work, `${bundle}.tar.gz`));
      expect(report.errors, bundle).toEqual([]);
    }

    const restored = join(work, 'restored');
    for (const bundle of ['inc-full', 'inc-1', 'inc-2']) unpack(join(work, `${bundle}.tar.gz`), restored);
    await exportToFile(services, { mailbox: 'bob@example.com', format: 'maildir' }, join(work, 'now.tar.gz'));
    const now = unpack(join(work, 'now.tar.gz'), join(work, 'now'));
    const a = tree(join(restored, 'Maildir'));
    const b = tree(now);
    expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
    for (const [path, file] of b) {
      const other = a.get(path);
      expect(other?.bytes, path).toBe(file.bytes);
      if (path.includes('/cur/')) expect(other?.mtime, path).toBe(file.mtime);
    }
  });
});

describe('mboxrd bundles', () => {
  it('round-trip every message byte for byte, From_ lines included', async () => {
    await receive(
      makeMessage({ subject: 'mbox from lines', body: 'From the start\n>From quoted\n>>From twice\nend\n' }),
      ['alice@example.com'],
    );
    await receive(makeMessage({ subject: 'mbox plain' }), ['alice@example.com']);
    const bundle = join(work, 'alice.mboxrd.tar.gz');
    const result = await exportToFile(services, { mailbox: 'alice@example.com', format: 'mboxrd' }, bundle);
    expect(result.messages).toBeGreaterThanOrEqual(2);
    const report = await verify(bundle);
    expect(report.errors).toEqual([]);
    expect(report.ok).toBe(true);
    const dir = join(work, 'mbox-out');
    unpack(bundle, dir);
    const mbox = readFileSync(join(dir, 'INBOX.mbox'), 'latin1');
    expect(mbox).toContain('\r\n>From the start\r\n>>From quoted\r\n>>>From twice\r\n');
  });
});

describe('mboxrd through the export job (what `mail-archiver export --format mboxrd` runs)', () => {
  const job = (mailbox: string, out: string) =>
    runExportJob(services, { mailbox, format: 'mboxrd', incremental: false }, () => {
      const stream = createWriteStream(out);
      return { key: out, stream, done: finished(stream) };
    });
  const config = exampleConfig({
    mailboxes: { 'carol@example.com': { forwardTo: [] }, 'dave@example.com': { forwardTo: [] } },
  });
  const receiveFor = async (message: Buffer, mailbox: string) => {
    clock += 60_000;
    const { notification } = await receiveLikeSes(services.store, services.bucket, message, {
      recipients: [mailbox],
      timestamp: new Date(clock),
    });
    return archiveReceivedMail(notification, { ...deps, config });
  };

  // The tests above export rows the current ingest just wrote; a table that persists (the local stack's data
  // directory, the deployed table) also holds rows written before the stored location was named `location`.
  it('exports rows stored before the rename (their location under `raw`)', async () => {
    const mailbox = 'carol@example.com';
    await receiveFor(makeMessage({ subject: 'old row 1' }), mailbox);
    await receiveFor(makeMessage({ subject: 'old row 2', body: 'From here\n' }), mailbox);
    const doc = DynamoDBDocumentClient.from(services.clients.dynamodb);
    const { Items = [] } = await doc.send(
      new QueryCommand({
        TableName: services.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: {
          ':pk': indexKeys.mailboxPk(mailbox),
          ':prefix': indexKeys.MESSAGE_PREFIX,
        },
      }),
    );
    expect(Items).toHaveLength(2);
    for (const { location, ...item } of Items) {
      await doc.send(new PutCommand({ TableName: services.tableName, Item: { ...item, raw: location } }));
    }
    const out = join(work, 'carol.mboxrd.tar.gz');
    const record = await job(mailbox, out);
    expect(record.messagesDone).toBe(2);
    const report = await verify(out);
    expect(report.errors).toEqual([]);
    expect(report.messages).toBe(2);
  });

  it('round-trips bare-CR messages (lines ending in a lone CR) byte for byte, read whole or streamed', async () => {
    const mailbox = 'dave@example.com';
    const bareCr = (subject: string, body: string) =>
      Buffer.from(
        `From: Dave <dave@example.org>\rTo: ${mailbox}\rSubject: ${subject}\rMessage-ID: <${subject.replace(/\W/g, '')}@example.org>\r\r${body}`,
        'latin1',
      );
    const messages = [
      bareCr('cr plain', 'one\rtwo\r'),
      // Body lines that look like separators, after a bare CR, and the last line ending in a CR.
      bareCr(
        'cr from lines',
        'From me Mon Jan  1 00:00:00 2024\r>From you\r\rFrom x Tue Feb  2 10:00:00 2021\r',
      ),
      // Bigger than the prefetch limit (1 MB): streamed through MboxrdEscape, a CR now and then at a chunk end.
      bareCr(
        'cr streamed',
        `${'From line after a CR\r'.repeat(70_000)}From the end Mon Jan  1 00:00:00 2024\r`,
      ),
    ];
    for (const message of messages) await receiveFor(message, mailbox);
    const out = join(work, 'dave.mboxrd.tar.gz');
    const record = await job(mailbox, out);
    expect(record.messagesDone).toBe(messages.length);
    const report = await verify(out);
    expect(report.errors).toEqual([]);
    expect(report.messages).toBe(messages.length);
    // verify read every message back and compared its sha256 with the archive's; the escapes are the writer's.
    const dir = join(work, 'dave-out');
    unpack(out, dir);
    const mbox = readFileSync(join(dir, 'INBOX.mbox'), 'latin1');
    expect(mbox).toContain('\r\r>From me Mon Jan  1 00:00:00 2024\r>>From you\r\r>From x Tue');
    expect(mbox.endsWith('\r>From the end Mon Jan  1 00:00:00 2024\r\r')).toBe(true);
  });
});

describe('verify', () => {
  /** Repacks an unpacked bundle after `damage` changed it. */
  function damaged(name: string, damage: (dir: string, manifest: BundleManifest) => void): string {
    const dir = join(work, `damaged-${name}`);
    unpack(join(work, 'inc-full.tar.gz'), dir);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as BundleManifest;
    damage(dir, manifest);
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
    const out = join(work, `damaged-${name}.tar.gz`);
    execFileSync('tar', ['-czf', out, '-C', dir, '.']);
    return out;
  }

  it('catches one flipped byte', async () => {
    const bundle = damaged('flip', (dir, manifest) => {
      const path = join(dir, manifest.messages[0]?.file ?? '');
      const bytes = readFileSync(path);
      bytes[bytes.length - 3] = (bytes[bytes.length - 3] as number) ^ 0x20;
      const { mtime } = statSync(path);
      writeFileSync(path, bytes);
      utimesSync(path, mtime, mtime);
    });
    const report = await verify(bundle);
    expect(report.ok).toBe(false);
    expect(report.errors.join('\n')).toMatch(/sha256 does not match the manifest/);
  });

  it('catches a wrong S= even when the manifest and uidlist agree with the name', async () => {
    const bundle = damaged('size', (dir, manifest) => {
      const message = manifest.messages[0];
      if (!message) throw new Error('no message');
      const wrong = message.file.replace(/,S=(\d+)/, (_, n) => `,S=${Number(n) + 1}`);
      renameSync(join(dir, message.file), join(dir, wrong));
      const uidlist = join(dir, 'Maildir', 'dovecot-uidlist');
      const oldBase = (message.file.split('/').pop() ?? '').replace(/:2,.*$/, '');
      const newBase = (wrong.split('/').pop() ?? '').replace(/:2,.*$/, '');
      writeFileSync(uidlist, readFileSync(uidlist, 'utf8').replace(oldBase, newBase));
      message.file = wrong;
    });
    const report = await verify(bundle);
    expect(report.errors.join('\n')).toMatch(/S=\d+ but the file has \d+ bytes/);
  });

  it('refuses entries that would land outside the bundle', async () => {
    const pack = tar.pack();
    pack.entry({ name: '../../etc/evil' }, 'x');
    pack.entry(
      { name: 'manifest.json' },
      JSON.stringify({ bundleFormat: 'maildir', folders: [], messages: [] }),
    );
    pack.finalize();
    const report = await verifyBundle(Readable.from(pack as unknown as Readable).pipe(createGzip()));
    expect(report.errors.join('\n')).toMatch(
      /unsafe entry "\.\.\/\.\.\/etc\/evil": a name that climbs out of the bundle/,
    );
  });
});

describe('the export Lambda handler', () => {
  it('streams the bundle into an S3 multipart upload and records the result for the CLI', async () => {
    // Incompressible, so the bundle spans several 5 MB parts.
    const random = randomBytes(12 * 1024 * 1024)
      .toString('base64')
      .replace(/.{76}/g, '$&\n');
    await receive(
      makeMessage({
        subject: 'twelve random megabytes',
        extraHeaders: ['Content-Type: application/octet-stream', 'Content-Transfer-Encoding: base64'],
        body: random,
      }),
      ['alice@example.com'],
    );
    const store = new S3RawMailStore(services.clients.s3, 5 * 1024 * 1024);
    const handler = createExportHandler({
      index: services.index,
      store,
      bucket: services.bucket,
      logger: { info: () => undefined },
      dispatch: async () => {
        throw new Error('a small mailbox is exported in one part');
      },
    });
    const exportId = '20260101T000000000Z-abcdef';
    const response = await handler({ mailbox: 'alice@example.com', exportId });
    expect(response.state).toBe('done');
    const record = await services.index.getExport('alice@example.com', exportId);
    expect(record?.state).toBe('done');
    const part = record?.parts[0];
    expect(part?.key).toBe(`exports/alice%40example.com/${exportId}.tar.gz`);
    expect(part?.bytes).toBeGreaterThan(10 * 1024 * 1024);
    const downloaded = join(work, 'from-s3.tar.gz');
    const out = createWriteStream(downloaded);
    await pipeline(
      Readable.from(await services.store.read({ bucket: services.bucket, key: part?.key ?? '' })),
      out,
    );
    const hash = createHash('sha256').update(readFileSync(downloaded)).digest('hex');
    expect(hash).toBe(part?.sha256);
    const report = await verify(downloaded);
    expect(report.errors).toEqual([]);
    await expect(handler({ mailbox: 'alice@example.com', exportId: '../evil' })).rejects.toThrow();
  });
});

describe('split exports', () => {
  it('builds large mailboxes in parallel parts whose join equals a one-part export', async () => {
    for (let i = 0; i < 7; i++) await receive(makeMessage({ subject: `split ${i}` }), ['alice@example.com']);
    const pending: Promise<unknown>[] = [];
    const handler = createExportHandler({
      index: services.index,
      store: services.store,
      bucket: services.bucket,
      logger: { info: () => undefined },
      // Stands in for asynchronous self-invocation.
      dispatch: async (event) => {
        pending.push(handler(event));
      },
      maxRawBytesPerPart: 5 * 1024 * 1024,
    });
    const exportId = '20260102T000000000Z-0a0b0c';
    await handler({ mailbox: 'alice@example.com', exportId });
    await Promise.all(pending);
    const record = await services.index.getExport('alice@example.com', exportId);
    expect(record?.state).toBe('done');
    expect(record?.partCount).toBeGreaterThanOrEqual(3);
    expect(record?.parts.map((p) => p.key)).toEqual(
      Array.from(
        { length: record?.partCount ?? 0 },
        (_, i) => `exports/alice%40example.com/${exportId}.part-${i + 1}-of-${record?.partCount}.tar.gz`,
      ),
    );
    expect(record?.parts.reduce((n, p) => n + p.messages, 0)).toBe(record?.messagesTotal);

    const joined = join(work, 'joined.tar.gz');
    await joinBundles(
      (record?.parts ?? []).map(
        (part) => async () =>
          Readable.from(await services.store.read({ bucket: services.bucket, key: part.key })),
      ),
      createWriteStream(joined),
    );
    const report = await verify(joined);
    expect(report.errors).toEqual([]);
    expect(report.messages).toBe(record?.messagesTotal);

    await exportToFile(
      services,
      { mailbox: 'alice@example.com', format: 'maildir', upTo: record?.lastUids },
      join(work, 'one.tar.gz'),
    );
    const a = tree(unpack(joined, join(work, 'joined')));
    const b = tree(unpack(join(work, 'one.tar.gz'), join(work, 'one')));
    expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
    for (const [path, file] of b) expect(a.get(path)?.bytes, path).toBe(file.bytes);
  });
});

describe('split exports with transparency proofs', () => {
  it('every part proves against the checkpoint sealed by the export start, and so does the joined bundle', async () => {
    for (let i = 0; i < 5; i++) await receive(makeMessage({ subject: `proven ${i}` }), ['alice@example.com']);
    // The delivery log as the ingest Lambda would have written it, sealed with a key of this test.
    const rows = [];
    for await (const row of services.index.allDeliveries()) rows.push(deliveryRecordOf(row));
    await services.deliveryLog.append('reindex', rows);
    const signer = new KeyFileSigner(
      'example.com/mail-archiver/Test/local',
      generateKeyPairSync('ed25519').privateKey,
    );
    const sealed = await seal({
      store: services.transparency,
      signer,
      source: deliveryLogSource(services.deliveryLog),
      now: () => new Date(Date.now() - 1000),
    });
    expect(sealed.size).toBe(rows.length);

    const paths: string[] = [];
    const record = await runExportJob(
      { index: services.index, store: services.store, proofs: services.proofs },
      { mailbox: 'alice@example.com', format: 'maildir', incremental: false, parts: 3 },
      (exportId, part) => {
        const path = join(work, `${exportId}.proven-${part}.tar.gz`);
        paths.push(path);
        const stream = createWriteStream(path);
        return { key: path, stream, done: finished(stream) };
      },
    );
    expect(record.partCount).toBe(3);
    const joined = join(work, 'proven.tar.gz');
    await joinBundles(
      paths.sort().map((path) => async () => createReadStream(path)),
      createWriteStream(joined),
    );
    const report = await verify(joined);
    expect(report.errors).toEqual([]);
    const trust = {
      checkpoint: Buffer.from(sealed.checkpoint),
      key: Buffer.from(`${formatVerifierKey(signer.verifier)}\n`),
    };
    const proof = await checkBundleTransparency(report, trust, readLeafDelivery);
    expect(proof.errors).toEqual([]);
    expect(proof.proven).toBe(record.messagesTotal);
    // As the CLI's verify --checkpoint reads it: proofs.jsonl spooled to a private file, checked a line at a time.
    const spool = mkdtempSync(join(work, 'verify-proofs-'));
    const spooled = await verifyBundle(createReadStream(joined), undefined, { keepProofs: spool });
    expect(spooled.proofsFile).toBe(join(spool, 'proofs.jsonl'));
    expect(spooled.transparency.has('transparency/proofs.jsonl')).toBe(false);
    expect(await checkBundleTransparency(spooled, trust, readLeafDelivery)).toMatchObject({
      errors: [],
      proven: record.messagesTotal,
    });
  });
});

describe('the export Lambda bundle', () => {
  it('builds each part in a worker thread with a bounded heap, from the bundle NodejsFunction deploys', async () => {
    const outfile = join(work, 'lambda', 'index.js');
    await buildLambdaBundle('export', outfile);
    const exportId = '20260103T000000000Z-0d0e0f';
    // The bundle as Lambda loads it, configured as Lambda configures it, its SDK pointed at the local services by
    // the SDK's own environment variables.
    const driver = `require(${JSON.stringify(outfile)}).handler(${JSON.stringify({ mailbox: 'bob@example.com', exportId })}).then((r) => console.log(JSON.stringify(r)))`;
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', driver], {
      env: {
        ...process.env,
        INDEX_TABLE: services.tableName,
        RAW_BUCKET: services.bucket,
        AWS_LAMBDA_FUNCTION_NAME: 'mail-archiver-export',
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
        AWS_ENDPOINT_URL_S3: services.endpoints.s3,
        AWS_ENDPOINT_URL_DYNAMODB: services.endpoints.dynamodb,
        AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
        AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
    });
    expect(JSON.parse(stdout.trim().split('\n').pop() ?? '{}')).toMatchObject({ exportId, state: 'done' });
    const record = await services.index.getExport('bob@example.com', exportId);
    const part = record?.parts[0];
    const downloaded = join(work, 'from-the-bundle.tar.gz');
    await pipeline(
      Readable.from(await services.store.read({ bucket: services.bucket, key: part?.key ?? '' })),
      createWriteStream(downloaded),
    );
    const report = await verify(downloaded);
    expect(report.errors).toEqual([]);
    expect(report.messages).toBe(record?.messagesTotal);
    expect(report.messages).toBeGreaterThan(0);
  });

  it('encrypts to the recipients it is given, public keys only, before the upload (the deployed bundle, Node 22 target)', async () => {
    const outfile = join(work, 'lambda', 'index.js'); // built by the case above
    const [a, b] = [await newIdentity(), await newIdentity()];
    const exportId = '20260103T000000000Z-0a0e0f';
    const event = { mailbox: 'bob@example.com', exportId, recipients: [a.recipient, b.recipient] };
    const driver = `require(${JSON.stringify(outfile)}).handler(${JSON.stringify(event)}).then((r) => console.log(JSON.stringify(r)))`;
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', driver], {
      env: {
        ...process.env,
        INDEX_TABLE: services.tableName,
        RAW_BUCKET: services.bucket,
        AWS_LAMBDA_FUNCTION_NAME: 'mail-archiver-export',
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
        AWS_ENDPOINT_URL_S3: services.endpoints.s3,
        AWS_ENDPOINT_URL_DYNAMODB: services.endpoints.dynamodb,
        AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
        AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
    });
    expect(JSON.parse(stdout.trim().split('\n').pop() ?? '{}')).toMatchObject({ exportId, state: 'done' });
    const record = await services.index.getExport('bob@example.com', exportId);
    expect(record?.recipients).toEqual([a.recipient, b.recipient]);
    const part = record?.parts[0];
    expect(part?.key).toBe(`exports/bob%40example.com/${exportId}.tar.gz.age`);
    const downloaded = join(work, 'from-the-bundle.tar.gz.age');
    await pipeline(
      Readable.from(await services.store.read({ bucket: services.bucket, key: part?.key ?? '' })),
      createWriteStream(downloaded),
    );
    const bytes = readFileSync(downloaded);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(part?.sha256);
    expect(bytes.subarray(0, 22).toString()).toBe('age-encryption.org/v1\n');
    const opened = await decryptBundle(createReadStream(downloaded), {
      identities: [{ key: b.identity, source: 'b' }],
    });
    const report = await verifyBundle(opened);
    expect(report.errors).toEqual([]);
    expect(report.messages).toBe(record?.messagesTotal);
  });

  it('encrypts every part of a split export, each a bundle of its own', async () => {
    const a = await newIdentity();
    const pending: Promise<unknown>[] = [];
    const handler = createExportHandler({
      index: services.index,
      store: services.store,
      bucket: services.bucket,
      logger: { info: () => undefined },
      dispatch: async (event) => {
        pending.push(handler(event));
      },
      maxRawBytesPerPart: 5 * 1024 * 1024,
    });
    const exportId = '20260102T000000000Z-0a0b0d';
    await handler({ mailbox: 'alice@example.com', exportId, recipients: [a.recipient] });
    await Promise.all(pending);
    const record = await services.index.getExport('alice@example.com', exportId);
    expect(record?.partCount).toBeGreaterThanOrEqual(2);
    let messages = 0;
    for (const part of record?.parts ?? []) {
      expect(part.key).toMatch(/\.part-\d+-of-\d+\.tar\.gz\.age$/);
      const source = Readable.from(await services.store.read({ bucket: services.bucket, key: part.key }));
      const report = await verifyBundle(
        await decryptBundle(source, { identities: [{ key: a.identity, source: 'a' }] }),
      );
      expect(report.errors, part.key).toEqual([]);
      messages += report.messages;
    }
    expect(messages).toBe(record?.messagesTotal);
  });

  it('records the failure of a part whose worker died before it could record it', async () => {
    const handler = createExportHandler({
      index: services.index,
      store: services.store,
      bucket: services.bucket,
      logger: { info: () => undefined },
      dispatch: async () => undefined,
      buildPart: () => Promise.reject(new Error('the export worker exited (code 1) without a result')),
    });
    const exportId = '20260104T000000000Z-0e0f10';
    await expect(handler({ mailbox: 'bob@example.com', exportId })).rejects.toThrow('without a result');
    const record = await services.index.getExport('bob@example.com', exportId);
    expect(record?.state).toBe('failed');
    expect(record?.error).toBe('part 1/1: the export worker exited (code 1) without a result');
  });

  it('fails an export whose worker runs out of its heap with a message that says so', async () => {
    const leak = 'const kept = []; for (;;) kept.push(new Array(1e5).fill(Math.random()));';
    await expect(runInExportWorker(leak, undefined, { eval: true })).rejects.toThrow(
      `the export ran out of its ${EXPORT_HEAP_LIMITS.maxOldGenerationSizeMb} MB heap`,
    );
  }, 60_000);
});
