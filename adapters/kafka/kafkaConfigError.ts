/**
 * The error every bad Kafka setting raises, naming the setting and where a command-line user sets
 * it (flag and environment variable).
 */
import { ConfigError } from '../../machines/config.js';

/** Where each setting comes from on the command line, so an error names the flag and the variable. */
const SOURCES: Readonly<Record<string, string>> = {
  brokers: '--brokers, KAFKA_BROKERS',
  topic: '--topic, KAFKA_TOPIC',
  groupId: '--group, KAFKA_GROUP_ID',
  clientId: '--client-id, KAFKA_CLIENT_ID',
  deadLetterTopic: '--dead-letter-topic, KAFKA_DEAD_LETTER_TOPIC',
  'sasl.mechanism': '--sasl-mechanism, KAFKA_SASL_MECHANISM',
  'sasl.username': '--sasl-username, KAFKA_SASL_USERNAME',
  'sasl.password': '--sasl-password, KAFKA_SASL_PASSWORD',
  'sasl.oauthBearerProvider': '--sasl-oauthbearer-provider, KAFKA_SASL_OAUTHBEARER_PROVIDER',
  sessionTimeoutMs: '--session-timeout-ms, KAFKA_SESSION_TIMEOUT_MS',
  heartbeatIntervalMs: 'KAFKA_HEARTBEAT_INTERVAL_MS',
  rebalanceTimeoutMs: 'KAFKA_REBALANCE_TIMEOUT_MS',
  maxWaitTimeMs: 'KAFKA_MAX_WAIT_TIME_MS',
  ssl: '--ssl, KAFKA_SSL',
  'tls.ca': '--ssl-ca, KAFKA_SSL_CA_FILE',
  'tls.cert': '--ssl-cert, KAFKA_SSL_CERT_FILE',
  'tls.key': '--ssl-key, KAFKA_SSL_KEY_FILE',
  'tls.keyPassword': 'KAFKA_SSL_KEY_PASSWORD',
};

/** A bad Kafka setting: `invalid Kafka setting "topic" (--topic, KAFKA_TOPIC): is required`. */
export class KafkaConfigError extends ConfigError {
  constructor(key: string, reason: string) {
    super(key, reason, `invalid Kafka setting "${key}"${SOURCES[key] ? ` (${SOURCES[key]})` : ''}`);
    this.name = 'KafkaConfigError';
  }
}
