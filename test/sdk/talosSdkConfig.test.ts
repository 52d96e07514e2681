/**
 * The Talos JS SDK's configs mapped onto this package's: pure functions, no Kafka. The configs
 * below are written as in Talos's own example (`cohort_banking_replicator_js/src/cfg/*.ts`), so
 * they also check at compile time that the SDK's field names and types are accepted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../machines/config.js';
import { InstallFailedError, SourceFailedError } from '../../machines/errors.js';
import { silentLogger } from '../../adapters/logging.js';
import { Replicator, adaptSdkCallbacks, resolveSdkSettings, sdkErrorKindOf, toJsStatemapAndSnapshot } from '../../adapters/sdk/replicator.js';
import { closestName, kafkaConfigFromSdk, replicatorConfigFromSdk } from '../../adapters/sdk/talosSdkConfig.js';
import { SdkErrorKind, TalosSdkError, type JsKafkaConfig, type JsReplicatorConfig, type JsStatemapAndSnapshot } from '../../adapters/sdk/talosSdkTypes.js';

const KAFKA_CONFIG: JsKafkaConfig = {
  brokers: ['127.0.0.1:9092'],
  topic: 'dev.ksp.certification',
  clientId: 'cohort-replicator-js',
  groupId: 'cohort-replicator-js',
  producerSendTimeoutMs: 10,
  logLevel: 'info',
  producerConfigOverrides: {},
  consumerConfigOverrides: { 'enable.auto.commit': 'false' },
  username: '',
  password: '',
};

const REPLICATOR_CONFIG: JsReplicatorConfig = {
  enableStats: true,
  channelSize: 100_000,
  suffixCapacity: 10_000,
  certifierMessageReceiverCommitFreqMs: 10_000,
  statemapQueueCleanupFreqMs: 10_000,
  statemapInstallerThreadpool: 50,
  otelTelemetry: { initOtel: false, name: 'cohort_replicator', enableMetrics: false, enableTraces: false },
};

/** A config with fields the SDK's types do not have, as plain JavaScript could pass it. */
const untyped = <T>(value: Record<string, unknown>): T => value as T;

function configError(key: string, message?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.equal(error.key, key);
    if (message) assert.match(error.message, message);
    return true;
  };
}

test("Talos's example Kafka config maps onto this package's names; what has no use here is noted, not lost silently", () => {
  const { kafka, notes } = kafkaConfigFromSdk(KAFKA_CONFIG);
  assert.deepEqual(kafka, { brokers: ['127.0.0.1:9092'], topic: 'dev.ksp.certification', groupId: 'cohort-replicator-js', clientId: 'cohort-replicator-js' });
  assert.deepEqual(
    notes.map((note) => [note.level, note.key]),
    [
      ['debug', 'kafkaConfig.consumerConfigOverrides["enable.auto.commit"]'],
      ['debug', 'kafkaConfig.producerSendTimeoutMs'],
      ['debug', 'kafkaConfig.logLevel'],
    ],
  );
});

test("Talos's example replicator config keeps its names; the OpenTelemetry block is noted (a warning when it asks for export)", () => {
  const { config, notes } = replicatorConfigFromSdk(REPLICATOR_CONFIG);
  assert.deepEqual(config, {
    enableStats: true,
    channelSize: 100_000,
    suffixCapacity: 10_000,
    certifierMessageReceiverCommitFreqMs: 10_000,
    statemapQueueCleanupFreqMs: 10_000,
    statemapInstallerThreadpool: 50,
  });
  assert.deepEqual(notes.map((note) => [note.level, note.key]), [['debug', 'replicatorConfig.otelTelemetry']]);

  const exporting = replicatorConfigFromSdk({ ...REPLICATOR_CONFIG, suffixPruneThreshold: 100, otelTelemetry: { initOtel: true, name: 'r', enableMetrics: true, enableTraces: false, grpcEndpoint: 'http://collector:4317' } });
  assert.deepEqual(
    exporting.notes.map((note) => [note.level, note.key]),
    [
      ['debug', 'replicatorConfig.suffixPruneThreshold'],
      ['warn', 'replicatorConfig.otelTelemetry'],
    ],
  );
  // Configs of SDKs before otelTelemetry existed are accepted too.
  const { otelTelemetry: _, ...older } = REPLICATOR_CONFIG;
  assert.deepEqual(replicatorConfigFromSdk(older).notes, []);
});

