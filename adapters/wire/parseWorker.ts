/**
 * The parse worker behind `createWorkerParser`: decodes a packed batch (see `workerProtocol.ts`),
 * `JSON.parse`s each value and validates it with the same code as `parseRecord`, and answers with
 * compact results: a table of numbers, reject reasons, and the xids and statemap JSON texts
 * written as UTF-8 into the request's own byte buffer. Any record it cannot answer for exactly (a
 * statemap whose JSON text would not read back identically, an xid with lone surrogates, an
 * unexpected exception) it hands back to the main thread to parse with `parseRecord`.
 */
import { parentPort } from 'node:worker_threads';
import { invalidJsonReason, validateBody, type RecordType } from './parseRecord.js';
import {
  CHUNK_CHARS,
  IN_CANDIDATE,
  IN_DECISION,
  META_STRIDE,
  NO_STATEMAP,
  OUT_ABORTED,
  OUT_CANDIDATE,
  OUT_COMMITTED,
  OUT_LOCAL,
  OUT_REJECT,
  RESULT_STRIDE,
  type ParseRequest,
  type ParseResponse,
} from './workerProtocol.js';

if (!parentPort) throw new Error('parseWorker.js must be started as a worker thread (see createWorkerParser)');
const port = parentPort;

/**
 * True when `JSON.parse(JSON.stringify(value))` is deeply equal to `value` for a value produced by
 * `JSON.parse`: only -0 (written as 0) and infinities from overflowing literals (written as null)
 * are not.
 */
function survivesStringify(value: unknown): boolean {
  if (typeof value === 'number') return value === 0 ? 1 / value > 0 : value - value === 0;
  if (typeof value !== 'object' || value === null) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!survivesStringify(value[i])) return false;
    return true;
  }
  const record = value as Record<string, unknown>;
  for (const key in record) if (!survivesStringify(record[key])) return false;
  return true;
}

const isWellFormed = (String.prototype as unknown as { isWellFormed?: () => boolean }).isWellFormed;
/** False for strings with lone surrogates, which would not survive the trip through UTF-8. */
function wellFormed(text: string): boolean {
  if (isWellFormed) return isWellFormed.call(text);
  return !/[\uD800-\uDFFF]/.test(text) || Buffer.from(text, 'utf8').toString('utf8') === text;
}

function parse(request: ParseRequest): ParseResponse {
  const { count, length } = request;
  const meta = new Float64Array(request.meta);
  const nums = new Float64Array(request.nums);
  const bytes = Buffer.from(request.bytes, 0, length);
  const reasons: string[] = [];
  // The answer's text, in chunks of about CHUNK_CHARS; a message's texts stay in one chunk.
  const chunkTexts: string[] = [];
  let parts: string[] = [];
  let chunkChars = 0;
  for (let i = 0; i < count; i++) {
    const m = i * META_STRIDE;
    const r = i * RESULT_STRIDE;
    const kind = meta[m]!;
    if (kind !== IN_CANDIDATE && kind !== IN_DECISION) {
      nums[r] = OUT_LOCAL;
      continue;
    }
    const type: RecordType = kind === IN_CANDIDATE ? 'Candidate' : 'Decision';
    const offset = meta[m + 1]!;
    try {
      let body: unknown;
      try {
        // Each value decoded on its own, exactly as `parseRecord` decodes it (so broken UTF-8 at the
        // end of one value cannot merge with the next).
        body = JSON.parse(bytes.toString('utf8', meta[m + 2]!, meta[m + 3]!));
      } catch (error) {
        nums[r] = OUT_REJECT;
        reasons.push(invalidJsonReason(type, error));
        continue;
      }
      const message = validateBody(type, body, offset);
      if (typeof message === 'string') {
        nums[r] = OUT_REJECT;
        reasons.push(message);
        continue;
      }
      const xid = message.xid;
      if (!wellFormed(xid)) {
        nums[r] = OUT_LOCAL;
        continue;
      }
      if (message.kind === 'candidate') {
        const statemap = message.statemap;
        let json: string | null = null;
        if (statemap.length > 0) {
          if (!survivesStringify(statemap)) {
            nums[r] = OUT_LOCAL;
            continue;
          }
          // Always well formed: JSON.stringify escapes lone surrogates.
          json = JSON.stringify(statemap);
        }
        nums[r] = OUT_CANDIDATE;
        nums[r + 1] = xid.length;
        parts.push(xid);
        if (json === null) {
          nums[r + 2] = NO_STATEMAP;
          chunkChars += xid.length;
        } else {
          nums[r + 2] = json.length;
          parts.push(json);
          chunkChars += xid.length + json.length;
        }
      } else {
        nums[r] = message.outcome === 'committed' ? OUT_COMMITTED : OUT_ABORTED;
        nums[r + 1] = xid.length;
        nums[r + 2] = message.version;
        nums[r + 3] = message.safepoint ?? NaN;
        nums[r + 4] = message.duplicateVersion ?? NaN;
        parts.push(xid);
        chunkChars += xid.length;
      }
      if (chunkChars >= CHUNK_CHARS) {
        chunkTexts.push(parts.join(''));
        parts = [];
        chunkChars = 0;
      }
    } catch {
      // Too deep to walk or stringify, or anything else unforeseen: the main thread parses this
      // record itself and so gets exactly `parseRecord`'s answer (or exception).
      nums[r] = OUT_LOCAL;
    }
  }
  if (parts.length > 0) chunkTexts.push(parts.join(''));
  // Every value has been read: the text goes into the same buffer, from its start.
  let out = Buffer.from(request.bytes);
  let at = 0;
  const chunks: number[] = [];
  for (const text of chunkTexts) {
    const need = Buffer.byteLength(text, 'utf8');
    if (at + need > out.length) {
      // Rare: the texts are longer than the values they came from (say `1E2` written as `100`).
      const larger = Buffer.allocUnsafeSlow(Math.max(out.length * 2, at + need));
      out.copy(larger, 0, 0, at);
      out = larger;
    }
    at += out.write(text, at, 'utf8');
    chunks.push(at);
  }
  return { id: request.id, bytes: out.buffer as ArrayBuffer, meta: request.meta, nums: request.nums, chunks, reasons };
}

port.on('message', (request: ParseRequest) => {
  const response = parse(request);
  port.postMessage(response, [response.bytes, response.meta, response.nums]);
});
