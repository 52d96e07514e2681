/**
 * The test-only TLS material in test/support/tls (see its README): paths and PEM text. The files
 * live in the source tree; the tests run from dist/.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const FIXTURES = fileURLToPath(new URL('../../../test/support/tls/', import.meta.url));

/** The path of one fixture file, e.g. `ca.pem`. */
export const fixture = (name: string): string => path.join(FIXTURES, name);

/** The PEM text of one fixture file. */
export const pem = (name: string): string => readFileSync(fixture(name), 'utf8');

/** The password `client.encrypted.key` is encrypted with. */
export const KEY_PASSWORD = 'key-Secret-42';
