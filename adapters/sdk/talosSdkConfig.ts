/**
 * Maps the Talos JS SDK's settings (`JsKafkaConfig`, `JsReplicatorConfig`) onto this package's
 * (`KafkaConfigInput`, `ReplicatorConfigInput`). Pure: it returns the mapped settings and notes
 * about what it left aside; the caller logs the notes and resolves (validates) the result.
 *
 * Every field the SDK has is accepted. A field with a counterpart here is mapped; one this
 * package has no use for is dropped with a `debug` note, one whose absence could change
 * behaviour the user relies on (TLS properties without a counterpart, OpenTelemetry export) with a `warn` note. A field the
 * SDK does not have is a typo and throws a `ConfigError` naming it (and the closest real name).
 *
 * librdkafka properties in `consumerConfigOverrides` that kafkajs has an equivalent for are
 * mapped (`session.timeout.ms`, `heartbeat.interval.ms`, `max.poll.interval.ms`,
 * `fetch.wait.max.ms`, `reconnect.backoff[.max].ms`, `socket.connection.setup.timeout.ms`,
 * `socket.timeout.ms`, `group.id`, `client.id`, `bootstrap.servers`, `security.protocol`,
 * `sasl.*`, and the TLS material: `ssl.ca.location|pem`, `ssl.certificate.location|pem`,
 * `ssl.key.location|pem`, `ssl.key.password`, `enable.ssl.certificate.verification`); other librdkafka properties are dropped with a note; a name that is not a librdkafka
 * property but is one or two letters away from one (or differs only in case or separators) is
 * rejected, as librdkafka itself would reject it.
 */
import { ConfigError, type ReplicatorConfigInput } from '../../machines/config.js';
import type { KafkaConfigInput, PasswordSaslMechanism } from '../kafka/kafkaConfig.js';
import type { KafkaTlsInput } from '../kafka/kafkaTls.js';
import type { JsKafkaConfig, JsReplicatorConfig } from './talosSdkTypes.js';

export interface SettingNote {
  readonly level: 'debug' | 'warn';
  /** Where the setting was given, e.g. `kafkaConfig.consumerConfigOverrides["auto.offset.reset"]`. */
  readonly key: string;
  readonly message: string;
}

export interface MappedKafkaConfig {
  readonly kafka: KafkaConfigInput;
  readonly notes: readonly SettingNote[];
  /** For error messages: which SDK setting each mapped Kafka setting (or TLS part, `tls.ca`) came from. */
  readonly origins: Readonly<Record<string, string>>;
}

export interface MappedReplicatorConfig {
  readonly config: ReplicatorConfigInput;
  readonly notes: readonly SettingNote[];
}

const KAFKA_KEYS = [
  'brokers',
  'topic',
  'clientId',
  'groupId',
  'username',
  'password',
  'producerConfigOverrides',
  'consumerConfigOverrides',
  'producerSendTimeoutMs',
  'logLevel',
] as const satisfies readonly (keyof JsKafkaConfig)[];

const REPLICATOR_KEYS = [
  'enableStats',
  'channelSize',
  'suffixCapacity',
  'suffixPruneThreshold',
  'suffixMinimumSizeOnPrune',
  'certifierMessageReceiverCommitFreqMs',
  'statemapQueueCleanupFreqMs',
  'statemapInstallerThreadpool',
  'otelTelemetry',
] as const satisfies readonly (keyof JsReplicatorConfig)[];

/** The SDK's replicator settings that this package has under the same name and meaning. */
const SAME_NAME_KEYS = [
  'enableStats',
  'channelSize',
  'suffixCapacity',
  'certifierMessageReceiverCommitFreqMs',
  'statemapQueueCleanupFreqMs',
  'statemapInstallerThreadpool',
] as const;

const OTEL_KEYS = ['initOtel', 'name', 'enableMetrics', 'enableTraces', 'grpcEndpoint'] as const;

