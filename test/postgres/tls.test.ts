/**
 * TLS to Postgres from libpq's environment variables: PGSSLMODE with PGSSLROOTCERT, PGSSLCERT and
 * PGSSLKEY. The files are read and checked at start with errors naming the variable; and pg, given
 * the resulting config, really presents the client certificate, checks the server's against the
 * root certificate, and (verify-ca) skips the host name check only when asked. The server here
 * speaks just enough of the protocol for that: it answers SSLRequest with "S" and runs the TLS
 * handshake with the test CA's certificate for localhost / 127.0.0.1.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { createPostgresPool, resolvePostgresConfig, verifyPostgresConnection } from '../../adapters/postgres/connection.js';
import { PostgresConfigError } from '../../adapters/postgres/errors.js';
import { fixture, pem } from '../support/tlsFixtures.js';


const BASE = { PGUSER: 'replicator', PGDATABASE: 'cohort' };

function configError(build: () => unknown, message: RegExp): void {
  assert.throws(build, (error: unknown) => {
    assert.ok(error instanceof PostgresConfigError, `expected a PostgresConfigError, got ${String(error)}`);
    assert.match(error.message, message);
    return true;
  });
}

test('PGSSLROOTCERT, PGSSLCERT and PGSSLKEY are read into the TLS options; verify-ca (and require with a root certificate) skip only the host name check', () => {
  const full = resolvePostgresConfig({ env: { ...BASE, PGHOST: 'db', PGSSLMODE: 'verify-full', PGSSLROOTCERT: fixture('ca.pem'), PGSSLCERT: fixture('client.pem'), PGSSLKEY: fixture('client.key') } });
  assert.deepEqual(full.ssl, { rejectUnauthorized: true, ca: pem('ca.pem'), cert: pem('client.pem'), key: pem('client.key') });

  for (const mode of ['verify-ca', 'require']) {
    const chainOnly = resolvePostgresConfig({ env: { ...BASE, PGHOST: 'db', PGSSLMODE: mode, PGSSLROOTCERT: fixture('ca.pem') } }).ssl as { rejectUnauthorized: boolean; checkServerIdentity?: () => undefined; ca: string };
    assert.equal(chainOnly.rejectUnauthorized, true, mode);
    assert.equal(chainOnly.ca, pem('ca.pem'), mode);
    assert.equal(typeof chainOnly.checkServerIdentity, 'function', `${mode}: the host name is not checked`);
  }
  // Without a root certificate, require encrypts without checking anything (libpq's meaning).
  assert.deepEqual(resolvePostgresConfig({ env: { ...BASE, PGHOST: 'db', PGSSLMODE: 'require' } }).ssl, { rejectUnauthorized: false });
});

test('TLS files in the environment that cannot be used stop at start, naming the variable and the file', () => {
  const env = { ...BASE, PGHOST: 'db' };
  configError(() => resolvePostgresConfig({ env: { ...env, PGSSLROOTCERT: fixture('ca.pem') } }), /^PGSSLROOTCERT is set, but PGSSLMODE is not set, so the connection would not use TLS: set PGSSLMODE to verify-full/);
  configError(() => resolvePostgresConfig({ env: { ...env, PGSSLMODE: 'prefer', PGSSLCERT: fixture('client.pem'), PGSSLKEY: fixture('client.key') } }), /^PGSSLCERT, PGSSLKEY are set, but PGSSLMODE is prefer/);
  configError(() => resolvePostgresConfig({ env: { ...env, PGSSLMODE: 'verify-full', PGSSLROOTCERT: '/nonexistent/root.crt' } }), /^PGSSLROOTCERT: cannot read "\/nonexistent\/root.crt": ENOENT$/);
  configError(() => resolvePostgresConfig({ env: { ...env, PGSSLMODE: 'verify-full', PGSSLROOTCERT: fixture('client.key') } }), /^PGSSLROOTCERT: .*client.key: holds no PEM certificate/);
  configError(() => resolvePostgresConfig({ env: { ...env, PGSSLMODE: 'require', PGSSLCERT: fixture('client.pem') } }), /^PGSSLCERT is set \(.*client.pem\) but PGSSLKEY is not/);
  configError(() => resolvePostgresConfig({ env: { ...env, PGSSLMODE: 'require', PGSSLCERT: fixture('client.pem'), PGSSLKEY: fixture('broker.key') } }), /^PGSSLKEY: .*broker.key: not the private key of .*client.pem/);
  configError(
    () => resolvePostgresConfig({ env: { ...env, PGSSLMODE: 'require', PGSSLCERT: fixture('client.pem'), PGSSLKEY: fixture('client.encrypted.key') } }),
    /^PGSSLKEY: .*client.encrypted.key: .*encrypted \(pg reads no key password from the environment/,
  );
});

/** Answers SSLRequest with "S" and runs the TLS handshake as a server that asks for a client certificate; records who connected. */
async function tlsPostgres(host: string) {
  const clients: string[] = [];
  const server = createServer((socket: Socket) => {
    socket.once('data', () => {
      // pg's first 8 bytes are the SSLRequest; "S" says TLS may start.
      socket.write('S');
      const tls = new TLSSocket(socket, { isServer: true, key: pem('broker.key'), cert: pem('broker.pem'), ca: pem('ca.pem'), requestCert: true, rejectUnauthorized: true });
      tls.on('secure', () => {
        clients.push(String(tls.getPeerCertificate().subject?.CN ?? '(no certificate)'));
        tls.destroy();
      });
      tls.on('error', () => tls.destroy());
    });
    socket.on('error', () => undefined);
  });
  server.listen(0, host);
  await once(server, 'listening');
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: String((server.address() as AddressInfo).port), clients };
}

