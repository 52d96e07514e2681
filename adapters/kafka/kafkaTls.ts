/**
 * TLS towards the brokers: on or off, which certificates to trust (a private CA), and the client
 * certificate for brokers that require mutual TLS. Files are read, and every certificate and key
 * is loaded into a TLS context, when the settings are resolved: a wrong path, a file that is not
 * PEM, a wrong key password or a key that does not belong to its certificate is reported at start,
 * naming the setting, rather than as a failed handshake on every reconnect.
 */
import type { ConnectionOptions } from 'node:tls';
import { checkCertificates, checkKeyPair, readPemFile, type Fail } from '../files/pem.js';
import { KafkaConfigError } from './kafkaConfigError.js';

/** PEM text, or the file that holds it. */
export type PemInput = { readonly file: string } | { readonly pem: string };

export interface KafkaTlsInput {
  /** Certificates to trust instead of Node's bundled CAs. */
  readonly ca?: PemInput | undefined;
  /** Client certificate (or chain) and its private key, for mutual TLS: both or neither. */
  readonly cert?: PemInput | undefined;
  readonly key?: PemInput | undefined;
  /** Password of an encrypted private key. */
  readonly keyPassword?: string | undefined;
  /** false accepts any broker certificate (librdkafka's `enable.ssl.certificate.verification=false`). Default true. */
  readonly verifyServer?: boolean | undefined;
}

/** The resolved TLS settings: PEM text ready for the TLS socket, and where each part came from. */
export interface KafkaTls {
  /** Certificates to trust; null: Node's bundled CAs. */
  readonly ca: string | null;
  /** Mutual TLS; null: no client certificate. */
  readonly client: { readonly cert: string; readonly key: string; readonly keyPassword: string | null } | null;
  /** Check the broker's certificate chain and host name (true unless switched off). */
  readonly verifyServer: boolean;
  /** For logs: the file each part was read from, or "inline PEM"; never the PEM itself. */
  readonly origins: { readonly ca: string | null; readonly cert: string | null; readonly key: string | null };
}

const PART_NAMES = ['ca', 'cert', 'key', 'keyPassword', 'verifyServer'] as const;

function givenParts(input: KafkaTlsInput | undefined): string[] {
  if (input === undefined) return [];
  return PART_NAMES.filter((name) => input[name] !== undefined && input[name] !== '').map((name) => `tls.${name}`);
}

const failAs =
  (key: string): Fail =>
  (reason) => {
    throw new KafkaConfigError(key, reason);
  };

/** The PEM text of one part, read from its file if it names one, and where it came from. */
function loadPem(key: string, input: PemInput | undefined): { readonly pem: string; readonly origin: string } | null {
  if (input === undefined) return null;
  if (typeof input !== 'object' || input === null) throw new KafkaConfigError(key, `must be { file } or { pem }, got ${JSON.stringify(input)}`);
  if ('file' in input) {
    if (typeof input.file !== 'string' || input.file.trim() === '') throw new KafkaConfigError(key, `must name a file, got ${JSON.stringify(input.file)}`);
    const file = input.file.trim();
    return { pem: readPemFile(file, failAs(key)), origin: file };
  }
  if ('pem' in input && typeof input.pem === 'string' && input.pem.trim() !== '') return { pem: input.pem, origin: 'inline PEM' };
  throw new KafkaConfigError(key, `must be { file } or { pem } with PEM text, got ${JSON.stringify(input)}`);
}

/**
 * The TLS settings, or null for a plaintext connection. Any TLS part given turns TLS on; `ssl`
 * false together with TLS parts is a contradiction and throws.
 */
