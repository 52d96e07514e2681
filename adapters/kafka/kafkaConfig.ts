/**
 * Every Kafka setting of the replicator: names, defaults, environment variables and validation.
 * `resolveKafkaConfig` is the only place that reads them; flags win over the environment.
 * Secrets are kept out of `describeKafkaConfig`, the only form that is ever logged.
 */
import { KafkaConfigError } from './kafkaConfigError.js';
import { describeKafkaTls, kafkaTlsEnvironment, kafkaTlsFromEnvironment, resolveKafkaTls, type KafkaTls, type KafkaTlsInput } from './kafkaTls.js';

export { KafkaConfigError } from './kafkaConfigError.js';

/** The mechanisms that authenticate with a user name and a password. */
export type PasswordSaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';
export type SaslMechanism = PasswordSaslMechanism | 'oauthbearer';

/**
 * What an OAUTHBEARER token provider returns (kafkajs' shape): the token, and optional SASL
 * extensions (Confluent Cloud's `logicalCluster` and `identityPoolId`, for instance).
 */
export interface OAuthBearerToken {
  readonly value: string;
  readonly extensions?: Readonly<Record<string, string>>;
}

/**
 * Called by kafkajs at every (re)authentication of every broker connection, so it should cache
 * the token and fetch a new one shortly before it expires (as AWS's `aws-msk-iam-sasl-signer-js`
 * or an OAuth client-credentials call would).
 */
export type OAuthBearerProvider = () => Promise<OAuthBearerToken>;

export type KafkaSasl =
  | { readonly mechanism: PasswordSaslMechanism; readonly username: string; readonly password: string }
  | { readonly mechanism: 'oauthbearer'; readonly oauthBearerProvider: OAuthBearerProvider };

/**
 * SASL as given, possibly in parts from different places (flags, environment). SASL is on when
 * any part is given: OAUTHBEARER when a provider is (and no mechanism says otherwise), else PLAIN.
 * `oauthBearerProviderModule` is the command line's form of the provider (a module path), which
 * `loadOAuthBearerProviderModule` turns into `oauthBearerProvider` before the config is resolved.
 */
export interface KafkaSaslInput {
  readonly mechanism?: string | undefined;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  readonly oauthBearerProvider?: OAuthBearerProvider | undefined;
  readonly oauthBearerProviderModule?: string | undefined;
}

export interface KafkaConfig {
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly groupId: string;
  readonly clientId: string;
  /** TLS towards the brokers; null: plaintext. */
  readonly ssl: KafkaTls | null;
  readonly sasl: KafkaSasl | null;
  /** Where the dead-letter copies of malformed records go; null: nowhere (they are still logged and counted). */
  readonly deadLetterTopic: string | null;
  /**
   * A member that stops heart-beating for this long is evicted and another member takes over.
   * Kafka's 30 s default is long for a replicator; 10 s keeps failover quick without flapping.
   */
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly rebalanceTimeoutMs: number;
  /** How long a fetch waits for data when the topic is idle. */
  readonly maxWaitTimeMs: number;
  /** Reconnect backoff (kafkajs retry): first delay and ceiling. Retries never give up. */
  readonly initialRetryTimeMs: number;
  readonly maxRetryTimeMs: number;
  readonly connectionTimeoutMs: number;
  readonly requestTimeoutMs: number;
}

export type KafkaConfigInput = { readonly [K in Exclude<keyof KafkaConfig, 'sasl' | 'ssl'>]?: KafkaConfig[K] | undefined } & {
  /**
   * TLS on (with Node's CAs unless `tls` says otherwise); any `tls` part turns it on too. A
   * resolved `KafkaTls` (from an earlier `resolveKafkaConfig`) is kept as it is, so resolving a
   * resolved config changes nothing.
   */
  readonly ssl?: boolean | KafkaTls | null | undefined;
  /** Certificates to trust and the client certificate for mutual TLS (see kafkaTls.ts). */
  readonly tls?: KafkaTlsInput | undefined;
  /** See `KafkaSaslInput`. A resolved `KafkaSasl` is accepted as it is. */
  readonly sasl?: KafkaSaslInput | KafkaSasl | null | undefined;
};

