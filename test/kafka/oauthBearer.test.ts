/**
 * SASL OAUTHBEARER (MSK IAM, Confluent Cloud, any OAuth-fronted Kafka): the settings that turn it
 * on and the ones that are refused, and what reaches the wire. The wire half uses a protocol fake
 * (test/support/kafka/saslProbeBroker.ts), since the librdkafka mock cluster has no SASL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createKafkaClient } from '../../adapters/kafka/kafkaClient.js';
import { describeKafkaConfig, kafkaConfigFromEnvironment, mergeKafkaInputs, resolveKafkaConfig, type KafkaConfigInput, type OAuthBearerProvider } from '../../adapters/kafka/kafkaConfig.js';
import { silentLogger } from '../../adapters/logging.js';
import { startSaslProbeBroker } from '../support/kafka/saslProbeBroker.js';

const BASE = { brokers: ['127.0.0.1:9092'], topic: 'certification', groupId: 'cohort' } as const;
const provider: OAuthBearerProvider = async () => ({ value: 'token-1' });

test('a token provider alone turns on OAUTHBEARER; the resolved config logs no function', () => {
  const config = resolveKafkaConfig({ ...BASE, sasl: { oauthBearerProvider: provider } });
  assert.equal(config.sasl?.mechanism, 'oauthbearer');
  assert.equal(config.sasl?.mechanism === 'oauthbearer' && config.sasl.oauthBearerProvider, provider);
  assert.deepEqual(describeKafkaConfig(config).sasl, { mechanism: 'oauthbearer', oauthBearerProvider: '[function]' });
  // Resolving a resolved config changes nothing.
  assert.deepEqual(resolveKafkaConfig(config), config);
  // Password mechanisms are as before.
  assert.deepEqual(resolveKafkaConfig({ ...BASE, sasl: { username: 'u', password: 'p' } }).sasl, { mechanism: 'plain', username: 'u', password: 'p' });
});

test('OAUTHBEARER settings that cannot work are refused, naming the setting and its flag', () => {
  const refused: ReadonlyArray<[string, KafkaConfigInput['sasl'], RegExp]> = [
    ['oauthbearer without a provider', { mechanism: 'OAUTHBEARER', username: undefined }, /invalid Kafka setting "sasl.oauthBearerProvider" \(--sasl-oauthbearer-provider, KAFKA_SASL_OAUTHBEARER_PROVIDER\): is required with the oauthbearer mechanism/],
    ['a provider with a password mechanism', { mechanism: 'scram-sha-512', username: 'u', password: 'p', oauthBearerProvider: provider }, /"sasl.oauthBearerProvider" .*: is only used with the oauthbearer mechanism, not scram-sha-512/],
    ['a user name with a provider', { username: 'u', oauthBearerProvider: provider }, /"sasl.username" \(--sasl-username, KAFKA_SASL_USERNAME\): is not used with the oauthbearer mechanism/],
    ['a provider that is not a function', { oauthBearerProvider: 'token-1' as never }, /"sasl.oauthBearerProvider" .*: must be a function returning a promise of \{ value: token \}, got string/],
    ['a provider module nobody loaded', { oauthBearerProviderModule: './provider.mjs' }, /"sasl.oauthBearerProvider" .*: the module "\.\/provider\.mjs" was not loaded/],
    ['an unknown mechanism', { mechanism: 'gssapi', username: 'u', password: 'p' }, /"sasl.mechanism" .*: must be plain, scram-sha-256, scram-sha-512 or oauthbearer, got "gssapi"/],
  ];
  for (const [name, sasl, error] of refused) {
    assert.throws(() => resolveKafkaConfig({ ...BASE, sasl }), error, name);
  }
});

test("kafkajs authenticates with the provider's token and extensions, and the broker's refusal is the connect error", async (t) => {
  const broker = await startSaslProbeBroker({ offer: ['PLAIN', 'OAUTHBEARER'], refusal: 'token expired' });
  t.after(() => broker.close());
  let calls = 0;
  const kafka = createKafkaClient(
    resolveKafkaConfig({
      ...BASE,
      brokers: [broker.address],
      connectionTimeoutMs: 2_000,
      sasl: {
        oauthBearerProvider: async () => {
          calls += 1;
          return { value: `token-${calls}`, extensions: { logicalCluster: 'lkc-42' } };
        },
      },
    }),
    silentLogger,
  );
  const admin = kafka.admin();
  await assert.rejects(admin.connect(), /SASL OAUTHBEARER authentication failed: token expired/);
  await admin.disconnect();
  assert.deepEqual(broker.handshakes, ['OAUTHBEARER']);
  assert.equal(broker.authentications.length, 1);
  // RFC 7628's client response: GS2 header, then the token and the extensions between SOH separators.
  assert.equal(broker.authentications[0], 'n,,\u0001auth=Bearer token-1\u0001logicalCluster=lkc-42\u0001\u0001');
  assert.equal(calls, 1);
});

test('a provider that returns no token, or fails, is named in the error and nothing is sent', async (t) => {
  const broker = await startSaslProbeBroker({ offer: ['OAUTHBEARER'], refusal: 'unexpected' });
  t.after(() => broker.close());
  const cases: ReadonlyArray<[OAuthBearerProvider, RegExp]> = [
    [async () => 'bare-token' as never, /the OAuth bearer token provider must return \{ value: "<token>" \}, got a string \(return \{ value: token \} instead\)/],
    [async () => ({ value: '' }), /must return \{ value: "<token>" \}, got an object whose value is ""/],
    [async () => undefined as never, /must return \{ value: "<token>" \}, got undefined/],
    [
      async () => {
        throw new Error('identity endpoint returned 503');
      },
      /the OAuth bearer token provider failed: identity endpoint returned 503/,
    ],
  ];
  for (const [oauthBearerProvider, error] of cases) {
    const kafka = createKafkaClient(resolveKafkaConfig({ ...BASE, brokers: [broker.address], connectionTimeoutMs: 2_000, initialRetryTimeMs: 1, maxRetryTimeMs: 5, sasl: { oauthBearerProvider } }), silentLogger);
    const admin = kafka.admin();
    await assert.rejects(admin.connect(), error);
    await admin.disconnect();
  }
  assert.equal(broker.authentications.length, 0);
});

test('flags over environment, part by part: a provider module from a flag replaces the environment one, an empty flag part keeps the environment value', () => {
  const environment = kafkaConfigFromEnvironment({ KAFKA_SASL_OAUTHBEARER_PROVIDER: './env-token.mjs', KAFKA_SASL_MECHANISM: 'oauthbearer' });
  assert.deepEqual(environment.sasl, { mechanism: 'oauthbearer', oauthBearerProviderModule: './env-token.mjs' });
  assert.deepEqual(mergeKafkaInputs(environment, { sasl: { oauthBearerProviderModule: './flag-token.mjs', mechanism: '' } }).sasl, {
    mechanism: 'oauthbearer',
    oauthBearerProviderModule: './flag-token.mjs',
  });
});