/** Connects once with the environment's settings; the server is not Postgres, so this always ends in an error. */
async function connectOnce(env: Record<string, string>): Promise<string> {
  const pool = createPostgresPool({ env, max: 1, connectionTimeoutMillis: 3_000 });
  try {
    await verifyPostgresConnection(pool);
    return 'connected';
  } catch (error) {
    return (error as Error).message;
  } finally {
    await pool.end().catch(() => undefined);
  }
}

test('pg presents PGSSLCERT and checks the server against PGSSLROOTCERT', async () => {
  const server = await tlsPostgres('127.0.0.1');
  const env = { ...BASE, PGHOST: 'localhost', PGPORT: server.port, PGSSLCERT: fixture('client.pem'), PGSSLKEY: fixture('client.key'), PGSSLROOTCERT: fixture('ca.pem') };
  await connectOnce({ ...env, PGSSLMODE: 'verify-full' });
  assert.deepEqual(server.clients, ['replicator-client']);

  // Without the root certificate the server's certificate is not trusted: no TLS session.
  const { PGSSLROOTCERT: _root, ...untrusting } = env;
  const refused = await connectOnce({ ...untrusting, PGSSLMODE: 'verify-full' });
  assert.deepEqual(server.clients, ['replicator-client'], 'no second session');
  assert.match(refused, /certificate/i);
});

test('verify-ca accepts a server reached under a name its certificate does not carry; verify-full does not', async () => {
  // 127.0.0.2 is this host too, but the certificate names only localhost and 127.0.0.1.
  const server = await tlsPostgres('127.0.0.2');
  const env = { ...BASE, PGHOST: '127.0.0.2', PGPORT: server.port, PGSSLCERT: fixture('client.pem'), PGSSLKEY: fixture('client.key'), PGSSLROOTCERT: fixture('ca.pem') };
  const mismatch = await connectOnce({ ...env, PGSSLMODE: 'verify-full' });
  assert.deepEqual(server.clients, []);
  assert.match(mismatch, /altnames|does not match/i);
  await connectOnce({ ...env, PGSSLMODE: 'verify-ca' });
  assert.deepEqual(server.clients, ['replicator-client']);
});