test('librdkafka consumer properties with a kafkajs counterpart are mapped; overrides of group.id, client.id and bootstrap.servers win, as in librdkafka', () => {
  const { kafka, origins } = kafkaConfigFromSdk({
    ...KAFKA_CONFIG,
    consumerConfigOverrides: {
      'session.timeout.ms': '4000',
      'heartbeat.interval.ms': '300',
      'max.poll.interval.ms': '10000',
      'fetch.wait.max.ms': '0',
      'reconnect.backoff.ms': '100',
      'reconnect.backoff.max.ms': '1000',
      'socket.connection.setup.timeout.ms': '1000',
      'socket.timeout.ms': '10000',
      'group.id': 'other-group',
      'client.id': 'other-client',
      'bootstrap.servers': 'PLAINTEXT://k1:9093,k2',
    },
  });
  assert.deepEqual(kafka, {
    brokers: ['k1:9093', 'k2:9092'],
    topic: 'dev.ksp.certification',
    groupId: 'other-group',
    clientId: 'other-client',
    sessionTimeoutMs: 4000,
    heartbeatIntervalMs: 300,
    rebalanceTimeoutMs: 10_000,
    maxWaitTimeMs: 1, // librdkafka allows 0 ms; kafkajs needs at least 1
    initialRetryTimeMs: 100,
    maxRetryTimeMs: 1000,
    connectionTimeoutMs: 1000,
    requestTimeoutMs: 10_000,
  });
  assert.equal(origins.sessionTimeoutMs, 'kafkaConfig.consumerConfigOverrides["session.timeout.ms"]');
  assert.equal(origins.groupId, 'kafkaConfig.consumerConfigOverrides["group.id"]');
});

test('brokers: librdkafka forms (no port, a protocol prefix, several in one entry) become host:port', () => {
  assert.deepEqual(kafkaConfigFromSdk({ ...KAFKA_CONFIG, brokers: ['kafka-1', 'SASL_SSL://kafka-2:9094, kafka-3:9095'] }).kafka.brokers, ['kafka-1:9092', 'kafka-2:9094', 'kafka-3:9095']);
});

test("a non-empty username turns SASL on with Talos's defaults (SCRAM-SHA-512, no TLS); explicit overrides are honoured", () => {
  assert.deepEqual(kafkaConfigFromSdk({ ...KAFKA_CONFIG, username: 'u', password: 'p' }).kafka.sasl, { mechanism: 'scram-sha-512', username: 'u', password: 'p' });
  assert.equal(kafkaConfigFromSdk({ ...KAFKA_CONFIG, username: 'u', password: 'p' }).kafka.ssl, undefined);

  const tls = kafkaConfigFromSdk({ ...KAFKA_CONFIG, username: 'u', password: 'p', consumerConfigOverrides: { 'security.protocol': 'SASL_SSL', 'sasl.mechanisms': 'PLAIN' } });
  assert.equal(tls.kafka.ssl, true);
  assert.deepEqual(tls.kafka.sasl, { mechanism: 'plain', username: 'u', password: 'p' });

  assert.throws(
    () => kafkaConfigFromSdk({ ...KAFKA_CONFIG, username: 'u', password: 'p', consumerConfigOverrides: { 'sasl.mechanism': 'GSSAPI' } }),
    configError('kafkaConfig.consumerConfigOverrides["sasl.mechanism"]', /GSSAPI/),
  );
  assert.throws(() => kafkaConfigFromSdk({ ...KAFKA_CONFIG, consumerConfigOverrides: { 'security.protocol': 'sasl_plaintext' } }), configError('kafkaConfig.username'));
  assert.throws(() => kafkaConfigFromSdk({ ...KAFKA_CONFIG, consumerConfigOverrides: { 'security.protocol': 'tls' } }), configError('kafkaConfig.consumerConfigOverrides["security.protocol"]'));
});

