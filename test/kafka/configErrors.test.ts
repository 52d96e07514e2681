/**
 * `talos-replicator run` with bad settings fails at once with one clear line naming the setting
 * and a non-zero exit code, before it touches the database or the brokers; and a SASL password
 * (flag or environment) never appears in its output, even with --verbose; nor does an OAUTHBEARER
 * token, which reaches the broker from the user's provider module.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { describeRun, makeTempDir, nonLogLines, runCli, spawnCli } from '../support/cli.js';
import { mockKafkaForTest } from '../support/kafka/mockBroker.js';
import { startSaslProbeBroker } from '../support/kafka/saslProbeBroker.js';
import { usePostgres } from '../support/postgres.js';
import { writeInstaller } from '../cli/fixtures.js';
import { MOCK_KAFKA_ENV, teardown, until } from './harness.js';

const postgres = usePostgres();
const temp = await makeTempDir('talos-kafka-config-');
after(() => temp.cleanup());
const installer = await writeInstaller(temp.dir, 'esm-named');
const providerWithoutExport = join(temp.dir, 'no-provider.mjs');
await writeFile(providerWithoutExport, 'export const token = "t";\n');
const provider = join(temp.dir, 'provider.mjs');
await writeFile(provider, 'export async function oauthBearerProvider() { return { value: "cli-token-7" }; }\n');

/** Nothing listens there: a command that got as far as connecting would fail differently (and slowly). */
const UNREACHABLE_DATABASE = 'postgres://replicator@127.0.0.1:9/cohort';
const CLEAN_ENV = Object.fromEntries(Object.keys(process.env).filter((name) => name.startsWith('KAFKA_')).map((name) => [name, undefined]));

const cases: ReadonlyArray<{ name: string; args: readonly string[]; env?: Record<string, string>; error: RegExp }> = [
  { name: 'no --topic', args: ['--brokers', '127.0.0.1:9092', '--group', 'g'], error: /invalid Kafka setting "topic" \(--topic, KAFKA_TOPIC\): is required/ },
  { name: 'a broker without a port', args: ['--brokers', 'localhost', '--topic', 't', '--group', 'g'], error: /"brokers" \(--brokers, KAFKA_BROKERS\): each broker must be host:port, got "localhost"/ },
  { name: 'a topic name Kafka refuses', args: ['--brokers', '127.0.0.1:9092', '--topic', 'cert topic', '--group', 'g'], error: /"topic" \(--topic, KAFKA_TOPIC\): must be a Kafka topic name/ },
  { name: 'a session timeout that is not a number (environment)', args: ['--brokers', '127.0.0.1:9092', '--topic', 't', '--group', 'g'], env: { KAFKA_SESSION_TIMEOUT_MS: '10s' }, error: /"KAFKA_SESSION_TIMEOUT_MS": must be a positive integer, got "10s"/ },
  { name: 'KAFKA_SSL that is not a boolean', args: ['--brokers', '127.0.0.1:9092', '--topic', 't', '--group', 'g'], env: { KAFKA_SSL: 'maybe' }, error: /"KAFKA_SSL": must be true or false, got "maybe"/ },
  { name: 'a heartbeat not below the session timeout', args: ['--brokers', '127.0.0.1:9092', '--topic', 't', '--group', 'g', '--session-timeout-ms', '3000'], env: { KAFKA_HEARTBEAT_INTERVAL_MS: '3000' }, error: /"heartbeatIntervalMs" \(KAFKA_HEARTBEAT_INTERVAL_MS\): must be below sessionTimeoutMs \(3000\)/ },
  { name: 'a dead-letter topic equal to the certification topic', args: ['--brokers', '127.0.0.1:9092', '--topic', 't', '--group', 'g', '--dead-letter-topic', 't'], error: /"deadLetterTopic" \(--dead-letter-topic, KAFKA_DEAD_LETTER_TOPIC\): must differ from the certification topic/ },
  { name: 'a client certificate without its key', args: ['--brokers', '127.0.0.1:9092', '--topic', 't', '--group', 'g', '--ssl-cert', installer], error: /"tls.key" \(--ssl-key, KAFKA_SSL_KEY_FILE\): is required with a client certificate/ },
  { name: 'a CA file that cannot be read (environment)', args: ['--brokers', '127.0.0.1:9092', '--topic', 't', '--group', 'g'], env: { KAFKA_SSL_CA_FILE: '/nonexistent/ca.pem' }, error: /"tls.ca" \(--ssl-ca, KAFKA_SSL_CA_FILE\): cannot read "\/nonexistent\/ca.pem": ENOENT/ },
  { name: 'an unknown SASL mechanism', args: ['--brokers', '127.0.0.1:9092', '--topic', 't', '--group', 'g', '--sasl-username', 'u', '--sasl-password', 'p', '--sasl-mechanism', 'kerberos'], error: /"sasl.mechanism" \(--sasl-mechanism, KAFKA_SASL_MECHANISM\): must be plain, scram-sha-256, scram-sha-512 or oauthbearer, got "kerberos"/ },
  { name: 'the oauthbearer mechanism without a token provider', args: ['--brokers', '127.0.0.1:9092', '--topic', 't', '--group', 'g', '--sasl-mechanism', 'oauthbearer'], error: /"sasl.oauthBearerProvider" \(--sasl-oauthbearer-provider, KAFKA_SASL_OAUTHBEARER_PROVIDER\): is required with the oauthbearer mechanism/ },
  { name: 'a token provider module that does not exist (environment)', args: ['--brokers', '127.0.0.1:9092', '--topic', 't', '--group', 'g'], env: { KAFKA_SASL_OAUTHBEARER_PROVIDER: '/nonexistent/provider.mjs' }, error: /: OAuth bearer token provider module \/nonexistent\/provider\.mjs does not exist$/ },
  { name: 'a token provider module without oauthBearerProvider', args: ['--brokers', '127.0.0.1:9092', '--topic', 't', '--group', 'g', '--sasl-oauthbearer-provider', providerWithoutExport], error: /does not export an oauthBearerProvider\(\) function \(named "oauthBearerProvider" or default\)/ },
  { name: 'a user name with a token provider', args: ['--brokers', '127.0.0.1:9092', '--topic', 't', '--group', 'g', '--sasl-username', 'u', '--sasl-oauthbearer-provider', provider], error: /"sasl.username" \(--sasl-username, KAFKA_SASL_USERNAME\): is not used with the oauthbearer mechanism/ },
];

