/**
 * A binary min-heap ordered by a numeric key: O(log n) push and pop, O(1) peek.
 * Used to hold queue items until their safepoint is installed.
 */
export class MinHeap<T> {
  #keys: number[] = [];
  #values: T[] = [];

  get length(): number {
    return this.#keys.length;
  }

  peekKey(): number | undefined {
    return this.#keys[0];
  }

  push(key: number, value: T): void {
    const keys = this.#keys;
    const values = this.#values;
    let index = keys.length;
    keys.push(key);
    values.push(value);
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (keys[parent]! <= key) break;
      keys[index] = keys[parent]!;
      values[index] = values[parent]!;
      index = parent;
    }
    keys[index] = key;
    values[index] = value;
  }

  pop(): T | undefined {
    const keys = this.#keys;
    const values = this.#values;
    if (keys.length === 0) return undefined;
    const top = values[0];
    const lastKey = keys.pop()!;
    const lastValue = values.pop()!;
    const size = keys.length;
    if (size > 0) {
      let index = 0;
      for (;;) {
        const left = 2 * index + 1;
        if (left >= size) break;
        const right = left + 1;
        const child = right < size && keys[right]! < keys[left]! ? right : left;
        if (keys[child]! >= lastKey) break;
        keys[index] = keys[child]!;
        values[index] = values[child]!;
        index = child;
      }
      keys[index] = lastKey;
      values[index] = lastValue;
    }
    return top;
  }

  clone(): MinHeap<T> {
    const copy = new MinHeap<T>();
    copy.#keys = this.#keys.slice();
    copy.#values = this.#values.slice();
    return copy;
  }
}
