/**
 * A listener that speaks just enough of the Kafka protocol to see how a client authenticates:
 * ApiVersions, SaslHandshake (answering with the mechanisms it is told to offer) and
 * SaslAuthenticate, which it records and refuses with SASL_AUTHENTICATION_FAILED, so the client's
 * connect fails at once with a non-retriable error.
 *
 * The librdkafka mock cluster the other Kafka tests use has no SASL, so this is the only way a
 * test sees the bytes a SASL mechanism puts on the wire. It is a unit-test fake, not a broker.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';

const API_SASL_HANDSHAKE = 17;
const API_VERSIONS = 18;
const API_SASL_AUTHENTICATE = 36;
const SASL_AUTHENTICATION_FAILED = 58;

export interface SaslProbe {
  readonly address: string;
  /** Mechanisms asked for in SaslHandshake, in order. */
  readonly handshakes: string[];
  /** The auth bytes of every SaslAuthenticate, as text. */
  readonly authentications: string[];
  close(): Promise<void>;
}

export async function startSaslProbeBroker(options: { offer: readonly string[]; refusal: string }): Promise<SaslProbe> {
  const handshakes: string[] = [];
  const authentications: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4 && pending.length >= 4 + pending.readInt32BE(0)) {
        const size = pending.readInt32BE(0);
        const frame = pending.subarray(4, 4 + size);
        pending = pending.subarray(4 + size);
        const reply = answer(frame);
        if (reply === null) socket.destroy();
        else socket.write(reply);
      }
    });
  });

  function answer(frame: Buffer): Buffer | null {
    const apiKey = frame.readInt16BE(0);
    const apiVersion = frame.readInt16BE(2);
    const correlationId = frame.readInt32BE(4);
    const clientIdLength = frame.readInt16BE(8);
    let at = 10 + Math.max(clientIdLength, 0);
    const body: Buffer[] = [];
    if (apiKey === API_VERSIONS) {
      const apis = [
        [API_SASL_HANDSHAKE, 0, 1],
        [API_VERSIONS, 0, 2],
        [API_SASL_AUTHENTICATE, 0, 1],
      ];
      body.push(int16(0), int32(apis.length), ...apis.flatMap(([key, min, max]) => [int16(key!), int16(min!), int16(max!)]));
      if (apiVersion >= 1) body.push(int32(0)); // throttle_time_ms
    } else if (apiKey === API_SASL_HANDSHAKE) {
      const length = frame.readInt16BE(at);
      handshakes.push(frame.subarray(at + 2, at + 2 + length).toString('utf8'));
      body.push(int16(0), int32(options.offer.length), ...options.offer.map(string));
    } else if (apiKey === API_SASL_AUTHENTICATE) {
      const length = frame.readInt32BE(at);
      at += 4;
      authentications.push(frame.subarray(at, at + length).toString('utf8'));
      body.push(int16(SASL_AUTHENTICATION_FAILED), string(options.refusal), int32(0));
      if (apiVersion >= 1) body.push(Buffer.alloc(8)); // session_lifetime_ms
    } else {
      return null;
    }
    const payload = Buffer.concat([int32(correlationId), ...body]);
    return Buffer.concat([int32(payload.length), payload]);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    handshakes,
    authentications,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function int16(value: number): Buffer {
  const buffer = Buffer.alloc(2);
  buffer.writeInt16BE(value);
  return buffer;
}

function int32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32BE(value);
  return buffer;
}

function string(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  return Buffer.concat([int16(bytes.length), bytes]);
}