test('librdkafka properties without a counterpart are dropped with a note; TLS files without TLS, and unknown (newer?) properties, with a warning', () => {
  const { kafka, notes } = kafkaConfigFromSdk({
    ...KAFKA_CONFIG,
    consumerConfigOverrides: { 'auto.offset.reset': 'earliest', 'socket.keepalive.enable': 'true', 'ssl.ca.location': '/etc/ca.pem', 'some.future.property': 'x' },
    producerConfigOverrides: { 'message.timeout.ms': '30000' },
  });
  assert.equal(kafka.ssl, undefined);
  const byKey = new Map(notes.map((note) => [note.key, note]));
  assert.equal(byKey.get('kafkaConfig.consumerConfigOverrides["auto.offset.reset"]')?.level, 'debug');
  assert.match(byKey.get('kafkaConfig.consumerConfigOverrides["auto.offset.reset"]')!.message, /from the beginning/);
  assert.equal(byKey.get('kafkaConfig.consumerConfigOverrides["socket.keepalive.enable"]')?.level, 'debug');
  assert.equal(byKey.get('kafkaConfig.consumerConfigOverrides["ssl.ca.location"]')?.level, 'warn');
  assert.match(byKey.get('kafkaConfig.consumerConfigOverrides["ssl.ca.location"]')!.message, /security.protocol is not ssl/);
  assert.equal(kafka.tls, undefined);
  assert.equal(byKey.get('kafkaConfig.consumerConfigOverrides["some.future.property"]')?.level, 'warn');
  assert.equal(byKey.get('kafkaConfig.producerConfigOverrides["message.timeout.ms"]')?.level, 'debug');
});

test('misspelt fields and properties are rejected with the closest real name', () => {
  assert.throws(() => kafkaConfigFromSdk(untyped<JsKafkaConfig>({ ...KAFKA_CONFIG, groupID: 'g' })), configError('kafkaConfig.groupID', /did you mean "groupId"/));
  assert.throws(() => kafkaConfigFromSdk(untyped<JsKafkaConfig>({ ...KAFKA_CONFIG, consumerConfigOverides: {} })), configError('kafkaConfig.consumerConfigOverides', /"consumerConfigOverrides"/));
  assert.throws(() => kafkaConfigFromSdk(untyped<JsKafkaConfig>({ ...KAFKA_CONFIG, deadLetterTopic: 'dlq' })), configError('kafkaConfig.deadLetterTopic', /fields: brokers, topic/));
  assert.throws(
    () => kafkaConfigFromSdk({ ...KAFKA_CONFIG, consumerConfigOverrides: { 'sesion.timeout.ms': '4000' } }),
    configError('kafkaConfig.consumerConfigOverrides["sesion.timeout.ms"]', /did you mean "session.timeout.ms"/),
  );
  assert.throws(
    () => kafkaConfigFromSdk({ ...KAFKA_CONFIG, consumerConfigOverrides: { sessionTimeoutMs: '4000' } }),
    configError('kafkaConfig.consumerConfigOverrides["sessionTimeoutMs"]', /"session.timeout.ms"/),
  );
  assert.throws(
    () => kafkaConfigFromSdk({ ...KAFKA_CONFIG, producerConfigOverrides: { 'mesage.timeout.ms': '1' } }),
    configError('kafkaConfig.producerConfigOverrides["mesage.timeout.ms"]', /"message.timeout.ms"/),
  );
  assert.throws(
    () => replicatorConfigFromSdk(untyped<JsReplicatorConfig>({ ...REPLICATOR_CONFIG, statemapInstallerThreadPool: 8 })),
    configError('replicatorConfig.statemapInstallerThreadPool', /did you mean "statemapInstallerThreadpool"/),
  );
  assert.throws(
    () => replicatorConfigFromSdk(untyped<JsReplicatorConfig>({ ...REPLICATOR_CONFIG, otelTelemetry: { initOtel: false, name: 'r', enableMetric: true, enableTraces: false } })),
    configError('replicatorConfig.otelTelemetry.enableMetric', /"enableMetrics"/),
  );
  assert.equal(closestName('heartbeat.interval.ms', ['heartbeat.interval.ms']), 'heartbeat.interval.ms');
  assert.equal(closestName('zzz', ['topic']), null);
});