for (const { name, args, env, error } of cases) {
  test(`run with ${name}: one line naming the setting, exit code 1, before connecting anywhere`, async () => {
    const result = await runCli(['run', ...args, '--installer', installer, '--database-url', UNREACHABLE_DATABASE], { env: { ...CLEAN_ENV, ...env }, timeoutMs: 20_000 });
    assert.notEqual(result.code, 0, describeRun(result));
    const lines = nonLogLines(result.stderr).filter((line) => !/^\(use .*--help/i.test(line) && !/^Usage:|^Options:|^\s+-|^\s*$/.test(line));
    assert.ok(lines.length >= 1, describeRun(result));
    assert.match(lines[0]!, error, describeRun(result));
    assert.doesNotMatch(result.stderr, /Cannot connect|ECONNREFUSED|starting an embedded/i, `the settings are checked before the database is opened\n${describeRun(result)}`);
    assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace without --verbose');
  });
}

test('a SASL password given as a flag or in the environment never appears in the output, even with --verbose', { timeout: 60_000 }, async (t) => {
  const cleanup = teardown(t);
  const mock = await mockKafkaForTest(t, { topics: ['certification'] });
  if (!mock) return;
  const db = await postgres.freshDatabase();
  const databasePassword = new URL(db.url).password;
  const flagPassword = 'flag-Secret-4711';
  const envPassword = 'env-Secret-0815';

  for (const [how, args, env] of [
    ['flag', ['--sasl-username', 'cohort', '--sasl-password', flagPassword], {}],
    ['environment', [], { KAFKA_SASL_USERNAME: 'cohort', KAFKA_SASL_PASSWORD: envPassword, KAFKA_SASL_MECHANISM: 'scram-sha-256' }],
  ] as const) {
    const run = spawnCli(['--verbose', 'run', '--brokers', mock.bootstrap, '--topic', 'certification', '--group', `sasl-${how}`, '--installer', installer, '--database-url', db.url, ...args], {
      env: { ...CLEAN_ENV, ...MOCK_KAFKA_ENV, ...env },
      timeoutMs: 30_000,
    });
    cleanup(() => void run.child.kill('SIGKILL'));
    let stderr = '';
    run.child.stderr!.on('data', (chunk: string) => (stderr += chunk));
    // Long enough to log its settings and try the brokers. The mock has no SASL (it refuses the
    // SaslHandshake API version), so kafkajs logs the failure and retries: the password never
    // goes over the wire here, what is checked is everything the process prints about it.
    await until('the Kafka settings to be logged', () => /kafka settings/.test(stderr), 15_000, () => stderr);
    await until('a connection attempt to the broker', () => /kafka: /.test(stderr), 15_000, () => stderr);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    run.child.kill('SIGTERM');
    const result = await run.result;
    const output = result.stdout + result.stderr;
    assert.match(result.stderr, /"password":"\[redacted\]"/, `the settings line shows the password redacted (${how})\n${describeRun(result)}`);
    for (const secret of [flagPassword, envPassword, databasePassword]) {
      assert.ok(!output.includes(secret), `a password appears in the output of a run with the SASL password in the ${how}:\n${describeRun(result)}`);
    }
  }
});

test('run --sasl-oauthbearer-provider: the module\'s token is what the broker receives, and its refusal is logged', { timeout: 60_000 }, async (t) => {
  const cleanup = teardown(t);
  const broker = await startSaslProbeBroker({ offer: ['OAUTHBEARER'], refusal: 'token not accepted by the test broker' });
  cleanup(() => broker.close());
  const db = await postgres.freshDatabase();
  const run = spawnCli(['--verbose', 'run', '--brokers', broker.address, '--topic', 'certification', '--group', 'oauth', '--installer', installer, '--database-url', db.url, '--sasl-oauthbearer-provider', provider], {
    env: { ...CLEAN_ENV, ...MOCK_KAFKA_ENV },
    timeoutMs: 30_000,
  });
  cleanup(() => void run.child.kill('SIGKILL'));
  let stderr = '';
  run.child.stderr!.on('data', (chunk: string) => (stderr += chunk));
  await until('the broker to receive a SASL OAUTHBEARER response', () => broker.authentications.length > 0, 20_000, () => stderr);
  await until('the refusal to be logged', () => /SASL OAUTHBEARER authentication failed: token not accepted by the test broker/.test(stderr), 15_000, () => stderr);
  run.child.kill('SIGTERM');
  const result = await run.result;
  assert.deepEqual(new Set(broker.handshakes), new Set(['OAUTHBEARER']));
  assert.equal(broker.authentications[0], 'n,,\u0001auth=Bearer cli-token-7\u0001\u0001', describeRun(result));
  assert.match(result.stderr, /"sasl":\{"mechanism":"oauthbearer","oauthBearerProvider":"\[function\]"\}/, describeRun(result));
  assert.ok(!(result.stdout + result.stderr).includes('cli-token-7'), `the token appears in the output:\n${describeRun(result)}`);
});
