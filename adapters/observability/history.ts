/**
 * What the status page charts: a few numbers sampled at a fixed interval over the last minutes,
 * in a fixed-size ring, and the install rate derived from the install count.
 */

export interface HistorySample {
  /** Epoch milliseconds. */
  readonly t: number;
  readonly snapshot: number | null;
  readonly persisted: number | null;
  readonly lag: number | null;
  readonly queueSize: number | null;
  readonly installsPerSecond: number | null;
}

export class History {
  readonly #samples: (HistorySample | undefined)[];
  #next = 0;
  #size = 0;

  constructor(readonly capacity: number) {
    this.#samples = new Array<HistorySample | undefined>(capacity);
  }

  push(sample: HistorySample): void {
    this.#samples[this.#next] = sample;
    this.#next = (this.#next + 1) % this.capacity;
    this.#size = Math.min(this.#size + 1, this.capacity);
  }

  /** Oldest first. */
  toArray(): HistorySample[] {
    const out: HistorySample[] = [];
    for (let i = 0; i < this.#size; i++) out.push(this.#samples[(this.#next - this.#size + i + this.capacity) % this.capacity]!);
    return out;
  }
}

/**
 * Installs per second over a sliding window (default 5 s), from a monotonically growing count
 * sampled now and then: `rate()` compares the count now with the oldest sample inside the window.
 */
export class RateMeter {
  readonly #points: Array<{ t: number; count: number }> = [];

  constructor(private readonly windowMs = 5000, private readonly now: () => number = () => performance.now()) {}

  /** Notes the count now; returns the rate over the window (null until two points exist). */
  sample(count: number): number | null {
    const t = this.now();
    this.#points.push({ t, count });
    while (this.#points.length > 2 && this.#points[1]!.t <= t - this.windowMs) this.#points.shift();
    return this.#rateAt(t, count);
  }

  /** The rate up to now, without noting a point. */
  rate(count: number): number | null {
    return this.#rateAt(this.now(), count);
  }

  #rateAt(t: number, count: number): number | null {
    const first = this.#points[0];
    if (!first || t - first.t <= 0) return null;
    return ((count - first.count) * 1000) / (t - first.t);
  }
}