test('bad values are reported under the name the user wrote them with', () => {
  assert.throws(() => resolveSdkSettings({ ...KAFKA_CONFIG, consumerConfigOverrides: { 'session.timeout.ms': 'soon' } }, REPLICATOR_CONFIG), configError('kafkaConfig.consumerConfigOverrides["session.timeout.ms"]'));
  assert.throws(() => resolveSdkSettings({ ...KAFKA_CONFIG, topic: '' }, REPLICATOR_CONFIG), configError('kafkaConfig.topic', /is required/));
  assert.throws(() => resolveSdkSettings({ ...KAFKA_CONFIG, brokers: ['not a broker'] }, REPLICATOR_CONFIG), configError('kafkaConfig.brokers'));
  assert.throws(() => resolveSdkSettings({ ...KAFKA_CONFIG, username: 'u', password: '' }, REPLICATOR_CONFIG), configError('kafkaConfig.password', /is required/));
  assert.throws(
    () => resolveSdkSettings({ ...KAFKA_CONFIG, consumerConfigOverrides: { 'session.timeout.ms': '4000', 'heartbeat.interval.ms': '5000' } }, REPLICATOR_CONFIG),
    configError('kafkaConfig.consumerConfigOverrides["heartbeat.interval.ms"]', /below sessionTimeoutMs/),
  );
  assert.throws(() => resolveSdkSettings(KAFKA_CONFIG, { ...REPLICATOR_CONFIG, channelSize: 0 }), configError('replicatorConfig.channelSize'));
  assert.throws(() => resolveSdkSettings(KAFKA_CONFIG, REPLICATOR_CONFIG, { config: { maxInstallAttempts: 0 } }), configError('maxInstallAttempts'));
});

test("this package's own settings can be added over the SDK's, in init's third argument", () => {
  const { kafka, config } = resolveSdkSettings(KAFKA_CONFIG, REPLICATOR_CONFIG, { kafka: { deadLetterTopic: 'dlq', sessionTimeoutMs: 6000 }, config: { maxInstallAttempts: 5, statemapInstallerThreadpool: 4 } });
  assert.equal(kafka.deadLetterTopic, 'dlq');
  assert.equal(kafka.sessionTimeoutMs, 6000);
  assert.equal(config.maxInstallAttempts, 5);
  assert.equal(config.statemapInstallerThreadpool, 4);
  assert.equal(config.channelSize, 100_000);
  assert.equal(config.enableStats, true);
});

test('Replicator.init throws what the SDK throws, a TalosSdkError, with the ConfigError as its cause', async () => {
  await assert.rejects(
    Replicator.init(untyped<JsKafkaConfig>({ ...KAFKA_CONFIG, topik: 't' }), REPLICATOR_CONFIG, { logger: silentLogger }),
    (error: unknown) => {
      assert.ok(error instanceof TalosSdkError);
      assert.equal(error.name, 'TalosSdkError');
      assert.equal(error.kind, SdkErrorKind.Internal);
      assert.ok(error.cause instanceof ConfigError);
      assert.match(error.message, /kafkaConfig\.topik.*did you mean "topic"/);
      return true;
    },
  );
});

test('Replicator.init logs what it leaves aside, at the level of each note', async () => {
  const lines: string[] = [];
  const logger = { ...silentLogger, debug: (message: string) => lines.push(`debug ${message}`), warn: (message: string) => lines.push(`warn ${message}`) };
  await Replicator.init({ ...KAFKA_CONFIG, consumerConfigOverrides: { 'ssl.cipher.suites': 'ECDHE-ECDSA-AES256-GCM-SHA384' } }, REPLICATOR_CONFIG, { logger });
  assert.ok(lines.some((line) => line.startsWith('warn kafkaConfig.consumerConfigOverrides["ssl.cipher.suites"] is not supported')), lines.join('\n'));
  assert.ok(lines.some((line) => line.startsWith('debug replicatorConfig.otelTelemetry ignored')), lines.join('\n'));
});