export function resolveKafkaTls(ssl: boolean | KafkaTls | null | undefined, input: KafkaTlsInput | undefined): KafkaTls | null {
  const given = givenParts(input);
  if (typeof ssl === 'object' && ssl !== null) {
    if (given.length > 0) throw new KafkaConfigError('tls', `is given together with resolved TLS settings (${given.join(', ')})`);
    return ssl;
  }
  if (ssl !== undefined && typeof ssl !== 'boolean' && ssl !== null) throw new KafkaConfigError('ssl', `must be true or false, got ${JSON.stringify(ssl)}`);
  if ((ssl === false || ssl === null) && given.length > 0) throw new KafkaConfigError('ssl', `is off, but TLS settings are given (${given.join(', ')})`);
  if (ssl !== true && given.length === 0) return null;
  const ca = loadPem('tls.ca', input?.ca);
  const cert = loadPem('tls.cert', input?.cert);
  const key = loadPem('tls.key', input?.key);
  const password: unknown = input?.keyPassword;
  if (password !== undefined && typeof password !== 'string') throw new KafkaConfigError('tls.keyPassword', 'must be a string');
  const keyPassword = password === undefined || password === '' ? null : password;
  if (cert && !key) throw new KafkaConfigError('tls.key', `is required with a client certificate (tls.cert ${cert.origin})`);
  if (key && !cert) throw new KafkaConfigError('tls.cert', `is required with a private key (tls.key ${key.origin})`);
  if (keyPassword !== null && !key) throw new KafkaConfigError('tls.keyPassword', 'is given without a private key (tls.key)');
  const verifyServer = input?.verifyServer ?? true;
  if (typeof verifyServer !== 'boolean') throw new KafkaConfigError('tls.verifyServer', `must be true or false, got ${JSON.stringify(verifyServer)}`);

  if (ca) checkCertificates(ca.pem, ca.origin, failAs('tls.ca'));
  if (cert && key) checkKeyPair(cert, key, keyPassword, { cert: failAs('tls.cert'), key: failAs('tls.key') }, 'encrypted (set tls.keyPassword)');
  return {
    ca: ca?.pem ?? null,
    client: cert && key ? { cert: cert.pem, key: key.pem, keyPassword } : null,
    verifyServer,
    origins: { ca: ca?.origin ?? null, cert: cert?.origin ?? null, key: key?.origin ?? null },
  };
}

/** What kafkajs hands to `tls.connect` (it adds host, port and the server name itself). */
export function kafkaTlsOptions(tls: KafkaTls): ConnectionOptions {
  return {
    rejectUnauthorized: tls.verifyServer,
    ...(tls.ca === null ? {} : { ca: tls.ca }),
    ...(tls.client === null ? {} : { cert: tls.client.cert, key: tls.client.key, ...(tls.client.keyPassword === null ? {} : { passphrase: tls.client.keyPassword }) }),
  };
}

/** The environment variables of the TLS parts. */
export const kafkaTlsEnvironment = {
  sslCaFile: 'KAFKA_SSL_CA_FILE',
  sslCertFile: 'KAFKA_SSL_CERT_FILE',
  sslKeyFile: 'KAFKA_SSL_KEY_FILE',
  sslKeyPassword: 'KAFKA_SSL_KEY_PASSWORD',
} as const;

/** The TLS files given on the command line (`--ssl-ca`, `--ssl-cert`, `--ssl-key`); undefined when none is. */
export function kafkaTlsFiles(files: { readonly ca?: string | undefined; readonly cert?: string | undefined; readonly key?: string | undefined }): KafkaTlsInput | undefined {
  const input: { -readonly [K in keyof KafkaTlsInput]: KafkaTlsInput[K] } = {};
  for (const part of ['ca', 'cert', 'key'] as const) {
    const file = files[part];
    if (file !== undefined && file !== '') input[part] = { file };
  }
  return Object.keys(input).length > 0 ? input : undefined;
}

/** The TLS parts the environment gives; undefined when it gives none. */
export function kafkaTlsFromEnvironment(env: NodeJS.ProcessEnv): KafkaTlsInput | undefined {
  const e = kafkaTlsEnvironment;
  const files = kafkaTlsFiles({ ca: env[e.sslCaFile], cert: env[e.sslCertFile], key: env[e.sslKeyFile] });
  const keyPassword = env[e.sslKeyPassword];
  if (keyPassword === undefined || keyPassword === '') return files;
  return { ...files, keyPassword };
}

/** The TLS settings as they may be logged: file names, never PEM text or the key password. */
export function describeKafkaTls(tls: KafkaTls | null): false | Record<string, unknown> {
  if (tls === null) return false;
  return {
    ca: tls.origins.ca ?? "Node's bundled CAs",
    clientCertificate: tls.origins.cert,
    clientKey: tls.origins.key,
    keyPassword: tls.client?.keyPassword ? '[redacted]' : null,
    verifyServer: tls.verifyServer,
  };
}