export const defaultKafkaConfig = {
  clientId: 'talos-cohort-replicator',
  ssl: null,
  sasl: null,
  deadLetterTopic: null,
  sessionTimeoutMs: 10_000,
  heartbeatIntervalMs: 1_000,
  rebalanceTimeoutMs: 20_000,
  maxWaitTimeMs: 500,
  initialRetryTimeMs: 300,
  maxRetryTimeMs: 30_000,
  connectionTimeoutMs: 3_000,
  requestTimeoutMs: 30_000,
} as const satisfies Partial<KafkaConfig>;

/** The environment variable of each setting that has one. */
export const kafkaEnvironment = {
  brokers: 'KAFKA_BROKERS',
  topic: 'KAFKA_TOPIC',
  groupId: 'KAFKA_GROUP_ID',
  clientId: 'KAFKA_CLIENT_ID',
  ssl: 'KAFKA_SSL',
  deadLetterTopic: 'KAFKA_DEAD_LETTER_TOPIC',
  saslMechanism: 'KAFKA_SASL_MECHANISM',
  saslUsername: 'KAFKA_SASL_USERNAME',
  saslPassword: 'KAFKA_SASL_PASSWORD',
  saslOAuthBearerProvider: 'KAFKA_SASL_OAUTHBEARER_PROVIDER',
  sessionTimeoutMs: 'KAFKA_SESSION_TIMEOUT_MS',
  heartbeatIntervalMs: 'KAFKA_HEARTBEAT_INTERVAL_MS',
  rebalanceTimeoutMs: 'KAFKA_REBALANCE_TIMEOUT_MS',
  maxWaitTimeMs: 'KAFKA_MAX_WAIT_TIME_MS',
  ...kafkaTlsEnvironment,
} as const;

const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;
const BROKER = /^[^\s:,]+:\d{1,5}$/;

function requiredText(key: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') throw new KafkaConfigError(key, 'is required');
  return value.trim();
}

function topicName(key: string, value: unknown): string {
  const name = requiredText(key, value);
  if (!TOPIC.test(name)) throw new KafkaConfigError(key, `must be a Kafka topic name (letters, digits, ".", "_", "-"), got ${JSON.stringify(name)}`);
  return name;
}

function milliseconds(key: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new KafkaConfigError(key, `must be a positive integer number of milliseconds, got ${JSON.stringify(value)}`);
  return value;
}

function brokers(value: unknown): string[] {
  const list = typeof value === 'string' ? value.split(',') : Array.isArray(value) ? (value as unknown[]) : [];
  const trimmed = list.map((entry) => (typeof entry === 'string' ? entry.trim() : entry)).filter((entry) => entry !== '');
  if (trimmed.length === 0) throw new KafkaConfigError('brokers', 'is required (host:port[,host:port])');
  for (const broker of trimmed) {
    if (typeof broker !== 'string' || !BROKER.test(broker)) throw new KafkaConfigError('brokers', `each broker must be host:port, got ${JSON.stringify(broker)}`);
  }
  return trimmed as string[];
}

const PASSWORD_MECHANISMS: readonly string[] = ['plain', 'scram-sha-256', 'scram-sha-512'] satisfies PasswordSaslMechanism[];

