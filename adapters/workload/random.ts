/**
 * A small, fast, seeded pseudo-random generator (mulberry32) for the simulated workload.
 * The same seed always yields the same sequence, on every platform: everything here is
 * 32-bit integer arithmetic via `Math.imul` and `>>> 0`. Not for cryptography.
 */

/** Seeds accepted by {@link createRandom}: any number (integers are used exactly) or a string (hashed). */
export type Seed = number | string;

const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Hashes a string into a 32-bit seed (FNV-1a over UTF-16 code units, then a final avalanche). */
export function seedFromString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return avalanche(h);
}

/** Reduces any seed to the 32-bit initial state of the generator. */
export function normalizeSeed(seed: Seed): number {
  if (typeof seed === 'string') return seedFromString(seed);
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be finite, got ${seed}`);
  if (!Number.isSafeInteger(seed)) return seedFromString(String(seed));
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 0x1_0000_0000) >>> 0;
  return (lo ^ Math.imul(hi, 0x9e3779b1)) >>> 0;
}

function avalanche(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A deterministic random source. All methods advance the same underlying state. */
export class Random {
  private state: number;

  constructor(seed: Seed = 1) {
    this.state = normalizeSeed(seed);
  }

  /** The next unsigned 32-bit integer (mulberry32). */
  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    return this.nextUint32() / 0x1_0000_0000;
  }

  /** An integer in [0, maxExclusive); `maxExclusive` must be a positive integer up to 2^32. */
  int(maxExclusive: number): number {
    return Math.floor(this.next() * maxExclusive);
  }

  /** An integer in [min, max], both inclusive. */
  intBetween(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  /** True with probability `p` (p <= 0: never; p >= 1: always, but one draw is consumed either way). */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty array');
    return items[this.int(items.length)] as T;
  }

  /** A random (version 4 layout) UUID string, deterministic from the seed. */
  uuid(): string {
    const a = this.nextUint32();
    const b = this.nextUint32();
    const c = this.nextUint32();
    const d = this.nextUint32();
    const b2 = ((b >>> 8) & 0x0f) | 0x40; // version nibble 4
    const c0 = ((c >>> 24) & 0x3f) | 0x80; // variant 10xx
    return (
      HEX[a >>> 24]! + HEX[(a >>> 16) & 0xff]! + HEX[(a >>> 8) & 0xff]! + HEX[a & 0xff]! + '-' +
      HEX[b >>> 24]! + HEX[(b >>> 16) & 0xff]! + '-' +
      HEX[b2]! + HEX[b & 0xff]! + '-' +
      HEX[c0]! + HEX[(c >>> 16) & 0xff]! + '-' +
      HEX[(c >>> 8) & 0xff]! + HEX[c & 0xff]! +
      HEX[d >>> 24]! + HEX[(d >>> 16) & 0xff]! + HEX[(d >>> 8) & 0xff]! + HEX[d & 0xff]!
    );
  }

  /** An independent generator whose seed is drawn from this one. */
  fork(): Random {
    return new Random(this.nextUint32());
  }
}

/** Creates a deterministic random source from a seed. */
export function createRandom(seed: Seed = 1): Random {
  return new Random(seed);
}
