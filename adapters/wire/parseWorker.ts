/**
 * The parse worker behind `createWorkerParser`: reads each value of a packed batch (see
 * `workerProtocol.ts`) on the fast path (`fastPath.ts`: the field scanner checks every byte
 * against the JSON grammar but builds nothing) and answers with numbers only: a decision's
 * versions, or where a candidate's statemap lies in the bytes it was sent.
 *
 * A record the fast path declines is parsed here with `JSON.parse` and `validateBody`: a
 * rejection comes back with `parseRecord`'s reason; a record that turns out valid after all
 * (escaped keys, a duplicate key in a statemap entry, nesting too deep to scan) goes back to the
 * main thread to parse with `parseRecord` itself.
 */
import { parentPort } from 'node:worker_threads';
import { scanMessage } from './fastPath.js';
import { invalidJsonReason, validateBody, type RecordType } from './parseRecord.js';
import { IN_CANDIDATE, IN_DECISION, META_STRIDE, OUT_LOCAL, OUT_REJECT, RESULT_STRIDE, type ParseRequest, type ParseResponse } from './workerProtocol.js';

if (!parentPort) throw new Error('parseWorker.js must be started as a worker thread (see createWorkerParser)');
const port = parentPort;

function parse(request: ParseRequest): ParseResponse {
  const { count, length } = request;
  const meta = new Float64Array(request.meta);
  const nums = new Float64Array(request.nums);
  const bytes = Buffer.from(request.bytes, 0, length);
  const reasons: string[] = [];
  for (let i = 0; i < count; i++) {
    const m = i * META_STRIDE;
    const r = i * RESULT_STRIDE;
    const kind = meta[m]!;
    nums[r] = OUT_LOCAL;
    if (kind !== IN_CANDIDATE && kind !== IN_DECISION) continue;
    const offset = meta[m + 1]!;
    // Small integers (Smis) for the scanner's loops: indexes read from a Float64Array are doubles,
    // and every byte read through a double index costs a conversion.
    const start = meta[m + 2]! | 0;
    const end = meta[m + 3]! | 0;
    if (scanMessage(bytes, start, end, kind, offset, nums, r)) continue;
    const type: RecordType = kind === IN_CANDIDATE ? 'Candidate' : 'Decision';
    try {
      let body: unknown;
      try {
        // Decoded on its own, exactly as `parseRecord` decodes a value.
        body = JSON.parse(bytes.toString('utf8', start, end));
      } catch (error) {
        nums[r] = OUT_REJECT;
        reasons.push(invalidJsonReason(type, error));
        continue;
      }
      const message = validateBody(type, body, offset);
      if (typeof message === 'string') {
        nums[r] = OUT_REJECT;
        reasons.push(message);
      }
      // A valid message the fast path could not vouch for: the main thread parses it (OUT_LOCAL).
    } catch {
      // Too deep to parse, or anything else unforeseen: the main thread parses this record itself
      // and so gets exactly `parseRecord`'s answer (or exception).
      nums[r] = OUT_LOCAL;
    }
  }
  return { id: request.id, bytes: request.bytes, meta: request.meta, nums: request.nums, reasons };
}

port.on('message', (request: ParseRequest) => {
  const response = parse(request);
  port.postMessage(response, [response.bytes, response.meta, response.nums]);
});