test('the install callback gets the SDK\'s JsStatemapAndSnapshot: no safepoint key when there is none', () => {
  const data = toJsStatemapAndSnapshot(
    [
      { action: 'TRANSFER', version: 7, safepoint: 5, payload: { from: 'a', to: 'b', amount: '1.00' } },
      { action: 'NOTE', version: 7, safepoint: null, payload: 'x' },
    ],
    7,
  );
  assert.deepEqual(data, {
    statemap: [
      { action: 'TRANSFER', version: 7, safepoint: 5, payload: { from: 'a', to: 'b', amount: '1.00' } },
      { action: 'NOTE', version: 7, payload: 'x' },
    ],
    version: 7,
  });
  assert.equal('safepoint' in data.statemap[1]!, false);
  assert.deepEqual(toJsStatemapAndSnapshot([], 8), { statemap: [], version: 8 });
});

test('a failed run is reported with the SDK error kind closest to its cause', () => {
  assert.equal(sdkErrorKindOf(new InstallFailedError(3, 5, new Error('db down'))), SdkErrorKind.Persistence);
  assert.equal(sdkErrorKindOf(new SourceFailedError(new Error('gone'))), SdkErrorKind.Messaging);
  assert.equal(sdkErrorKindOf(Object.assign(new Error('x'), { name: 'KafkaJSNumberOfRetriesExceeded' })), SdkErrorKind.Messaging);
  assert.equal(sdkErrorKindOf(new Error('x')), SdkErrorKind.Internal);
});

test('run checks its callbacks, runs once, and resolves at once when stopped before it started (nothing connects)', async () => {
  const replicator = await Replicator.init({ ...KAFKA_CONFIG, brokers: ['127.0.0.1:1'] }, REPLICATOR_CONFIG, { logger: silentLogger });
  await assert.rejects(
    replicator.run(async () => 0, 'not a function' as never, async () => {}),
    (error: unknown) => error instanceof TalosSdkError && error.kind === SdkErrorKind.Internal && /updateSnapshotCallback must be a function/.test(error.message),
  );
  await assert.rejects(replicator.run(async () => 0, async () => {}, async () => {}), /already called/);

  const stopped = await Replicator.init({ ...KAFKA_CONFIG, brokers: ['127.0.0.1:1'] }, REPLICATOR_CONFIG, { logger: silentLogger });
  await stopped.stop();
  // Inline callbacks get their parameter types from run's signature, as with the SDK (noImplicitAny).
  await stopped.run(
    async () => 0,
    async (version) => assert.equal(typeof version.toFixed, 'function'),
    async (data) => assert.ok(data.statemap.every((item) => item.version === data.version)),
  );
  assert.equal(stopped.kafkaReplicator, null);
  const stoppedLegacy = await Replicator.init({ ...KAFKA_CONFIG, brokers: ['127.0.0.1:1'] }, REPLICATOR_CONFIG, { logger: silentLogger });
  await stoppedLegacy.stop();
  await stoppedLegacy.run(async () => 0, async ({ statemap, version }) => assert.ok(statemap.length >= 0 && version >= 0));
});

test("the SDK's callbacks become the Installer and SnapshotStore; install's rejection reaches the pipeline (which retries)", async () => {
  const calls: string[] = [];
  const { installer, snapshotStore, legacy } = adaptSdkCallbacks(
    async () => 41,
    async (version: number) => void calls.push(`updateSnapshot ${version}`),
    async (data: JsStatemapAndSnapshot) => {
      calls.push(`install ${JSON.stringify(data)}`);
      if (data.version === 43) throw new Error('deadlock');
    },
  );
  assert.equal(legacy, false);
  assert.equal(await snapshotStore.getSnapshot(), 41);
  await installer.install([{ action: 'SET', version: 42, safepoint: null, payload: { k: 1 } }], 42);
  await assert.rejects(installer.install([], 43), /deadlock/);
  await snapshotStore.updateSnapshot(42);
  assert.deepEqual(calls, ['install {"statemap":[{"action":"SET","version":42,"payload":{"k":1}}],"version":42}', 'install {"statemap":[],"version":43}', 'updateSnapshot 42']);
});

