/**
 * When leases and claims expire: a binary min-heap of deadlines. An entry is never removed when its
 * grant is renewed, released or completed; whoever pops it checks that it still stands (the grant
 * is current and was not extended since). Ties are broken by kind and key, not by insertion order,
 * so a replica that rebuilt its heap from a snapshot expires simultaneous deadlines in the same
 * order as one that pushed them one by one.
 */
import { compareStrings } from '../core/json.js';
import type { FencingToken } from './types.js';

export interface Deadline {
  readonly kind: 'lease' | 'task';
  readonly key: string;
  readonly token: FencingToken;
  readonly expiresAt: number;
}

export class DeadlineHeap {
  private heap: Deadline[] = [];

  push(deadline: Deadline): void {
    const heap = this.heap;
    heap.push(deadline);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i] as Deadline, heap[parent] as Deadline)) break;
      [heap[i], heap[parent]] = [heap[parent] as Deadline, heap[i] as Deadline];
      i = parent;
    }
  }

  /** The earliest deadline that still stands (dropping those that do not), or undefined. */
  peek(stands: (deadline: Deadline) => boolean): number | undefined {
    while (this.heap.length > 0 && !stands(this.heap[0] as Deadline)) this.pop();
    return this.heap[0]?.expiresAt;
  }

  /** The earliest deadline if it is at or before `now` (removed), else undefined. */
  popDue(now: number): Deadline | undefined {
    const top = this.heap[0];
    if (top === undefined || top.expiresAt > now) return undefined;
    this.pop();
    return top;
  }

  clear(): void {
    this.heap = [];
  }

  get size(): number {
    return this.heap.length;
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop() as Deadline;
    if (heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < heap.length && before(heap[left] as Deadline, heap[least] as Deadline)) least = left;
      if (right < heap.length && before(heap[right] as Deadline, heap[least] as Deadline)) least = right;
      if (least === i) return;
      [heap[i], heap[least]] = [heap[least] as Deadline, heap[i] as Deadline];
      i = least;
    }
  }
}

function before(a: Deadline, b: Deadline): boolean {
  if (a.expiresAt !== b.expiresAt) return a.expiresAt < b.expiresAt;
  if (a.kind !== b.kind) return a.kind < b.kind;
  if (a.key !== b.key) return compareStrings(a.key, b.key) < 0;
  return a.token < b.token;
}
