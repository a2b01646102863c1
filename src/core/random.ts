/**
 * A seeded pseudo-random generator whose whole state is one 32-bit integer, so it can live
 * in the machine's context and every draw is replayable from the seed (mulberry32).
 * Pure: each draw returns the value and the next state.
 */
export type RngState = number;

export function seedRng(seed: number): RngState {
  return (Math.trunc(seed) ^ 0x9e3779b9) >>> 0;
}

/** A float in [0, 1) and the generator's next state. */
export function nextRandom(state: RngState): [value: number, next: RngState] {
  const next = (state + 0x6d2b79f5) >>> 0;
  let t = next;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return [((t ^ (t >>> 14)) >>> 0) / 4294967296, next];
}

/** An integer in [min, max], both included. */
export function randomInt(state: RngState, min: number, max: number): [value: number, next: RngState] {
  const [r, next] = nextRandom(state);
  return [min + Math.floor(r * (max - min + 1)), next];
}

/** A mutable convenience wrapper for code that owns its generator (simulator, workloads). */
export class SeededRandom {
  private state: RngState;
  constructor(seed: number) {
    this.state = seedRng(seed);
  }
  /** A float in [0, 1). */
  next(): number {
    const [value, next] = nextRandom(this.state);
    this.state = next;
    return value;
  }
  /** An integer in [min, max], both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }
  /** A shuffled copy (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[this.int(0, items.length - 1)] as T;
  }
}