/** Every property of librdkafka 2.x (CONFIGURATION.md: global, consumer, producer and topic). */
const LIBRDKAFKA_PROPERTIES: ReadonlySet<string> = new Set(
  `acks allow.auto.create.topics api.version.fallback.ms api.version.request api.version.request.timeout.ms auto.commit.enable
  auto.commit.interval.ms auto.offset.reset background_event_cb batch.num.messages batch.size bootstrap.servers broker.address.family
  broker.address.ttl broker.version.fallback builtin.features check.crcs client.dns.lookup client.id client.rack closesocket_cb
  compression.codec compression.level compression.type connect_cb connections.max.idle.ms consume.callback.max.messages consume_cb
  coordinator.query.interval.ms debug default_topic_conf delivery.report.only.error delivery.timeout.ms dr_cb dr_msg_cb
  enable.auto.commit enable.auto.offset.store enable.gapless.guarantee enable.idempotence enable.metrics.push enable.partition.eof
  enable.random.seed enable.sasl.oauthbearer.unsecure.jwt enable.ssl.certificate.verification enabled_events error_cb
  fetch.error.backoff.ms fetch.max.bytes fetch.message.max.bytes fetch.min.bytes fetch.queue.backoff.ms fetch.wait.max.ms group.id
  group.instance.id group.protocol group.protocol.type group.remote.assignor heartbeat.interval.ms https.ca.location https.ca.pem
  interceptors internal.termination.signal isolation.level linger.ms log.connection.close log.queue log.thread.name log_cb log_level
  max.in.flight max.in.flight.requests.per.connection max.partition.fetch.bytes max.poll.interval.ms message.copy.max.bytes
  message.max.bytes message.send.max.retries message.timeout.ms metadata.broker.list metadata.max.age.ms metadata.recovery.strategy
  msg_order_cmp oauthbearer_token_refresh_cb offset.store.method offset.store.path offset.store.sync.interval.ms offset_commit_cb
  opaque open_cb partition.assignment.strategy partitioner partitioner_cb plugin.library.paths produce.offset.report
  queue.buffering.backpressure.threshold queue.buffering.max.kbytes queue.buffering.max.messages queue.buffering.max.ms
  queued.max.messages.kbytes queued.min.messages queuing.strategy rebalance_cb receive.message.max.bytes reconnect.backoff.jitter.ms
  reconnect.backoff.max.ms reconnect.backoff.ms request.required.acks request.timeout.ms resolve_cb retries retry.backoff.max.ms
  retry.backoff.ms sasl.kerberos.keytab sasl.kerberos.kinit.cmd sasl.kerberos.min.time.before.relogin sasl.kerberos.principal
  sasl.kerberos.service.name sasl.mechanism sasl.mechanisms sasl.oauthbearer.client.id sasl.oauthbearer.client.secret
  sasl.oauthbearer.config sasl.oauthbearer.extensions sasl.oauthbearer.method sasl.oauthbearer.scope
  sasl.oauthbearer.token.endpoint.url sasl.password sasl.username security.protocol session.timeout.ms socket.blocking.max.ms
  socket.connection.setup.timeout.ms socket.keepalive.enable socket.max.fails socket.nagle.disable socket.receive.buffer.bytes
  socket.send.buffer.bytes socket.timeout.ms socket_cb ssl.ca.certificate.stores ssl.ca.location ssl.ca.pem ssl.certificate.location
  ssl.certificate.pem ssl.certificate.verify_cb ssl.cipher.suites ssl.crl.location ssl.curves.list ssl.endpoint.identification.algorithm
  ssl.engine.id ssl.engine.location ssl.key.location ssl.key.password ssl.key.pem ssl.keystore.location ssl.keystore.password
  ssl.providers ssl.sigalgs.list ssl_ca ssl_certificate ssl_engine_callback_data ssl_key statistics.interval.ms stats_cb
  sticky.partitioning.linger.ms throttle_cb topic.blacklist topic.metadata.propagation.max.ms topic.metadata.refresh.fast.cnt
  topic.metadata.refresh.fast.interval.ms topic.metadata.refresh.interval.ms topic.metadata.refresh.sparse transaction.timeout.ms
  transactional.id`
    .split(/\s+/)
    .filter((name) => name !== ''),
);

type MillisecondsKey = 'sessionTimeoutMs' | 'heartbeatIntervalMs' | 'rebalanceTimeoutMs' | 'maxWaitTimeMs' | 'initialRetryTimeMs' | 'maxRetryTimeMs' | 'connectionTimeoutMs' | 'requestTimeoutMs';

