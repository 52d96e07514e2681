/**
 * `--sasl-oauthbearer-provider <module>` (or KAFKA_SASL_OAUTHBEARER_PROVIDER): the user's module
 * exporting `oauthBearerProvider()`, loaded before the Kafka settings are resolved so that a
 * missing file or export is reported at once, not at the first connection.
 */
import type { KafkaConfigInput, KafkaSaslInput, OAuthBearerProvider } from '../kafka/kafkaConfig.js';
import { loadModuleFunction } from './loadModuleFunction.js';

/** `input` with its provider module, if any, loaded into `sasl.oauthBearerProvider`. */
export async function loadOAuthBearerProviderModule(input: KafkaConfigInput): Promise<KafkaConfigInput> {
  const sasl = input.sasl as KafkaSaslInput | null | undefined;
  const path = sasl?.oauthBearerProviderModule;
  if (path === undefined || sasl?.oauthBearerProvider !== undefined) return input;
  const provider = await loadModuleFunction<OAuthBearerProvider>(path, {
    role: 'OAuth bearer token provider module',
    name: 'oauthBearerProvider',
    signature: 'oauthBearerProvider()',
  });
  return { ...input, sasl: { ...sasl, oauthBearerProvider: provider } };
}
