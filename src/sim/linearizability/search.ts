/**
 * The search for one key's history (Wing & Gong with Lowe's memoization, as Porcupine does it):
 * walk the call/return events in time order, linearize an operation whose call has happened, undo
 * the last choice when an operation not yet linearized must have returned. Counts every step
 * against a shared `Budget` so runs are deterministic.
 */
import { ABSENT, step, type Op, type State } from './model.js';

export interface Budget {
  used: number;
  readonly max: number;
}

// ---------------------------------------------------------------- the search (one key)

export type Outcome = { kind: 'ok' } | { kind: 'timedOut' } | { kind: 'fail'; longest: readonly Op[] };

export function search(ops: readonly Op[], budget: Budget): Outcome {
  const n = ops.length;
  // Events: node i < n is op i's call, node n + i its return. Sorted by time; a call sorts before a
  // return at the same instant (closed intervals); ties otherwise by history position (determinism).
  const nodes = Array.from({ length: 2 * n }, (_, i) => i);
  const time = (node: number) => (node < n ? ops[node]!.call : ops[node - n]!.ret);
  nodes.sort((a, b) => time(a) - time(b) || (a < n ? 0 : 1) - (b < n ? 0 : 1) || ops[a % n]!.position - ops[b % n]!.position || a - b);
  const HEAD = 2 * n;
  const next = new Int32Array(2 * n + 1).fill(-1);
  const prev = new Int32Array(2 * n + 1).fill(-1);
  let last = HEAD;
  for (const node of nodes) {
    next[last] = node;
    prev[node] = last;
    last = node;
  }
  const remove = (x: number) => {
    next[prev[x]!] = next[x]!;
    if (next[x]! !== -1) prev[next[x]!] = prev[x]!;
  };
  const restore = (x: number) => {
    next[prev[x]!] = x;
    if (next[x]! !== -1) prev[next[x]!] = x;
  };

  const bits = new Uint32Array(Math.ceil(n / 32));
  const seen = new Set<string>();
  /** `forced`: taken by the observer rule below, so there is no alternative to try in its place. */
  const stack: { op: number; state: State; forced: boolean }[] = [];
  let state: State = ABSENT;
  let remainingDefinite = ops.filter((op) => op.definite).length;
  let longest: number[] = [];
  let cur = next[HEAD]!;
  /** Whether (bits, state) was just reached, so the observer rule has not been applied to it yet. */
  let fresh = true;

  /** Linearize op `i` next, giving `after`, unless that configuration was explored before. */
  const take = (i: number, after: State, forced: boolean): boolean => {
    bits[i >> 5]! |= 1 << (i & 31);
    const key = `${bits.join(',')}|${after}`;
    if (seen.has(key)) {
      bits[i >> 5]! &= ~(1 << (i & 31));
      return false;
    }
    seen.add(key);
    stack.push({ op: i, state, forced });
    state = after;
    remove(i);
    remove(n + i);
    if (ops[i]!.definite) remainingDefinite--;
    if (stack.length > longest.length) longest = stack.map((s) => s.op);
    return true;
  };
  /** Undo choices up to and including the last one that had alternatives; false when none is left. */
  const backtrack = (): boolean => {
    for (;;) {
      const top = stack.pop();
      if (top === undefined) return false;
      state = top.state;
      bits[top.op >> 5]! &= ~(1 << (top.op & 31));
      restore(n + top.op);
      restore(top.op);
      if (ops[top.op]!.definite) remainingDefinite++;
      if (!top.forced) {
        cur = next[top.op]!;
        fresh = false;
        return true;
      }
    }
  };
  const failed = (): Outcome => ({ kind: 'fail', longest: longest.map((i) => ops[i]!) });

  for (;;) {
    // Only indeterminate operations left: let them take effect at the end (they match anything).
    if (remainingDefinite === 0) return { kind: 'ok' };
    if (++budget.used > budget.max) return { kind: 'timedOut' };
    if (fresh) {
      // Observer rule: an operation that never changes the state (a read, a failed cas, a delete of
      // a missing key), may happen now (its call precedes every pending return) and fits the state
      // can be linearized first without loss of generality — moving it to the front of any valid
      // continuation keeps that continuation valid. So take it and try nothing else here.
      let observer = -1;
      for (let node = next[HEAD]!; node !== -1 && node < n; node = next[node]!) {
        if (ops[node]!.observer && step(state, ops[node]!) !== undefined) {
          observer = node;
          break;
        }
      }
      fresh = false;
      cur = next[HEAD]!;
      if (observer !== -1) {
        if (take(observer, state, true)) fresh = true;
        else if (!backtrack()) return failed(); // explored before: a dead end, as is every alternative
        continue;
      }
    }
    if (cur < n) {
      const after = step(state, ops[cur]!);
      if (after !== undefined && take(cur, after, false)) {
        fresh = true;
        continue;
      }
      cur = next[cur]!;
    } else if (!backtrack()) {
      // The return of an operation not yet linearized, which had to take effect by now, and no
      // choice left to undo.
      return failed();
    }
  }
}
