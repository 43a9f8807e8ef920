// A real RFC 3161 timestamp authority for tests: OpenSSL's `openssl ts -reply` behind a loopback HTTP server,
// with a CA and a TSA certificate (extendedKeyUsage critical timeStamping) made by `openssl req`/`x509` in a
// temporary directory. Also `openssl ts -verify`, an independent check of what the archiver stores.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface OpensslTsa {
  url: string;
  /** The CA certificate (PEM) that issued the TSA's certificate: what `verify --tsa-ca` is given. */
  caPem: string;
  caPath: string;
  dir: string;
  /** `openssl ts -verify -data` of a stored reply; true when OpenSSL accepts it. */
  opensslVerifies(reply: Buffer, data: Buffer): Promise<boolean>;
  stop(): Promise<void>;
}

/** Whether the openssl binary is there (Debian package `openssl`). */
export async function hasOpenssl(): Promise<boolean> {
  return run('openssl', ['version']).then(
    () => true,
    () => false,
  );
}

export async function startOpensslTsa(): Promise<OpensslTsa> {
  const dir = await mkdtemp(join(tmpdir(), 'openssl-tsa-'));
  const at = (name: string) => join(dir, name);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '3650',
    '-keyout',
    at('ca.key'),
    '-out',
    at('ca.pem'),
    '-subj',
    '/CN=mail-archiver test TSA CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await run('openssl', [
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    at('tsa.key'),
    '-out',
    at('tsa.csr'),
    '-subj',
    '/CN=mail-archiver test TSA',
  ]);
  await writeFile(
    at('tsa.ext'),
    'extendedKeyUsage=critical,timeStamping\nkeyUsage=critical,digitalSignature\n',
  );
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    at('tsa.csr'),
    '-CA',
    at('ca.pem'),
    '-CAkey',
    at('ca.key'),
    '-CAcreateserial',
    '-days',
    '3650',
    '-extfile',
    at('tsa.ext'),
    '-out',
    at('tsa.pem'),
  ]);
  await writeFile(at('serial'), '01\n');
  await writeFile(
    at('tsa.cnf'),
    [
      '[ tsa ]',
      'default_tsa = tsa_config',
      '[ tsa_config ]',
      `serial = ${at('serial')}`,
      'crypto_device = builtin',
      'signer_digest = sha256',
      'default_policy = 1.3.6.1.4.1.99999.1',
      'digests = sha256',
      'accuracy = secs:1',
      'ordering = yes',
      'tsa_name = yes',
      'ess_cert_id_chain = no',
      'ess_cert_id_alg = sha256',
      '',
    ].join('\n'),
  );
  let count = 0;
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', async () => {
      const n = ++count;
      try {
        await writeFile(at(`q${n}.tsq`), Buffer.concat(chunks));
        await run('openssl', [
          'ts',
          '-reply',
          '-config',
          at('tsa.cnf'),
          '-queryfile',
          at(`q${n}.tsq`),
          '-inkey',
          at('tsa.key'),
          '-signer',
          at('tsa.pem'),
          '-out',
          at(`r${n}.tsr`),
        ]);
        response.writeHead(200, { 'content-type': 'application/timestamp-reply' });
        response.end(await readFile(at(`r${n}.tsr`)));
      } catch (error) {
        response.writeHead(500);
        response.end(String(error));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/tsa`,
    caPem: await readFile(at('ca.pem'), 'utf8'),
    caPath: at('ca.pem'),
    dir,
    async opensslVerifies(reply, data) {
      const n = ++count;
      await writeFile(at(`v${n}.tsr`), reply);
      await writeFile(at(`v${n}.data`), data);
      return run('openssl', [
        'ts',
        '-verify',
        '-data',
        at(`v${n}.data`),
        '-in',
        at(`v${n}.tsr`),
        '-CAfile',
        at('ca.pem'),
        '-untrusted',
        at('tsa.pem'),
      ]).then(
        () => true,
        () => false,
      );
    },
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