function sasl(value: KafkaSaslInput | KafkaSasl | null | undefined): KafkaSasl | null {
  if (value === null || value === undefined) return null;
  const given = value as KafkaSaslInput;
  const provider = given.oauthBearerProvider;
  const withProvider = provider !== undefined || given.oauthBearerProviderModule !== undefined;
  // A mechanism alone asks for SASL too: it is refused below for what it lacks, not ignored.
  if (!given.username && !given.password && !withProvider && !given.mechanism) return null;
  const mechanism = String(given.mechanism ?? (withProvider ? 'oauthbearer' : 'plain')).toLowerCase();
  if (mechanism === 'oauthbearer') {
    if (given.username || given.password) throw new KafkaConfigError(given.username ? 'sasl.username' : 'sasl.password', 'is not used with the oauthbearer mechanism (the token provider authenticates)');
    if (provider === undefined) {
      throw new KafkaConfigError(
        'sasl.oauthBearerProvider',
        given.oauthBearerProviderModule === undefined
          ? 'is required with the oauthbearer mechanism'
          : `the module ${JSON.stringify(given.oauthBearerProviderModule)} was not loaded (loadOAuthBearerProviderModule), or pass the function itself`,
      );
    }
    if (typeof provider !== 'function') throw new KafkaConfigError('sasl.oauthBearerProvider', `must be a function returning a promise of { value: token }, got ${typeof provider}`);
    return { mechanism, oauthBearerProvider: provider };
  }
  if (!PASSWORD_MECHANISMS.includes(mechanism)) {
    throw new KafkaConfigError('sasl.mechanism', `must be plain, scram-sha-256, scram-sha-512 or oauthbearer, got ${JSON.stringify(given.mechanism)}`);
  }
  if (withProvider) throw new KafkaConfigError('sasl.oauthBearerProvider', `is only used with the oauthbearer mechanism, not ${mechanism}`);
  return { mechanism: mechanism as PasswordSaslMechanism, username: requiredText('sasl.username', given.username), password: requiredText('sasl.password', given.password) };
}

/** Validates Kafka settings and fills in defaults; throws a ConfigError naming the first bad key. */
export function resolveKafkaConfig(input: KafkaConfigInput): KafkaConfig {
  const topic = topicName('topic', input.topic);
  const deadLetterTopic = input.deadLetterTopic === undefined || input.deadLetterTopic === null || input.deadLetterTopic === '' ? null : topicName('deadLetterTopic', input.deadLetterTopic);
  if (deadLetterTopic === topic) throw new KafkaConfigError('deadLetterTopic', 'must differ from the certification topic');
  const config: KafkaConfig = {
    brokers: brokers(input.brokers),
    topic,
    groupId: requiredText('groupId', input.groupId),
    clientId: input.clientId === undefined ? defaultKafkaConfig.clientId : requiredText('clientId', input.clientId),
    ssl: resolveKafkaTls(input.ssl, input.tls),
    sasl: sasl(input.sasl),
    deadLetterTopic,
    sessionTimeoutMs: milliseconds('sessionTimeoutMs', input.sessionTimeoutMs, defaultKafkaConfig.sessionTimeoutMs),
    heartbeatIntervalMs: milliseconds('heartbeatIntervalMs', input.heartbeatIntervalMs, defaultKafkaConfig.heartbeatIntervalMs),
    rebalanceTimeoutMs: milliseconds('rebalanceTimeoutMs', input.rebalanceTimeoutMs, defaultKafkaConfig.rebalanceTimeoutMs),
    maxWaitTimeMs: milliseconds('maxWaitTimeMs', input.maxWaitTimeMs, defaultKafkaConfig.maxWaitTimeMs),
    initialRetryTimeMs: milliseconds('initialRetryTimeMs', input.initialRetryTimeMs, defaultKafkaConfig.initialRetryTimeMs),
    maxRetryTimeMs: milliseconds('maxRetryTimeMs', input.maxRetryTimeMs, defaultKafkaConfig.maxRetryTimeMs),
    connectionTimeoutMs: milliseconds('connectionTimeoutMs', input.connectionTimeoutMs, defaultKafkaConfig.connectionTimeoutMs),
    requestTimeoutMs: milliseconds('requestTimeoutMs', input.requestTimeoutMs, defaultKafkaConfig.requestTimeoutMs),
  };
  if (config.heartbeatIntervalMs >= config.sessionTimeoutMs) throw new KafkaConfigError('heartbeatIntervalMs', `must be below sessionTimeoutMs (${config.sessionTimeoutMs})`);
  if (config.maxRetryTimeMs < config.initialRetryTimeMs) throw new KafkaConfigError('maxRetryTimeMs', 'must not be below initialRetryTimeMs');
  return config;
}