/** librdkafka consumer properties with a kafkajs counterpart (all milliseconds). */
const MAPPED_MILLISECONDS: Readonly<Record<string, { readonly key: MillisecondsKey; readonly min0To1?: boolean }>> = {
  'session.timeout.ms': { key: 'sessionTimeoutMs' },
  'heartbeat.interval.ms': { key: 'heartbeatIntervalMs' },
  // The rebalance timeout a librdkafka member sends when joining a group is max.poll.interval.ms.
  'max.poll.interval.ms': { key: 'rebalanceTimeoutMs' },
  'fetch.wait.max.ms': { key: 'maxWaitTimeMs', min0To1: true },
  'reconnect.backoff.ms': { key: 'initialRetryTimeMs', min0To1: true },
  'reconnect.backoff.max.ms': { key: 'maxRetryTimeMs', min0To1: true },
  'socket.connection.setup.timeout.ms': { key: 'connectionTimeoutMs' },
  'socket.timeout.ms': { key: 'requestTimeoutMs' },
};

/** librdkafka's TLS properties with a counterpart here: the part of `KafkaTlsInput` each sets, and how. */
const TLS_PROPERTIES: ReadonlyArray<readonly [name: string, part: 'ca' | 'cert' | 'key' | 'keyPassword' | 'verifyServer', form: 'file' | 'pem' | 'text' | 'boolean']> = [
  ['ssl.ca.location', 'ca', 'file'],
  ['ssl.ca.pem', 'ca', 'pem'],
  ['ssl.certificate.location', 'cert', 'file'],
  ['ssl.certificate.pem', 'cert', 'pem'],
  ['ssl.key.location', 'key', 'file'],
  ['ssl.key.pem', 'key', 'pem'],
  ['ssl.key.password', 'keyPassword', 'text'],
  ['enable.ssl.certificate.verification', 'verifyServer', 'boolean'],
];

/** Properties handled by hand below (identity, brokers, security). */
const SPECIAL = new Set([
  'group.id',
  'client.id',
  'bootstrap.servers',
  'metadata.broker.list',
  'security.protocol',
  'sasl.mechanism',
  'sasl.mechanisms',
  'sasl.username',
  'sasl.password',
  ...TLS_PROPERTIES.map(([name]) => name),
]);

/** Properties dropped with a reason more useful than the generic one. */
const EXPLAINED: Readonly<Record<string, string>> = {
  'enable.auto.commit': 'offsets are never auto-committed: the replicator commits the offset of the persisted snapshot',
  'auto.commit.interval.ms': 'offsets are committed every certifierMessageReceiverCommitFreqMs, up to the persisted snapshot',
  'enable.auto.offset.store': 'offsets are committed only up to the persisted snapshot',
  'auto.offset.reset':
    'a group without a committed offset reads the topic from the beginning; versions at or below getSnapshot() are skipped without an install call',
  'enable.partition.eof': 'not needed: the replicator keeps reading',
  'isolation.level': 'kafkajs reads committed records only, as librdkafka does by default',
  'partition.assignment.strategy': 'the certification topic has one partition; one group member owns it',
};

/** Prefixes of properties whose absence can change what happens on the wire: dropped with a warning. */
const UNSUPPORTED_PREFIXES = ['ssl.', 'ssl_', 'https.', 'enable.ssl.', 'sasl.kerberos.', 'sasl.oauthbearer.', 'enable.sasl.oauthbearer.', 'group.instance.id'];

// ---------------------------------------------------------------------------------------------
// Helpers

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function given(value: unknown): boolean {
  return value !== undefined && value !== null;
}

