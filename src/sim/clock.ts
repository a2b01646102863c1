/**
 * Virtual time. A `VirtualClock` is the clock given to every actor in a simulation
 * (`createActor(machine, { clock })`) and to the runtime's scheduler: nothing happens until the
 * owner advances time, and timers due at the same instant fire in the order they were set, so a
 * run is a pure function of its seed.
 */
import type { Clock } from '../runtime/clock.js';

interface Timer {
  readonly id: number;
  readonly at: number;
  readonly fn: () => void;
}

export class VirtualClock implements Clock {
  private time = 0;
  private nextId = 1;
  private readonly timers = new Map<number, Timer>();
  /** Min-heap by (at, id). */
  private heap: Timer[] = [];

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): number {
    const timer: Timer = { id: this.nextId++, at: this.time + Math.max(0, ms), fn };
    this.timers.set(timer.id, timer);
    this.push(timer);
    return timer.id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** End of a batch: a timer at the current instant, after everything already due now. */
  defer(fn: () => void): void {
    this.setTimeout(fn, 0);
  }

  /** The time of the next pending timer, or undefined if none. */
  peek(): number | undefined {
    this.dropCancelled();
    return this.heap[0]?.at;
  }

  /** Fire the next pending timer (advancing time to it); false if there is none. */
  step(): boolean {
    this.dropCancelled();
    const timer = this.pop();
    if (timer === undefined) return false;
    this.timers.delete(timer.id);
    this.time = Math.max(this.time, timer.at);
    timer.fn();
    return true;
  }

  /** Fire every timer due up to `until` (inclusive), then set the time to `until`. */
  advanceTo(until: number): void {
    for (let at = this.peek(); at !== undefined && at <= until; at = this.peek()) this.step();
    this.time = Math.max(this.time, until);
  }

  advance(ms: number): void {
    this.advanceTo(this.time + ms);
  }

  get pending(): number {
    return this.timers.size;
  }

  private dropCancelled(): void {
    while (this.heap.length > 0 && !this.timers.has((this.heap[0] as Timer).id)) this.pop();
  }

  private less(a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.id < b.id);
  }

  private push(timer: Timer): void {
    const heap = this.heap;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(heap[i] as Timer, heap[parent] as Timer)) break;
      [heap[i], heap[parent]] = [heap[parent] as Timer, heap[i] as Timer];
      i = parent;
    }
  }

  private pop(): Timer | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last !== undefined) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && this.less(heap[l] as Timer, heap[m] as Timer)) m = l;
        if (r < heap.length && this.less(heap[r] as Timer, heap[m] as Timer)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m] as Timer, heap[i] as Timer];
        i = m;
      }
    }
    return top;
  }
}