function envInteger(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  if (!/^\d+$/.test(text)) throw new KafkaConfigError(name, `must be a positive integer, got ${JSON.stringify(text)}`);
  return Number(text);
}

function envBoolean(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const text = env[name]?.toLowerCase();
  if (text === undefined || text === '') return undefined;
  if (['1', 'true', 'yes'].includes(text)) return true;
  if (['0', 'false', 'no'].includes(text)) return false;
  throw new KafkaConfigError(name, `must be true or false, got ${JSON.stringify(env[name])}`);
}

/** The settings the environment gives (unset variables are left out, so flags and defaults apply). */
export function kafkaConfigFromEnvironment(env: NodeJS.ProcessEnv = process.env): KafkaConfigInput {
  const e = kafkaEnvironment;
  return {
    brokers: env[e.brokers] === undefined || env[e.brokers] === '' ? undefined : env[e.brokers]!.split(','),
    topic: env[e.topic] || undefined,
    groupId: env[e.groupId] || undefined,
    clientId: env[e.clientId] || undefined,
    ssl: envBoolean(env, e.ssl),
    tls: kafkaTlsFromEnvironment(env),
    deadLetterTopic: env[e.deadLetterTopic] || undefined,
    sasl: saslParts({
      mechanism: env[e.saslMechanism],
      username: env[e.saslUsername],
      password: env[e.saslPassword],
      oauthBearerProviderModule: env[e.saslOAuthBearerProvider],
    }),
    sessionTimeoutMs: envInteger(env, e.sessionTimeoutMs),
    heartbeatIntervalMs: envInteger(env, e.heartbeatIntervalMs),
    rebalanceTimeoutMs: envInteger(env, e.rebalanceTimeoutMs),
    maxWaitTimeMs: envInteger(env, e.maxWaitTimeMs),
  };
}

/** The SASL parts given (empty strings count as not given); undefined when none is. */
export function saslParts(parts: KafkaSaslInput): KafkaSaslInput | undefined {
  const given = Object.fromEntries(Object.entries(parts).filter(([, value]) => value !== undefined && value !== '')) as KafkaSaslInput;
  return Object.keys(given).length > 0 ? given : undefined;
}

/** `base` with every key that `top` sets (to anything but undefined) taken from `top`. */
function overlay<T extends object>(base: T, top: T): T {
  const merged: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(top)) if (value !== undefined) merged[key] = value;
  return merged as T;
}

/**
 * Flags over environment: every key a flag sets replaces the environment's, and so does every
 * SASL and TLS part (a flag's certificate file keeps the environment's CA).
 */
export function mergeKafkaInputs(environment: KafkaConfigInput, flags: KafkaConfigInput): KafkaConfigInput {
  return {
    ...overlay(environment, flags),
    ...(environment.sasl && flags.sasl ? { sasl: overlay<KafkaSaslInput>(environment.sasl, saslParts(flags.sasl) ?? {}) } : {}),
    ...(environment.tls && flags.tls ? { tls: overlay(environment.tls, flags.tls) } : {}),
  };
}

/** The config as it may be logged: the SASL password, the token provider, key password and PEM text never appear. */
export function describeKafkaConfig(config: KafkaConfig): Record<string, unknown> {
  return { ...config, ssl: describeKafkaTls(config.ssl), sasl: describeSasl(config.sasl) };
}

function describeSasl(sasl: KafkaSasl | null): Record<string, unknown> | null {
  if (sasl === null) return null;
  if (sasl.mechanism === 'oauthbearer') return { mechanism: sasl.mechanism, oauthBearerProvider: '[function]' };
  return { mechanism: sasl.mechanism, username: sasl.username, password: '[redacted]' };
}
