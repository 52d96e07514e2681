/**
 * Certification logs as NDJSON files: one Kafka record per line.
 *
 * Two line formats are read (detected per line):
 * - the project's own envelope, which is also what {@link writeNdjsonLog} writes:
 *   `{"offset":12,"headers":{"messageType":"Candidate"},"value":"<the JSON text as a string>"}`
 * - `kcat -C -J` consumer output:
 *   `{"topic":"t","partition":0,"offset":12,"tstype":"create","ts":1700000000000,"broker":1,
 *     "headers":["messageType","Candidate"],"key":null,"payload":"<value text>"}`
 *   (headers a flat array of alternating names and values; `payload` may be null).
 *
 * Reading streams the file in chunks and never throws on a bad line: a malformed line (not
 * JSON, no usable offset, bad headers, bad value) becomes a {@link LogReject} carrying its line
 * number, so the caller can write a rejects file (see {@link writeRejects}) and go on. Blank
 * lines are skipped. Every valid line becomes a `RawRecord` whose `origin` is `<file>:<line>`.
 *
 * A gzip-compressed file (`kcat ... | gzip > log.ndjson.gz`) is recognised by its first two
 * bytes, whatever its name, and read decompressed; line numbers count decompressed lines.
 * The path `-` reads standard input (plain or gzip), named `stdin` in origins and messages.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import { Observable } from 'rxjs';
import type { RawRecord } from '../../machines/domain.js';

/** Why a line was rejected. */
export type RejectCode = 'not-json' | 'not-object' | 'missing-offset' | 'bad-offset' | 'bad-headers' | 'bad-value';

/** A line that is not a usable record. */
export interface LogReject {
  /** 1-based line number in the input. */
  readonly line: number;
  /** The line's offset, when it could be read. */
  readonly offset?: number | string;
  readonly code: RejectCode;
  /** Human-readable explanation. */
  readonly reason: string;
  /** The line exactly as read (without its line terminator). */
  readonly text: string;
}

/** One non-blank input line: a record or a reject. */
export type LogLine =
  | { readonly kind: 'record'; readonly line: number; readonly record: RawRecord }
  | { readonly kind: 'reject'; readonly reject: LogReject };

/** Line formats {@link writeNdjsonLog} can write. */
export type NdjsonFormat = 'envelope' | 'kcat';

export interface ReadNdjsonOptions {
  /** Name used in each record's `origin` (`<name>:<line>`). Default: the path as given. */
  readonly originName?: string;
  /** Bytes read at a time. Default 64 KiB (larger chunks measured slower). */
  readonly highWaterMark?: number;
}

export interface NdjsonBatchesOptions extends ReadNdjsonOptions {
  /** Records per emitted batch (the last one may be smaller). Default 1000. */
  readonly batchSize?: number;
  /** Called for each rejected line as soon as it is read (records read before it may still sit in the current batch). */
  readonly onReject?: (reject: LogReject) => void;
  /** Awaited before each batch is emitted; lets a message source hold reading while it is paused. */
  readonly gate?: () => void | Promise<void>;
}

export interface WriteNdjsonOptions {
  /** Default `'envelope'`. */
  readonly format?: NdjsonFormat;
  /** kcat format only: `topic` field. Default `'certification'`. */
  readonly topic?: string;
  /** kcat format only: `partition` field. Default 0. */
  readonly partition?: number;
  /** kcat format only: `ts` field (epoch ms). Default 0. */
  readonly timestamp?: number;
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

// ---------------------------------------------------------------------------------------------
// Parsing one line

type Parsed<T> = { ok: true; value: T } | { ok: false; code: RejectCode; reason: string };

function parseOffset(v: unknown): Parsed<number | string> {
  if (v === undefined || v === null) return { ok: false, code: 'missing-offset', reason: 'the line has no offset' };
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v) && v >= 0) return { ok: true, value: v };
    return { ok: false, code: 'bad-offset', reason: `offset ${v} is not a non-negative safe integer` };
  }
  if (typeof v === 'string' && /^\d{1,30}$/.test(v)) {
    const n = Number(v);
    return { ok: true, value: n <= MAX_SAFE ? n : v };
  }
  return { ok: false, code: 'bad-offset', reason: `offset ${truncate(JSON.stringify(v))} is neither a non-negative integer nor a string of digits` };
}

