/**
 * TLS towards the brokers: settings from flags, environment and code are resolved with the files
 * read and checked at once, errors name the setting and the file, nothing secret is logged, and
 * the kafkajs client built from them really presents the client certificate and checks the
 * broker's against the given CA (a TLS server with the test CA's broker certificate, in process).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createServer, type TLSSocket } from 'node:tls';
import { createKafkaClient } from '../../adapters/kafka/kafkaClient.js';
import { describeKafkaConfig, kafkaConfigFromEnvironment, mergeKafkaInputs, resolveKafkaConfig, KafkaConfigError, type KafkaConfigInput } from '../../adapters/kafka/kafkaConfig.js';
import { kafkaTlsFiles, kafkaTlsOptions } from '../../adapters/kafka/kafkaTls.js';
import { silentLogger } from '../../adapters/logging.js';
import { fixture, KEY_PASSWORD, pem } from '../support/tlsFixtures.js';


const BASE: KafkaConfigInput = { brokers: ['127.0.0.1:9093'], topic: 'certification', groupId: 'cohort' };

const temp = await mkdtemp(path.join(os.tmpdir(), 'talos-kafka-tls-'));
after(() => rm(temp, { recursive: true, force: true }));

function kafkaError(key: string, message: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof KafkaConfigError, `expected a KafkaConfigError, got ${String(error)}`);
    assert.equal(error.key, key);
    assert.match(error.message, message);
    return true;
  };
}

test('TLS is off unless asked for; --ssl alone trusts Node’s bundled CAs and checks the broker', () => {
  assert.equal(resolveKafkaConfig(BASE).ssl, null);
  const on = resolveKafkaConfig({ ...BASE, ssl: true }).ssl;
  assert.deepEqual(on, { ca: null, client: null, verifyServer: true, origins: { ca: null, cert: null, key: null } });
  assert.deepEqual(kafkaTlsOptions(on!), { rejectUnauthorized: true });
});

test('files are read at resolution: the PEM goes to the TLS socket, the log shows file names only, never a password', () => {
  const config = resolveKafkaConfig({
    ...BASE,
    tls: { ca: { file: fixture('ca.pem') }, cert: { file: fixture('client.pem') }, key: { file: fixture('client.encrypted.key') }, keyPassword: KEY_PASSWORD },
  });
  assert.ok(config.ssl, 'any TLS part turns TLS on');
  assert.deepEqual(kafkaTlsOptions(config.ssl), { rejectUnauthorized: true, ca: pem('ca.pem'), cert: pem('client.pem'), key: pem('client.encrypted.key'), passphrase: KEY_PASSWORD });
  const logged = JSON.stringify(describeKafkaConfig(config));
  assert.ok(logged.includes(fixture('client.pem')), logged);
  assert.ok(!logged.includes(KEY_PASSWORD), 'the key password is never logged');
  assert.ok(!logged.includes('BEGIN'), 'PEM text is never logged');
  // Resolving a resolved config keeps it (createKafkaReplicator resolves what the CLI resolved).
  assert.deepEqual(resolveKafkaConfig(config), config);
});

test('inline PEM works like a file and is logged as "inline PEM"', () => {
  const config = resolveKafkaConfig({ ...BASE, tls: { ca: { pem: pem('ca.pem') } } });
  assert.equal(config.ssl?.ca, pem('ca.pem'));
  assert.equal((describeKafkaConfig(config).ssl as Record<string, unknown>).ca, 'inline PEM');
});

test('bad TLS settings fail at resolution with the setting, the flag and the file named', async () => {
  const notPem = path.join(temp, 'not-pem.txt');
  await writeFile(notPem, 'this is not a certificate\n');
  const cases: ReadonlyArray<readonly [string, KafkaConfigInput, string, RegExp]> = [
    ['a CA file that does not exist', { tls: { ca: { file: path.join(temp, 'missing.pem') } } }, 'tls.ca', /"tls.ca" \(--ssl-ca, KAFKA_SSL_CA_FILE\): cannot read ".*missing.pem": ENOENT/],
    ['a CA file without a certificate', { tls: { ca: { file: notPem } } }, 'tls.ca', /not-pem.txt: holds no PEM certificate/],
    ['a client certificate without its key', { tls: { cert: { file: fixture('client.pem') } } }, 'tls.key', /\(--ssl-key, KAFKA_SSL_KEY_FILE\): is required with a client certificate \(tls.cert .*client.pem\)/],
    ['a key without a certificate', { tls: { key: { file: fixture('client.key') } } }, 'tls.cert', /is required with a private key/],
    ['a key that belongs to another certificate', { tls: { cert: { file: fixture('client.pem') }, key: { file: fixture('broker.key') } } }, 'tls.key', /broker.key: not the private key of .*client.pem/],
    ['an encrypted key without its password', { tls: { cert: { file: fixture('client.pem') }, key: { file: fixture('client.encrypted.key') } } }, 'tls.key', /encrypted \(set tls.keyPassword\)/],
    ['a wrong key password', { tls: { cert: { file: fixture('client.pem') }, key: { file: fixture('client.encrypted.key') }, keyPassword: 'wrong' } }, 'tls.key', /the password is wrong/],
    ['a key password without a key', { tls: { keyPassword: KEY_PASSWORD } }, 'tls.keyPassword', /without a private key/],
    ['TLS off with TLS files', { ssl: false, tls: { ca: { file: fixture('ca.pem') } } }, 'ssl', /is off, but TLS settings are given \(tls.ca\)/],
  ];
  for (const [name, input, key, message] of cases) {
    assert.throws(() => resolveKafkaConfig({ ...BASE, ...input }), kafkaError(key, message), name);
  }
});

test('the environment gives the TLS files and the key password; a flag replaces only its own part', () => {
  const env = { KAFKA_SSL_CA_FILE: fixture('ca.pem'), KAFKA_SSL_CERT_FILE: fixture('client.pem'), KAFKA_SSL_KEY_FILE: fixture('client.encrypted.key'), KAFKA_SSL_KEY_PASSWORD: KEY_PASSWORD };
  const fromEnv = resolveKafkaConfig(mergeKafkaInputs(kafkaConfigFromEnvironment(env), BASE));
  assert.equal(fromEnv.ssl?.client?.keyPassword, KEY_PASSWORD);
  assert.deepEqual(fromEnv.ssl?.origins, { ca: fixture('ca.pem'), cert: fixture('client.pem'), key: fixture('client.encrypted.key') });

  const flags: KafkaConfigInput = { ...BASE, tls: kafkaTlsFiles({ cert: fixture('client.pem'), key: fixture('client.key') }) };
  const merged = resolveKafkaConfig(mergeKafkaInputs(kafkaConfigFromEnvironment(env), flags));
  assert.deepEqual(merged.ssl?.origins, { ca: fixture('ca.pem'), cert: fixture('client.pem'), key: fixture('client.key') });
  assert.equal(kafkaTlsFiles({}), undefined);
});

/** A TLS server with the test CA's broker certificate that asks for a client certificate; records who connected. */
async function tlsBroker(options: { requireClientCertificate: boolean }) {
  const server = createServer({
    key: pem('broker.key'),
    cert: pem('broker.pem'),
    ca: pem('ca.pem'),
    requestCert: true,
    rejectUnauthorized: options.requireClientCertificate,
  });
  const clients: string[] = [];
  const failures: string[] = [];
  server.on('secureConnection', (socket: TLSSocket) => {
    clients.push(String(socket.getPeerCertificate().subject?.CN ?? '(no certificate)'));
    // Not a Kafka broker: the client's first request fails, which ends its connect attempt.
    socket.destroy();
  });
  server.on('tlsClientError', (error) => failures.push(error.message));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { broker: `localhost:${port}`, clients, failures };
}