/** Lower case, camelCase humps and `_`/`-` turned into dots: `sessionTimeoutMs` → `session.timeout.ms`. */
function normalize(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1.$2')
    .toLowerCase()
    .replace(/[\s_-]+/g, '.');
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** The known name `name` is most likely a misspelling of, or null. */
export function closestName(name: string, known: Iterable<string>): string | null {
  const wanted = normalize(name);
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of known) {
    if (candidate === name) return candidate;
    const normal = normalize(candidate);
    if (normal === wanted) return candidate;
    const distance = editDistance(wanted, normal);
    const allowed = Math.min(wanted.length, normal.length) >= 8 ? 2 : 1;
    if (distance <= allowed && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function rejectUnknownKeys(where: string, value: Record<string, unknown>, known: readonly string[], what: string): void {
  for (const key of Object.keys(value)) {
    if ((known as readonly string[]).includes(key)) continue;
    const suggestion = closestName(key, known);
    throw new ConfigError(`${where}.${key}`, `is not a field of the Talos SDK's ${what}${suggestion ? `; did you mean "${suggestion}"?` : ` (fields: ${known.join(', ')})`}`);
  }
}

function text(key: string, value: unknown): string | undefined {
  if (!given(value)) return undefined;
  if (typeof value !== 'string') throw new ConfigError(key, `must be a string, got ${JSON.stringify(value)}`);
  return value;
}

/** A librdkafka property map: string values (numbers and booleans are accepted and turned into text). */
function propertyMap(key: string, value: unknown): Map<string, string> {
  const properties = new Map<string, string>();
  if (!given(value)) return properties;
  if (!isPlainObject(value)) throw new ConfigError(key, `must be an object of librdkafka properties, got ${JSON.stringify(value)}`);
  for (const [name, entry] of Object.entries(value)) {
    if (typeof entry === 'string') properties.set(name, entry.trim());
    else if (typeof entry === 'number' || typeof entry === 'boolean') properties.set(name, String(entry));
    else throw new ConfigError(`${key}["${name}"]`, `must be a string, got ${JSON.stringify(entry)}`);
  }
  return properties;
}

/** Rejects a property librdkafka does not have if it looks like a misspelling of one it has. */
function checkPropertyName(key: string, name: string): 'known' | 'unknown' {
  if (LIBRDKAFKA_PROPERTIES.has(name)) return 'known';
  const suggestion = closestName(name, LIBRDKAFKA_PROPERTIES);
  if (suggestion) throw new ConfigError(key, `is not a librdkafka property; did you mean "${suggestion}"?`);
  if (!/^[a-z][a-z0-9_.]*$/.test(name)) throw new ConfigError(key, 'is not a librdkafka property (librdkafka names are lower case and dotted, e.g. "session.timeout.ms")');
  return 'unknown';
}

/** One librdkafka broker entry (`host`, `host:port`, `PROTOCOL://host:port`, or several joined by commas) as `host:port` items. */
function brokerEntries(value: unknown): unknown {
  const list = typeof value === 'string' ? [value] : Array.isArray(value) ? value : value;
  if (!Array.isArray(list)) return list; // resolveKafkaConfig reports it
  return list.flatMap((entry: unknown) =>
    typeof entry !== 'string'
      ? [entry]
      : entry
          .split(',')
          .map((item) => item.trim().replace(/^[A-Za-z_]+:\/\//, ''))
          .filter((item) => item !== '')
          .map((item) => (/:\d+$/.test(item) ? item : `${item}:9092`)),
  );
}

function integerProperty(key: string, value: string, min0To1: boolean): number {
  if (!/^\d+$/.test(value)) throw new ConfigError(key, `must be a whole number of milliseconds, got ${JSON.stringify(value)}`);
  const number = Number(value);
  return number === 0 && min0To1 ? 1 : number;
}

// ---------------------------------------------------------------------------------------------
// Kafka

const KAFKA = 'kafkaConfig';

/** The SDK's `JsKafkaConfig` as this package's `KafkaConfigInput`. Throws a ConfigError for a misspelt field or property. */
export function kafkaConfigFromSdk(input: JsKafkaConfig): MappedKafkaConfig {
  if (!isPlainObject(input)) throw new ConfigError(KAFKA, `must be an object (the Talos SDK's JsKafkaConfig), got ${JSON.stringify(input)}`);
  rejectUnknownKeys(KAFKA, input, KAFKA_KEYS, 'JsKafkaConfig');
  const notes: SettingNote[] = [];
  const origins: Record<string, string> = {};
  const kafka: { -readonly [K in keyof KafkaConfigInput]: KafkaConfigInput[K] } = {};
  const set = <K extends keyof KafkaConfigInput>(key: K, value: KafkaConfigInput[K] | undefined, origin: string) => {
    if (value === undefined) return;
    kafka[key] = value;
    origins[key] = origin;
  };

  set('brokers', brokerEntries(input.brokers) as string[] | undefined, `${KAFKA}.brokers`);
  set('topic', text(`${KAFKA}.topic`, input.topic), `${KAFKA}.topic`);
  set('groupId', text(`${KAFKA}.groupId`, input.groupId), `${KAFKA}.groupId`);
  const clientId = text(`${KAFKA}.clientId`, input.clientId);
  if (clientId) set('clientId', clientId, `${KAFKA}.clientId`);

  const consumerKey = `${KAFKA}.consumerConfigOverrides`;
  const consumer = propertyMap(consumerKey, input.consumerConfigOverrides);
  const property = (name: string) => `${consumerKey}["${name}"]`;
  for (const [name, value] of consumer) {
    const key = property(name);
    const mapped = MAPPED_MILLISECONDS[name];
    if (mapped) {
      set(mapped.key, integerProperty(key, value, mapped.min0To1 ?? false), key);
      continue;
    }
    if (SPECIAL.has(name)) continue;
    const known = checkPropertyName(key, name);
    if (known === 'unknown') {
      notes.push({ level: 'warn', key, message: 'is not a librdkafka property this package knows (a newer librdkafka?); ignored' });
    } else if (UNSUPPORTED_PREFIXES.some((prefix) => name.startsWith(prefix))) {
      notes.push({ level: 'warn', key, message: 'is not supported by this package (kafkajs connection with Node defaults); ignored' });
    } else {
      notes.push({ level: 'debug', key, message: `ignored: ${EXPLAINED[name] ?? 'librdkafka tuning without a kafkajs counterpart here'}` });
    }
  }

  // librdkafka applies the overrides after the base properties, so these win over the fields.
  const groupOverride = consumer.get('group.id');
  if (groupOverride) set('groupId', groupOverride, property('group.id'));
  const clientOverride = consumer.get('client.id');
  if (clientOverride) set('clientId', clientOverride, property('client.id'));
  for (const name of ['metadata.broker.list', 'bootstrap.servers']) {
    const brokers = consumer.get(name);
    if (brokers) set('brokers', brokerEntries(brokers) as string[], property(name));
  }

  // Security. Talos (talos_rdkafka_utils KafkaConfig::setup_auth) turns SASL on when `username` is
  // non-empty, with SASL_PLAINTEXT and SCRAM-SHA-512, set after (so over) the overrides; here an
  // explicit `security.protocol` or `sasl.mechanism(s)` override is honoured instead.
  const username = text(`${KAFKA}.username`, input.username) || consumer.get('sasl.username') || '';
  const password = text(`${KAFKA}.password`, input.password) || consumer.get('sasl.password') || '';
  const protocolText = consumer.get('security.protocol');
  const protocol = protocolText?.toLowerCase();
  if (protocol !== undefined && !['plaintext', 'ssl', 'sasl_plaintext', 'sasl_ssl'].includes(protocol)) {
    throw new ConfigError(property('security.protocol'), `must be plaintext, ssl, sasl_plaintext or sasl_ssl, got ${JSON.stringify(protocolText)}`);
  }
  if (protocol !== undefined) set('ssl', protocol === 'ssl' || protocol === 'sasl_ssl', property('security.protocol'));
  if (username !== '') {
    const mechanismName = consumer.has('sasl.mechanisms') ? 'sasl.mechanisms' : consumer.has('sasl.mechanism') ? 'sasl.mechanism' : null;
    const mechanism = (mechanismName ? consumer.get(mechanismName)! : 'SCRAM-SHA-512').toLowerCase();
    if (mechanism !== 'plain' && mechanism !== 'scram-sha-256' && mechanism !== 'scram-sha-512') {
      throw new ConfigError(property(mechanismName ?? 'sasl.mechanisms'), `must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (GSSAPI is not supported; for OAUTHBEARER use createKafkaReplicator with sasl.oauthBearerProvider), got ${JSON.stringify(consumer.get(mechanismName ?? ''))}`);
    }
    set('sasl', { mechanism: mechanism as PasswordSaslMechanism, username, password }, `${KAFKA}.username`);
  } else if (protocol === 'sasl_plaintext' || protocol === 'sasl_ssl') {
    throw new ConfigError(`${KAFKA}.username`, `is required with security.protocol ${protocolText}`);
  }
  const tls = tlsFromProperties(consumer, protocol === 'ssl' || protocol === 'sasl_ssl', property, notes, origins);
  if (tls) kafka.tls = tls;

  const producerKey = `${KAFKA}.producerConfigOverrides`;
  for (const name of propertyMap(producerKey, input.producerConfigOverrides).keys()) {
    const key = `${producerKey}["${name}"]`;
    checkPropertyName(key, name);
    notes.push({ level: 'debug', key, message: 'ignored: the replicator does not produce to the certification topic' });
  }
  if (given(input.producerSendTimeoutMs)) {
    if (typeof input.producerSendTimeoutMs !== 'number' || !Number.isInteger(input.producerSendTimeoutMs) || input.producerSendTimeoutMs < 0) {
      throw new ConfigError(`${KAFKA}.producerSendTimeoutMs`, `must be a whole number of milliseconds, got ${JSON.stringify(input.producerSendTimeoutMs)}`);
    }
    notes.push({ level: 'debug', key: `${KAFKA}.producerSendTimeoutMs`, message: 'ignored: the replicator does not produce' });
  }
  const logLevel = text(`${KAFKA}.logLevel`, input.logLevel);
  if (logLevel !== undefined) {
    notes.push({ level: 'debug', key: `${KAFKA}.logLevel`, message: "ignored: kafkajs' messages go to the replicator's logger (errors and warnings as warn, the rest as debug)" });
  }
  return { kafka, notes, origins };
}

/**
 * The TLS parts the overrides give. librdkafka reads them only with security.protocol ssl or
 * sasl_ssl; with any other protocol they are ignored here too, with a warning.
 */
function tlsFromProperties(
  consumer: ReadonlyMap<string, string>,
  usesTls: boolean,
  property: (name: string) => string,
  notes: SettingNote[],
  origins: Record<string, string>,
): KafkaTlsInput | undefined {
  const tls: Record<string, unknown> = {};
  for (const [name, part, form] of TLS_PROPERTIES) {
    const value = consumer.get(name);
    if (value === undefined) continue;
    const key = property(name);
    if (!usesTls) {
      notes.push({ level: 'warn', key, message: 'ignored: security.protocol is not ssl or sasl_ssl, so the connection is not TLS' });
      continue;
    }
    if (tls[part] !== undefined) throw new ConfigError(key, `sets tls.${part}, which ${origins[`tls.${part}`]} sets already; give one of them`);
    if (form === 'file' && value === 'probe') {
      // librdkafka's "probe" looks for the system's CA bundle; Node's bundled CAs play that part.
      notes.push({ level: 'debug', key, message: "\"probe\": the brokers' certificates are checked against Node's bundled CAs" });
      continue;
    }
    if (form === 'boolean' && value !== 'true' && value !== 'false') throw new ConfigError(key, `must be true or false, got ${JSON.stringify(value)}`);
    tls[part] = form === 'file' ? { file: value } : form === 'pem' ? { pem: value } : form === 'boolean' ? value === 'true' : value;
    origins[`tls.${part}`] = key;
  }
  return Object.keys(tls).length > 0 ? (tls as KafkaTlsInput) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Replicator

const REPLICATOR = 'replicatorConfig';

/** The SDK's `JsReplicatorConfig` as this package's `ReplicatorConfigInput`. Throws a ConfigError for a misspelt field. */
export function replicatorConfigFromSdk(input: JsReplicatorConfig): MappedReplicatorConfig {
  if (!isPlainObject(input)) throw new ConfigError(REPLICATOR, `must be an object (the Talos SDK's JsReplicatorConfig), got ${JSON.stringify(input)}`);
  rejectUnknownKeys(REPLICATOR, input, REPLICATOR_KEYS, 'JsReplicatorConfig');
  const notes: SettingNote[] = [];
  const config: Record<string, unknown> = {};
  for (const key of SAME_NAME_KEYS) if (given(input[key])) config[key] = input[key];

  for (const key of ['suffixPruneThreshold', 'suffixMinimumSizeOnPrune'] as const) {
    const value = input[key];
    if (!given(value)) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw new ConfigError(`${REPLICATOR}.${key}`, `must be a non-negative integer, got ${JSON.stringify(value)}`);
    notes.push({ level: 'debug', key: `${REPLICATOR}.${key}`, message: 'ignored: the suffix is pruned as soon as the snapshot passes its head' });
  }

  const otel = input.otelTelemetry as unknown;
  if (given(otel)) {
    const key = `${REPLICATOR}.otelTelemetry`;
    if (!isPlainObject(otel)) throw new ConfigError(key, `must be an object (JsCohortOtelConfig), got ${JSON.stringify(otel)}`);
    rejectUnknownKeys(key, otel, OTEL_KEYS, 'JsCohortOtelConfig');
    for (const flag of ['initOtel', 'enableMetrics', 'enableTraces'] as const) {
      if (given(otel[flag]) && typeof otel[flag] !== 'boolean') throw new ConfigError(`${key}.${flag}`, `must be a boolean, got ${JSON.stringify(otel[flag])}`);
    }
    text(`${key}.name`, otel.name);
    text(`${key}.grpcEndpoint`, otel.grpcEndpoint);
    const exporting = otel.enableMetrics === true || otel.enableTraces === true;
    notes.push(
      exporting
        ? { level: 'warn', key, message: 'ignored: this package does not export OpenTelemetry metrics or traces over OTLP; no collector will receive data from the replicator' }
        : { level: 'debug', key, message: 'ignored: nothing to initialise with metrics and traces off' },
    );
  }
  return { config: config as ReplicatorConfigInput, notes };
}