function setHeader(out: Record<string, string | undefined>, name: string, value: string | undefined): void {
  if (name === '__proto__') Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
  else out[name] = value;
}

function parseHeaders(v: unknown): Parsed<Readonly<Record<string, string | undefined>>> {
  if (v === undefined || v === null) return { ok: true, value: {} };
  if (Array.isArray(v)) {
    if (v.length % 2 !== 0) return { ok: false, code: 'bad-headers', reason: `headers array has an odd length (${v.length})` };
    const out: Record<string, string | undefined> = {};
    for (let i = 0; i < v.length; i += 2) {
      const name: unknown = v[i];
      const value: unknown = v[i + 1];
      if (typeof name !== 'string') return { ok: false, code: 'bad-headers', reason: `header name at index ${i} is not a string` };
      if (typeof value !== 'string' && value !== null) {
        return { ok: false, code: 'bad-headers', reason: `header ${JSON.stringify(name)} has a value that is neither a string nor null` };
      }
      setHeader(out, name, value ?? undefined);
    }
    return { ok: true, value: out };
  }
  if (typeof v === 'object') {
    const obj = v as Record<string, unknown>;
    let copy: Record<string, string | undefined> | null = null;
    for (const name of Object.keys(obj)) {
      const value = obj[name];
      if (typeof value === 'string') continue;
      if (value !== null) return { ok: false, code: 'bad-headers', reason: `header ${JSON.stringify(name)} has a value that is neither a string nor null` };
      copy ??= {};
    }
    if (copy === null) return { ok: true, value: obj as Record<string, string> }; // all strings: use as parsed
    for (const name of Object.keys(obj)) setHeader(copy, name, (obj[name] as string | null) ?? undefined);
    return { ok: true, value: copy };
  }
  return { ok: false, code: 'bad-headers', reason: 'headers are neither an object nor an array' };
}

function parseValue(obj: Record<string, unknown>): Parsed<string | null> {
  let v: unknown;
  let field: string;
  if ('value' in obj) {
    v = obj['value'];
    field = 'value';
  } else if ('payload' in obj) {
    v = obj['payload'];
    field = 'payload';
  } else {
    return { ok: false, code: 'bad-value', reason: 'the line has neither "value" nor "payload"' };
  }
  if (typeof v === 'string' || v === null) return { ok: true, value: v };
  if (field === 'value' && typeof v === 'object') return { ok: true, value: JSON.stringify(v) }; // inline JSON, accepted
  return { ok: false, code: 'bad-value', reason: `"${field}" is neither a string nor null` };
}

function truncate(text: string | undefined, max = 80): string {
  const t = text ?? 'undefined';
  return t.length > max ? t.slice(0, max) + '...' : t;
}

/**
 * Parses one line of either format. Returns null for a blank line. `originName` is the
 * prefix of the record's `origin`.
 */
export function parseLogLine(text: string, line: number, originName: string): LogLine | null {
  let t = text;
  if (t.length > 0 && t.charCodeAt(t.length - 1) === 13) t = t.slice(0, -1); // CRLF
  if (line === 1 && t.charCodeAt(0) === 0xfeff) t = t.slice(1); // byte order mark
  if (t.charCodeAt(0) !== 123 /* { */ && t.trim() === '') return null;
  let obj: unknown;
  try {
    obj = JSON.parse(t);
  } catch (err) {
    return reject(line, undefined, 'not-json', `not JSON: ${(err as Error).message}`, t);
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    return reject(line, undefined, 'not-object', 'the line is JSON but not an object', t);
  }
  const rec = obj as Record<string, unknown>;
  const offset = parseOffset(rec['offset']);
  if (!offset.ok) return reject(line, undefined, offset.code, offset.reason, t);
  const headers = parseHeaders(rec['headers']);
  if (!headers.ok) return reject(line, offset.value, headers.code, headers.reason, t);
  const value = parseValue(rec);
  if (!value.ok) return reject(line, offset.value, value.code, value.reason, t);
  return {
    kind: 'record',
    line,
    record: { offset: offset.value, headers: headers.value, value: value.value, origin: originName + ':' + line },
  };
}

