/**
 * The flags that say how to reach the certification topic, shared by `run` and `status`: add
 * them with `addKafkaConnectionOptions(command)`, turn what was given into settings with
 * `kafkaConnectionInput(flags)`. Only the parts given as flags end up there: the environment
 * supplies the rest (see mergeKafkaInputs), so both commands read the same variables.
 */
import type { Command } from 'commander';
import { saslParts, type KafkaConfigInput } from '../kafka/kafkaConfig.js';
import { kafkaTlsFiles } from '../kafka/kafkaTls.js';

export interface KafkaConnectionFlags {
  brokers?: string;
  topic?: string;
  group?: string;
  clientId?: string;
  saslUsername?: string;
  saslPassword?: string;
  saslMechanism?: string;
  saslOauthbearerProvider?: string;
  ssl?: boolean;
  sslCa?: string;
  sslCert?: string;
  sslKey?: string;
}

export function addKafkaConnectionOptions(command: Command): Command {
  return command
    .option('--brokers <list>', 'Kafka brokers host:port[,host:port] (env KAFKA_BROKERS)')
    .option('--topic <name>', 'the certification topic (env KAFKA_TOPIC)')
    .option('--group <id>', 'consumer group shared by the replicators of this cohort (env KAFKA_GROUP_ID)')
    .option('--client-id <id>', 'Kafka client id (env KAFKA_CLIENT_ID, default talos-cohort-replicator)')
    .option('--sasl-username <user>', 'SASL user name (env KAFKA_SASL_USERNAME)')
    .option('--sasl-password <password>', 'SASL password (env KAFKA_SASL_PASSWORD; never logged)')
    .option('--sasl-mechanism <mechanism>', 'plain, scram-sha-256, scram-sha-512 or oauthbearer (env KAFKA_SASL_MECHANISM, default plain, or oauthbearer with a token provider)')
    .option('--sasl-oauthbearer-provider <module>', 'SASL OAUTHBEARER: ES or CommonJS module exporting oauthBearerProvider(), resolving to { value: token } (env KAFKA_SASL_OAUTHBEARER_PROVIDER)')
    .option('--ssl', 'connect to the brokers with TLS (env KAFKA_SSL)')
    .option('--ssl-ca <file>', "PEM certificates to trust instead of Node's bundled CAs; implies --ssl (env KAFKA_SSL_CA_FILE)")
    .option('--ssl-cert <file>', 'PEM client certificate for brokers that require mutual TLS, with --ssl-key; implies --ssl (env KAFKA_SSL_CERT_FILE)')
    .option('--ssl-key <file>', 'PEM private key of --ssl-cert (env KAFKA_SSL_KEY_FILE; an encrypted key takes its password from KAFKA_SSL_KEY_PASSWORD)');
}

export function kafkaConnectionInput(flags: KafkaConnectionFlags): KafkaConfigInput {
  return {
    brokers: flags.brokers?.split(','),
    topic: flags.topic,
    groupId: flags.group,
    clientId: flags.clientId,
    ssl: flags.ssl,
    tls: kafkaTlsFiles({ ca: flags.sslCa, cert: flags.sslCert, key: flags.sslKey }),
    sasl: saslParts({
      mechanism: flags.saslMechanism,
      username: flags.saslUsername,
      password: flags.saslPassword,
      oauthBearerProviderModule: flags.saslOauthbearerProvider,
    }),
  };
}