test("SDK 0.2's run(getSnapshot, install) is accepted: install writes the snapshot, updateSnapshot does nothing", async () => {
  const installed: number[] = [];
  const { installer, snapshotStore, legacy } = adaptSdkCallbacks(async () => 0, async ({ version }: JsStatemapAndSnapshot) => void installed.push(version));
  assert.equal(legacy, true);
  await installer.install([], 5);
  await snapshotStore.updateSnapshot(5);
  assert.deepEqual(installed, [5]);
});

test('a third argument that is undefined by mistake is reported, not taken for the two-callback form', () => {
  assert.throws(
    () => adaptSdkCallbacks(async () => 0, async () => {}, undefined as never),
    (error: unknown) => error instanceof TalosSdkError && /statemapInstallerCallback must be a function, got undefined/.test(error.message),
  );
});

test('TLS material in consumerConfigOverrides maps onto the TLS settings when security.protocol is ssl or sasl_ssl', () => {
  const { kafka, notes } = kafkaConfigFromSdk({
    ...KAFKA_CONFIG,
    consumerConfigOverrides: {
      'security.protocol': 'SSL',
      'ssl.ca.location': '/etc/kafka/ca.pem',
      'ssl.certificate.pem': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
      'ssl.key.location': '/etc/kafka/client.key',
      'ssl.key.password': 'secret',
      'enable.ssl.certificate.verification': 'false',
    },
  });
  assert.equal(kafka.ssl, true);
  assert.deepEqual(kafka.tls, {
    ca: { file: '/etc/kafka/ca.pem' },
    cert: { pem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----' },
    key: { file: '/etc/kafka/client.key' },
    keyPassword: 'secret',
    verifyServer: false,
  });
  assert.deepEqual(notes.filter((note) => note.key.includes('ssl')), [], 'mapped properties need no note');

  // librdkafka's "probe" (find the system's CA bundle): Node's bundled CAs instead, with a note.
  const probe = kafkaConfigFromSdk({ ...KAFKA_CONFIG, consumerConfigOverrides: { 'security.protocol': 'ssl', 'ssl.ca.location': 'probe' } });
  assert.equal(probe.kafka.tls, undefined);
  assert.equal(probe.notes.find((note) => note.key.endsWith('["ssl.ca.location"]'))?.level, 'debug');

  assert.throws(
    () => kafkaConfigFromSdk({ ...KAFKA_CONFIG, consumerConfigOverrides: { 'security.protocol': 'ssl', 'ssl.ca.location': '/a.pem', 'ssl.ca.pem': '-----BEGIN CERTIFICATE-----' } }),
    configError('kafkaConfig.consumerConfigOverrides["ssl.ca.pem"]', /sets tls.ca, which kafkaConfig.consumerConfigOverrides\["ssl.ca.location"\] sets already/),
  );
  assert.throws(
    () => kafkaConfigFromSdk({ ...KAFKA_CONFIG, consumerConfigOverrides: { 'security.protocol': 'ssl', 'enable.ssl.certificate.verification': 'no' } }),
    configError('kafkaConfig.consumerConfigOverrides["enable.ssl.certificate.verification"]', /true or false/),
  );
});

test('a TLS file the SDK config names that cannot be read is reported under the SDK property', () => {
  assert.throws(
    () => resolveSdkSettings({ ...KAFKA_CONFIG, consumerConfigOverrides: { 'security.protocol': 'ssl', 'ssl.ca.location': '/nonexistent/ca.pem' } }, REPLICATOR_CONFIG),
    configError('kafkaConfig.consumerConfigOverrides["ssl.ca.location"]', /cannot read "\/nonexistent\/ca.pem": ENOENT/),
  );
});