function reject(line: number, offset: number | string | undefined, code: RejectCode, reason: string, text: string): LogLine {
  return { kind: 'reject', reject: offset === undefined ? { line, code, reason, text } : { line, offset, code, reason, text } };
}

// ---------------------------------------------------------------------------------------------
// Reading

/**
 * Parses a stream of chunks (Buffers of UTF-8, or strings) into lines, yielding one array
 * per chunk (possibly empty). Lines may span chunks; a final line without terminator counts.
 */
export async function* parseNdjsonChunks(
  chunks: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
  originName: string,
): AsyncGenerator<LogLine[], void, undefined> {
  const decoder = new StringDecoder('utf8');
  let carry: string[] = [];
  let lineNo = 0;
  const handle = (text: string, out: LogLine[]): void => {
    lineNo++;
    const item = parseLogLine(text, lineNo, originName);
    if (item !== null) out.push(item);
  };
  for await (const chunk of chunks) {
    const text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
    const out: LogLine[] = [];
    let start = 0;
    let nl = text.indexOf('\n');
    if (nl >= 0 && carry.length > 0) {
      carry.push(text.slice(0, nl));
      handle(carry.join(''), out);
      carry = [];
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    while (nl >= 0) {
      handle(text.slice(start, nl), out);
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    if (start < text.length) carry.push(start === 0 ? text : text.slice(start));
    yield out;
  }
  const rest = decoder.end();
  if (rest.length > 0) carry.push(rest);
  if (carry.length > 0) {
    const out: LogLine[] = [];
    handle(carry.join(''), out);
    if (out.length > 0) yield out;
  }
}

/** Parses a whole NDJSON text at once (for small inputs and tests). */
export function parseNdjsonText(text: string, originName: string): LogLine[] {
  const out: LogLine[] = [];
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  for (let i = 0; i < lines.length; i++) {
    const item = parseLogLine(lines[i]!, i + 1, originName);
    if (item !== null) out.push(item);
  }
  return out;
}

/** The two bytes every gzip stream starts with (RFC 1952). */
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

/** The path that means standard input (`kcat -C -J ... | talos-replicator replay --file -`). */
export const STDIN_PATH = '-';

/** How a log is named in messages, origins and the rejects file's name: `stdin` for `-`. */
export function logName(path: string): string {
  return path === STDIN_PATH ? 'stdin' : path;
}

/** The log's raw bytes: the file, or standard input for `-`. */
function rawBytes(path: string, highWaterMark: number): AsyncIterable<Buffer> {
  return (path === STDIN_PATH ? process.stdin : createReadStream(path, { highWaterMark })) as AsyncIterable<Buffer>;
}

/**
 * Bytes of a log, decompressed when they are gzip, which the first two bytes tell (a pipe may
 * deliver them in separate chunks). `name` is what a corrupt or cut-short gzip error names.
 */
export async function* logBytes(chunks: AsyncIterable<Buffer>, name: string, highWaterMark = 64 * 1024): AsyncGenerator<Buffer, void, undefined> {
  const iterator = chunks[Symbol.asyncIterator]();
  let head: Buffer = Buffer.alloc(0);
  try {
    while (head.length < GZIP_MAGIC.length) {
      const next = await iterator.next();
      if (next.done) break;
      head = head.length === 0 ? next.value : Buffer.concat([head, next.value]);
    }
    // An iterator that is done stays done, so asking it again after a short input is harmless.
    const all = async function* (): AsyncGenerator<Buffer, void, undefined> {
      if (head.length > 0) yield head;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
    };
    if (!head.subarray(0, GZIP_MAGIC.length).equals(GZIP_MAGIC)) {
      yield* all();
      return;
    }
    const compressed = Readable.from(all(), { objectMode: false });
    const gunzip = createGunzip({ chunkSize: highWaterMark });
    compressed.on('error', (error) => gunzip.destroy(error));
    compressed.pipe(gunzip);
    try {
      yield* gunzip as AsyncIterable<Buffer>;
    } catch (error) {
      // zlib's own codes (Z_DATA_ERROR, Z_BUF_ERROR): corrupt, or cut short (a dump that was interrupted).
      const code = (error as NodeJS.ErrnoException).code;
      if (code?.startsWith('Z_')) throw new Error(`${name}: the gzip data is corrupt or cut short (${(error as Error).message})`, { cause: error });
      throw error;
    } finally {
      compressed.destroy();
      gunzip.destroy();
    }
  } finally {
    // Closes the file (or stops reading stdin) when the reader stops early or fails.
    await iterator.return?.();
  }
}

/** Reads a log file chunk by chunk, one array of lines per chunk read (few async steps per record). */
export async function* readNdjsonLogChunks(path: string, options: ReadNdjsonOptions = {}): AsyncGenerator<LogLine[], void, undefined> {
  const highWaterMark = options.highWaterMark ?? 64 * 1024;
  for await (const lines of parseNdjsonChunks(logBytes(rawBytes(path, highWaterMark), logName(path), highWaterMark), options.originName ?? logName(path))) {
    if (lines.length > 0) yield lines;
  }
}

/** Reads a log file line by line: records and rejects in file order. */
export async function* readNdjsonLog(path: string, options: ReadNdjsonOptions = {}): AsyncGenerator<LogLine, void, undefined> {
  for await (const lines of readNdjsonLogChunks(path, options)) yield* lines;
}

/**
 * The records of a log file as an rxjs Observable of batches of up to `batchSize` records,
 * in file order. Rejected lines go to `onReject`. The file is read when subscribed (each
 * subscription reads it anew) and reading stops on unsubscribe. An I/O error (missing file,
 * ...) or an exception thrown by `onReject`/`gate` errors the observable.
 */
export function ndjsonLogBatches(path: string, options: NdjsonBatchesOptions = {}): Observable<readonly RawRecord[]> {
  const batchSize = options.batchSize ?? 1000;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  const { onReject, gate } = options;
  return new Observable<readonly RawRecord[]>((subscriber) => {
    let stopped = false;
    const emit = async (batch: RawRecord[]): Promise<boolean> => {
      if (gate) await gate();
      if (stopped) return false;
      subscriber.next(batch);
      return !stopped;
    };
    const run = async (): Promise<void> => {
      let batch: RawRecord[] = [];
      for await (const lines of readNdjsonLogChunks(path, options)) {
        if (stopped) return;
        for (const item of lines) {
          if (item.kind === 'reject') {
            onReject?.(item.reject);
            continue;
          }
          batch.push(item.record);
          if (batch.length === batchSize) {
            const full = batch;
            batch = [];
            if (!(await emit(full))) return;
          }
        }
      }
      if (batch.length > 0 && !(await emit(batch))) return;
      if (!stopped) subscriber.complete();
    };
    run().catch((err: unknown) => {
      if (!stopped) subscriber.error(err);
    });
    return () => {
      stopped = true;
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Writing

function text(v: string | Buffer): string {
  return typeof v === 'string' ? v : v.toString('utf8');
}

function offsetJson(offset: RawRecord['offset']): string {
  if (typeof offset === 'number') {
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`cannot write offset ${offset}`);
    return String(offset);
  }
  const s = String(offset);
  if (!/^\d+$/.test(s)) throw new RangeError(`cannot write offset ${JSON.stringify(s)}`);
  const n = Number(s);
  return n <= MAX_SAFE ? String(n) : JSON.stringify(s); // too large for a JSON number reader: a string of digits
}

/** One envelope line (no terminator): `{"offset":..,"headers":{..},"value":".."}`. Header values that are undefined are written as null. */
export function formatEnvelopeLine(record: RawRecord): string {
  let headers = '{';
  let first = true;
  for (const name of Object.keys(record.headers)) {
    const v = record.headers[name];
    headers += (first ? '' : ',') + JSON.stringify(name) + ':' + (v === undefined ? 'null' : JSON.stringify(text(v)));
    first = false;
  }
  headers += '}';
  const value = record.value === null ? 'null' : JSON.stringify(text(record.value));
  return '{"offset":' + offsetJson(record.offset) + ',"headers":' + headers + ',"value":' + value + '}';
}

/** One line as `kcat -C -J` prints it (no terminator). */
export function formatKcatLine(record: RawRecord, options: Omit<WriteNdjsonOptions, 'format'> = {}): string {
  const parts: string[] = [];
  for (const name of Object.keys(record.headers)) {
    const v = record.headers[name];
    parts.push(JSON.stringify(name), v === undefined ? 'null' : JSON.stringify(text(v)));
  }
  const payload = record.value === null ? 'null' : JSON.stringify(text(record.value));
  return (
    '{"topic":' + JSON.stringify(options.topic ?? 'certification') + ',"partition":' + (options.partition ?? 0) +
    ',"offset":' + offsetJson(record.offset) + ',"tstype":"create","ts":' + (options.timestamp ?? 0) + ',"broker":0' +
    (parts.length > 0 ? ',"headers":[' + parts.join(',') + ']' : '') + ',"key":null,"payload":' + payload + '}'
  );
}

async function writeLines(path: string, lines: AsyncIterable<string>): Promise<void> {
  await pipeline(Readable.from(lines), createWriteStream(path));
}

async function* chunked<T>(items: Iterable<T> | AsyncIterable<T>, format: (item: T) => string, counter: { n: number }): AsyncGenerator<string> {
  const limit = 64 * 1024; // bigger strings go to the large-object space and cost more than they save
  let lines: string[] = [];
  let size = 0;
  /** Adds a line; returns a full chunk to write, or null. */
  const add = (item: T): string | null => {
    const line = format(item);
    lines.push(line);
    size += line.length;
    if (size < limit) return null;
    const text = lines.join('\n') + '\n';
    counter.n += lines.length;
    lines = [];
    size = 0;
    return text;
  };
  if (Symbol.asyncIterator in items) {
    for await (const item of items) {
      const text = add(item);
      if (text !== null) yield text;
    }
  } else {
    // A synchronous source is read without a microtask per item.
    for (const item of items) {
      const text = add(item);
      if (text !== null) yield text;
    }
  }
  if (lines.length > 0) {
    yield lines.join('\n') + '\n';
    counter.n += lines.length;
  }
}

/** Writes records to `path` (replacing the file), one line each, in the given order. */
export async function writeNdjsonLog(
  path: string,
  records: Iterable<RawRecord> | AsyncIterable<RawRecord>,
  options: WriteNdjsonOptions = {},
): Promise<{ readonly path: string; readonly lines: number }> {
  const format = options.format === 'kcat' ? (r: RawRecord) => formatKcatLine(r, options) : formatEnvelopeLine;
  const counter = { n: 0 };
  await writeLines(path, chunked(records, format, counter));
  return { path, lines: counter.n };
}

/** Where the rejects of `inputPath` go: `<inputPath>.rejects.ndjson` (for stdin, `stdin.rejects.ndjson` in the working directory). */
export function rejectsPathFor(inputPath: string): string {
  return logName(inputPath) + '.rejects.ndjson';
}

/** One rejects-file line: `{"line":3,"offset":12,"code":"bad-headers","reason":"...","text":"..."}` (offset only when known). */
export function formatRejectLine(reject: LogReject): string {
  return (
    '{"line":' + reject.line + (reject.offset === undefined ? '' : ',"offset":' + JSON.stringify(reject.offset)) +
    ',"code":' + JSON.stringify(reject.code) + ',"reason":' + JSON.stringify(reject.reason) + ',"text":' + JSON.stringify(reject.text) + '}'
  );
}

/**
 * Writes the rejects of the input file `inputPath` next to it, to
 * `<inputPath>.rejects.ndjson` (or `options.rejectsPath`), replacing that file. The input
 * itself is never written. Returns the path and the number of rejects written.
 */
export async function writeRejects(
  inputPath: string,
  rejects: Iterable<LogReject> | AsyncIterable<LogReject>,
  options: { readonly rejectsPath?: string } = {},
): Promise<{ readonly path: string; readonly count: number }> {
  const path = options.rejectsPath ?? rejectsPathFor(inputPath);
  if (path === inputPath) throw new Error(`refusing to write rejects over the input file ${inputPath}`);
  const counter = { n: 0 };
  await writeLines(path, chunked(rejects, formatRejectLine, counter));
  return { path, count: counter.n };
}
