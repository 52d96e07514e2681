/**
 * TLS material from files, checked the way the TLS socket will use it, for the Kafka and the
 * Postgres settings alike. Each check fails through the caller's `fail`, so the error names the
 * caller's setting (a flag, an environment variable).
 */
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';

/** Raises the caller's configuration error with `reason`. */
export type Fail = (reason: string) => never;

const CERTIFICATE = '-----BEGIN CERTIFICATE-----';

/** The text of a PEM file, or `fail` with the path and the system's reason (ENOENT, EACCES, ...). */
export function readPemFile(file: string, fail: Fail): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    return fail(`cannot read ${JSON.stringify(file)}: ${code ?? message}`);
  }
}

/** Loads `options` into a TLS context as a socket would, so a bad part fails now rather than at every handshake. */
function checkLoads(options: SecureContextOptions, origin: string, what: string, fail: Fail): void {
  try {
    createSecureContext(options);
  } catch (error) {
    fail(`${origin}: ${what} (${(error as Error).message})`);
  }
}

function checkHoldsCertificate(pem: string, origin: string, fail: Fail): void {
  if (!pem.includes(CERTIFICATE)) fail(`${origin}: holds no PEM certificate (${CERTIFICATE})`);
}

/** Certificates to trust: at least one PEM certificate, all loadable (otherwise nothing would be trusted, silently). */
export function checkCertificates(pem: string, origin: string, fail: Fail): void {
  checkHoldsCertificate(pem, origin, fail);
  checkLoads({ ca: pem }, origin, 'not a usable PEM certificate', fail);
}

/**
 * A client certificate and its private key: the certificate loads, and the key (decrypted with
 * `passphrase`) is its own. `encryptedHint`: what to say of a key that may be encrypted when no
 * passphrase was given (how to give one).
 */
export function checkKeyPair(
  cert: { readonly pem: string; readonly origin: string },
  key: { readonly pem: string; readonly origin: string },
  passphrase: string | null,
  fails: { readonly cert: Fail; readonly key: Fail },
  encryptedHint = 'encrypted',
): void {
  checkHoldsCertificate(cert.pem, cert.origin, fails.cert);
  checkLoads({ cert: cert.pem }, cert.origin, 'not a usable PEM certificate', fails.cert);
  checkLoads(
    { cert: cert.pem, key: key.pem, ...(passphrase === null ? {} : { passphrase }) },
    key.origin,
    `not the private key of ${cert.origin}, not PEM, or ${passphrase === null ? encryptedHint : 'the password is wrong'}`,
    fails.key,
  );
}