/** Tries to connect the kafkajs admin client built from `input`; resolves with the error (a TLS broker that is not Kafka always ends in one). */
async function connectOnce(input: KafkaConfigInput): Promise<Error> {
  const kafka = createKafkaClient(resolveKafkaConfig({ ...input, initialRetryTimeMs: 1, maxRetryTimeMs: 5, connectionTimeoutMs: 2_000, requestTimeoutMs: 2_000 }), silentLogger);
  const admin = kafka.admin({ retry: { retries: 0 } });
  try {
    await admin.connect();
    return new Error('connected to a server that is not a Kafka broker');
  } catch (error) {
    return error as Error;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

test('kafkajs presents the client certificate and trusts the broker through the given CA', async () => {
  const tls = await tlsBroker({ requireClientCertificate: true });
  await connectOnce({ ...BASE, brokers: [tls.broker], tls: { ca: { file: fixture('ca.pem') }, cert: { file: fixture('client.pem') }, key: { file: fixture('client.encrypted.key') }, keyPassword: KEY_PASSWORD } });
  // kafkajs retries the broker that hung up; every attempt presents the same certificate.
  assert.ok(tls.clients.length >= 1, `no TLS session; TLS errors on the server: ${tls.failures.join('; ')}`);
  assert.deepEqual(new Set(tls.clients), new Set(['replicator-client']));
});

test("without the CA the broker's certificate is refused; without a client certificate a broker that requires one refuses the client", async () => {
  const lenient = await tlsBroker({ requireClientCertificate: false });
  const refused = await connectOnce({ ...BASE, brokers: [lenient.broker], ssl: true });
  assert.deepEqual(lenient.clients, [], 'no TLS session with a broker whose certificate nobody vouches for');
  assert.match(`${refused.message} ${String((refused as { cause?: unknown }).cause ?? '')}`, /certificate/i);

  const strict = await tlsBroker({ requireClientCertificate: true });
  await connectOnce({ ...BASE, brokers: [strict.broker], tls: { ca: { file: fixture('ca.pem') } } });
  assert.deepEqual(strict.clients, []);
  assert.ok(strict.failures.some((message) => /certificate/i.test(message)), `server-side TLS errors: ${strict.failures.join('; ')}`);
});
