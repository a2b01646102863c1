import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, checkLinearizable, type CasOutput, type HistoryEntry, type JsonValue, type KvOp } from '../../src/sim/linearizability.js';

// ---------------------------------------------------------------- builders

const put = (clientId: string, key: string, value: JsonValue, call: number, ret?: number): HistoryEntry => ({
  clientId,
  op: { type: 'put', key, value },
  call,
  ...(ret === undefined ? {} : { return: ret, output: { ok: true } }),
});
const get = (clientId: string, key: string, call: number, ret: number, value?: JsonValue): HistoryEntry => ({
  clientId,
  op: { type: 'get', key },
  call,
  return: ret,
  output: value === undefined ? { found: false } : { found: true, value },
});
const del = (clientId: string, key: string, call: number, ret?: number, existed?: boolean): HistoryEntry => ({
  clientId,
  op: { type: 'delete', key },
  call,
  ...(ret === undefined ? {} : { return: ret, output: existed === undefined ? { ok: true } : { ok: true, existed } }),
});
const cas = (clientId: string, key: string, from: JsonValue, to: JsonValue, call: number, ret?: number, output?: CasOutput): HistoryEntry => ({
  clientId,
  op: { type: 'cas', key, from, to },
  call,
  ...(ret === undefined ? {} : { return: ret, output: output ?? { ok: true } }),
});

// ---------------------------------------------------------------- examples

describe('linearizable and non-linearizable key-value histories', () => {
  it('an empty history, and one with only indeterminate operations, is linearizable', () => {
    expect(checkLinearizable([]).ok).toBe(true);
    expect(checkLinearizable([put('a', 'x', 1, 0), del('b', 'x', 1)]).ok).toBe(true);
  });

  it("a sequential history that follows the register's rules is linearizable", () => {
    const history = [put('a', 'x', 1, 0, 1), get('a', 'x', 2, 3, 1), del('a', 'x', 4, 5, true), get('a', 'x', 6, 7), put('a', 'x', 2, 8, 9), get('a', 'x', 10, 11, 2)];
    expect(checkLinearizable(history)).toMatchObject({ ok: true });
  });

  it('a key nobody wrote is not found', () => {
    expect(checkLinearizable([get('a', 'x', 0, 1)]).ok).toBe(true);
    expect(checkLinearizable([get('a', 'x', 0, 1, 'ghost')]).ok).toBe(false);
  });

  it('a stale read after a completed write is not linearizable', () => {
    const history = [put('a', 'x', 1, 0, 1), put('a', 'x', 2, 2, 3), get('b', 'x', 4, 5, 1)];
    const result = checkLinearizable(history);
    expect(result.ok).toBe(false);
    expect(result.timedOut).toBeUndefined();
    expect(result.counterexample?.key).toBe('x');
    expect(result.counterexample?.operations).toEqual(history);
    expect(result.counterexample?.minimal).toBe(true);
    expect(result.counterexample?.longestLinearizablePrefix).toEqual([history[0], history[1]]);
    expect(result.counterexample?.stuck.map((s) => s.entry)).toEqual([history[2]]);
    expect(result.counterexample?.description).toContain('#2 b get("x") → 1 [4, 5]');
    expect(result.counterexample?.description).toContain('impossible when the value is 2');
  });

  it('a read concurrent with a write may see the old value or the new one', () => {
    expect(checkLinearizable([put('a', 'x', 1, 0, 1), put('a', 'x', 2, 2, 10), get('b', 'x', 3, 4, 1)]).ok).toBe(true);
    expect(checkLinearizable([put('a', 'x', 1, 0, 1), put('a', 'x', 2, 2, 10), get('b', 'x', 3, 4, 2)]).ok).toBe(true);
  });

  it("once a read has seen a concurrent write's value, a later read may not see the old value", () => {
    const history = [put('a', 'x', 1, 0, 1), put('a', 'x', 2, 2, 100), get('b', 'x', 3, 4, 2), get('c', 'x', 5, 6, 1)];
    expect(checkLinearizable(history).ok).toBe(false);
  });

  it('an operation returning at the instant another is called counts as concurrent with it', () => {
    expect(checkLinearizable([put('a', 'x', 1, 0, 5), get('b', 'x', 5, 6)]).ok).toBe(true);
    expect(checkLinearizable([put('a', 'x', 1, 0, 5), get('b', 'x', 6, 7)]).ok).toBe(false);
  });

  it('two concurrent writes with reads observing both orders is not linearizable', () => {
    const w1 = put('w1', 'x', 1, 0, 10);
    const w2 = put('w2', 'x', 2, 0, 10);
    // Reader A sees 1 then 2; reader B sees 2 then 1 — all during the writes.
    const inconsistent = [w1, w2, get('A', 'x', 1, 2, 1), get('A', 'x', 3, 4, 2), get('B', 'x', 1, 2, 2), get('B', 'x', 3, 4, 1)];
    expect(checkLinearizable(inconsistent).ok).toBe(false);
    // Both readers see the same order: fine.
    const consistent = [w1, w2, get('A', 'x', 1, 2, 1), get('A', 'x', 3, 4, 2), get('B', 'x', 1, 2, 1), get('B', 'x', 3, 4, 2)];
    expect(checkLinearizable(consistent).ok).toBe(true);
  });

  it('after two concurrent writes complete, every later read sees the same winner', () => {
    const w1 = put('w1', 'x', 1, 0, 10);
    const w2 = put('w2', 'x', 2, 0, 10);
    expect(checkLinearizable([w1, w2, get('A', 'x', 11, 12, 1), get('B', 'x', 13, 14, 1)]).ok).toBe(true);
    expect(checkLinearizable([w1, w2, get('A', 'x', 11, 12, 1), get('B', 'x', 13, 14, 2)]).ok).toBe(false);
  });

  it('a successful cas is visible to every later read', () => {
    const base = [put('a', 'x', 1, 0, 1), cas('b', 'x', 1, 2, 2, 3)];
    expect(checkLinearizable([...base, get('c', 'x', 4, 5, 2)]).ok).toBe(true);
    expect(checkLinearizable([...base, get('c', 'x', 4, 5, 1)]).ok).toBe(false);
  });

  it('a cas succeeds only if the value equals `from`, and fails reporting the current value or not found', () => {
    const one = put('a', 'x', 1, 0, 1);
    expect(checkLinearizable([one, cas('b', 'x', 5, 6, 2, 3, { ok: true })]).ok).toBe(false);
    expect(checkLinearizable([one, cas('b', 'x', 5, 6, 2, 3, { ok: false, reason: 'precondition_failed', value: 1 })]).ok).toBe(true);
    expect(checkLinearizable([one, cas('b', 'x', 5, 6, 2, 3, { ok: false, reason: 'precondition_failed', value: 7 })]).ok).toBe(false);
    expect(checkLinearizable([one, cas('b', 'x', 1, 6, 2, 3, { ok: false, reason: 'precondition_failed' })]).ok).toBe(false);
    expect(checkLinearizable([one, cas('b', 'x', 5, 6, 2, 3, { ok: false })]).ok).toBe(true);
    expect(checkLinearizable([one, cas('b', 'x', 5, 6, 2, 3, { ok: false, reason: 'not_found' })]).ok).toBe(false);
    expect(checkLinearizable([cas('b', 'x', 5, 6, 2, 3, { ok: false, reason: 'not_found' })]).ok).toBe(true);
    expect(checkLinearizable([cas('b', 'x', null, 6, 2, 3, { ok: true })]).ok).toBe(false); // null is a value, not absence
  });

  it('two cas from the same value cannot both succeed (a lock taken twice)', () => {
    const history = [put('a', 'lock', 'free', 0, 1), cas('b', 'lock', 'free', 'b', 2, 10), cas('c', 'lock', 'free', 'c', 2, 10)];
    expect(checkLinearizable(history).ok).toBe(false);
  });

  it('delete removes the key, and existed reports whether it was there', () => {
    expect(checkLinearizable([put('a', 'x', 1, 0, 1), del('a', 'x', 2, 3, true), get('b', 'x', 4, 5)]).ok).toBe(true);
    expect(checkLinearizable([put('a', 'x', 1, 0, 1), del('a', 'x', 2, 3), get('b', 'x', 4, 5, 1)]).ok).toBe(false);
    expect(checkLinearizable([put('a', 'x', 1, 0, 1), del('a', 'x', 2, 3, false)]).ok).toBe(false);
    expect(checkLinearizable([del('a', 'x', 2, 3, true)]).ok).toBe(false);
  });

  it('an indeterminate write may take effect later, at any point after its call', () => {
    const history = [put('a', 'x', 1, 0), get('b', 'x', 10, 11), get('b', 'x', 20, 21, 1)];
    expect(checkLinearizable(history).ok).toBe(true);
  });

  it('an indeterminate write may never take effect', () => {
    expect(checkLinearizable([put('a', 'x', 1, 0), get('b', 'x', 10, 11), get('b', 'x', 20, 21)]).ok).toBe(true);
  });

  it('an indeterminate write takes effect at most once: seen, it cannot vanish without a delete', () => {
    expect(checkLinearizable([put('a', 'x', 1, 0), get('b', 'x', 10, 11, 1), get('b', 'x', 20, 21)]).ok).toBe(false);
  });

  it('an indeterminate write cannot take effect before it was called', () => {
    expect(checkLinearizable([get('b', 'x', 0, 1, 1), put('a', 'x', 1, 5)]).ok).toBe(false);
  });

  it('an indeterminate cas applies only if its precondition held when it took effect', () => {
    expect(checkLinearizable([put('a', 'x', 1, 0, 1), cas('b', 'x', 1, 2, 2), get('c', 'x', 5, 6, 2)]).ok).toBe(true);
    expect(checkLinearizable([put('a', 'x', 3, 0, 1), cas('b', 'x', 1, 2, 2), get('c', 'x', 5, 6, 2)]).ok).toBe(false);
  });

  it('operations on different keys are independent', () => {
    const history = [put('a', 'x', 1, 0, 10), put('a', 'y', 1, 0, 10), get('b', 'y', 11, 12, 1), get('b', 'x', 13, 14, 1), get('c', 'z', 0, 1)];
    expect(checkLinearizable(history).ok).toBe(true);
    const bad = [...history, get('c', 'y', 20, 21)];
    expect(checkLinearizable(bad).counterexample?.key).toBe('y');
  });

  it('values are JSON compared structurally: key order does not matter, array order does', () => {
    const w = put('a', 'x', { a: 1, b: [1, 2] }, 0, 1);
    expect(checkLinearizable([w, get('b', 'x', 2, 3, { b: [1, 2], a: 1 })]).ok).toBe(true);
    expect(checkLinearizable([w, get('b', 'x', 2, 3, { a: 1, b: [2, 1] })]).ok).toBe(false);
    expect(checkLinearizable([w, cas('b', 'x', { b: [1, 2], a: 1 }, 0, 2, 3)]).ok).toBe(true);
    expect(canonicalJson({ b: 1, a: { d: [1, { f: 0, e: null }], c: 'x' } })).toBe('{"a":{"c":"x","d":[1,{"e":null,"f":0}]},"b":1}');
    expect(canonicalJson(-0)).toBe(canonicalJson(0));
  });

  it('a malformed history is refused with a clear error', () => {
    expect(() => checkLinearizable([{ ...get('a', 'x', 5, 6), return: 4 }])).toThrow(/return must be a finite number ≥ call/);
    expect(() => checkLinearizable([{ clientId: 'a', op: { type: 'get', key: 'x' }, call: 0, return: 1 }])).toThrow(/a completed get needs output/);
    expect(() => checkLinearizable([put('a', 'x', Number.NaN as unknown as JsonValue, 0, 1)])).toThrow(/not a JSON value/);
    expect(() => checkLinearizable([{ clientId: 'a', op: { type: 'incr', key: 'x' } as unknown as KvOp, call: 0 } as HistoryEntry])).toThrow(/unknown operation type/);
  });
});

describe('counterexamples', () => {
  it('a counterexample is shrunk to the operations that matter, keeping the write the stale read saw', () => {
    const history: HistoryEntry[] = [put('w', 'x', 1, 0, 1)];
    for (let i = 0; i < 10; i++) history.push(get(`r${i}`, 'x', 2 + i, 3 + i, 1));
    history.push(put('w', 'x', 2, 20, 21));
    for (let i = 0; i < 10; i++) history.push(get(`s${i}`, 'x', 22 + i, 40, 2));
    const stale = get('late', 'x', 50, 51, 1);
    history.push(stale, put('other', 'y', 1, 0, 1));
    const result = checkLinearizable(history);
    expect(result.ok).toBe(false);
    expect(result.counterexample?.minimal).toBe(true);
    expect(result.counterexample?.operations).toEqual([history[0], history[11], stale]);
  });

  it('a read of a value never written is a counterexample on its own', () => {
    const ghost = get('b', 'x', 4, 5, 'ghost');
    const result = checkLinearizable([put('a', 'x', 1, 0, 1), get('b', 'x', 2, 3, 1), ghost]);
    expect(result.counterexample?.operations).toEqual([ghost]);
  });

  it("minimization can be turned off: then all of the key's operations are reported", () => {
    const history = [put('a', 'x', 1, 0, 1), get('b', 'x', 2, 3, 1), get('b', 'x', 4, 5, 'ghost')];
    const result = checkLinearizable(history, { minimize: false });
    expect(result.counterexample?.operations).toEqual(history);
    expect(result.counterexample?.minimal).toBe(false);
  });

  it('the description says which operation could not take effect and why', () => {
    const history = [put('a', 'x', 1, 0, 1), cas('b', 'x', 1, 2, 2, 3), get('c', 'x', 4, 5, 1)];
    const text = checkLinearizable(history).counterexample?.description ?? '';
    expect(text).toContain('key "x"');
    expect(text).toContain('#1 b cas("x", 1, 2) → ok [2, 3]');
    expect(text).toContain('#2: get("x") → 1 is impossible when the value is 2');
  });
});

describe('search budget', () => {
  /** Many concurrent writes and reads of one key that no order explains: an exponential search. */
  function hardHistory(writers: number): HistoryEntry[] {
    const history: HistoryEntry[] = [];
    for (let i = 0; i < writers; i++) history.push(put(`w${i}`, 'x', i, 0, 100));
    for (let i = 0; i < writers; i++) history.push(get(`r${i}`, 'x', 1, 99, i));
    history.push(get('late', 'x', 101, 102, 'never'));
    return history;
  }

  it('a search that exceeds maxStates reports timedOut, proving nothing (ok is false, no counterexample)', () => {
    const result = checkLinearizable(hardHistory(12), { maxStates: 500 });
    expect(result).toMatchObject({ ok: false, timedOut: true });
    expect(result.counterexample).toBeUndefined();
    expect(result.states).toBe(501);
  });

  it('the budget is a step counter, so a run is deterministic', () => {
    const a = checkLinearizable(hardHistory(8), { maxStates: 100_000 });
    const b = checkLinearizable(hardHistory(8), { maxStates: 100_000 });
    expect(a.states).toBe(b.states);
    expect(a.ok).toBe(b.ok);
  });

  it('a read that fits the current state is linearized at once, so many concurrent readers stay cheap', () => {
    // 40 concurrent writers and 40 reads, each of a different writer's value: linearizable (w_i, r_i, …).
    // Without the observer rule the search tries all writes before any read: exponential.
    const history: HistoryEntry[] = [];
    for (let i = 0; i < 40; i++) history.push(put(`w${i}`, 'x', i, 0, 100), get(`r${i}`, 'x', 1, 99, i));
    const result = checkLinearizable(history, { maxStates: 10_000 });
    expect(result.ok).toBe(true);
    expect(result.states).toBeLessThanOrEqual(2 * 80);
  });

  it('memoization: a configuration (operations linearized, value) is explored once', () => {
    // 10 concurrent puts of the same value, then a read of a value nobody wrote: without memoization
    // the search would try all 10! orders of the puts; with it, each subset once.
    const history: HistoryEntry[] = [];
    for (let i = 0; i < 10; i++) history.push(put(`w${i}`, 'x', 'same', 0, 100));
    history.push(get('r', 'x', 101, 102, 'other'));
    const result = checkLinearizable(history, { minimize: false, maxStates: 1_000_000 });
    expect(result.ok).toBe(false);
    expect(result.states).toBeLessThan(2 ** 10 * 12);
  });
});

// ---------------------------------------------------------------- properties

interface Planned {
  key: string;
  kind: 'get' | 'put' | 'delete' | 'cas';
  value: number;
  from: number;
  before: number;
  after: number;
  fate: 'done' | 'lost-applied' | 'lost-dropped';
}

const plannedArb: fc.Arbitrary<Planned> = fc.record({
  key: fc.constantFrom('a', 'b', 'c'),
  kind: fc.constantFrom('get', 'get', 'put', 'delete', 'cas'),
  value: fc.nat({ max: 3 }),
  from: fc.nat({ max: 3 }),
  before: fc.nat({ max: 25 }),
  after: fc.nat({ max: 25 }),
  fate: fc.constantFrom('done', 'done', 'done', 'done', 'lost-applied', 'lost-dropped'),
});

/**
 * Run the plan on a sequential in-memory map: operation i takes effect at instant 10·i + 5, which lies
 * inside its (random, overlapping) interval. Lost operations have no return; some of them took effect.
 */
function sequentialHistory(plan: readonly Planned[]): HistoryEntry[] {
  const map = new Map<string, number>();
  return plan.map((p, i): HistoryEntry => {
    const at = 10 * i + 5;
    const call = at - p.before;
    const ret = p.fate === 'done' ? at + p.after : undefined;
    const applies = p.fate !== 'lost-dropped';
    const current = map.get(p.key);
    const clientId = `c${i}`;
    const timing = { clientId, call, ...(ret === undefined ? {} : { return: ret }) };
    switch (p.kind) {
      case 'get':
        return { ...timing, op: { type: 'get', key: p.key }, output: current === undefined ? { found: false } : { found: true, value: current } };
      case 'put':
        if (applies) map.set(p.key, p.value);
        return { ...timing, op: { type: 'put', key: p.key, value: p.value }, output: { ok: true } };
      case 'delete':
        if (applies) map.delete(p.key);
        return { ...timing, op: { type: 'delete', key: p.key }, output: { ok: true, existed: current !== undefined } };
      case 'cas': {
        let output: CasOutput;
        if (current === undefined) output = { ok: false, reason: 'not_found' };
        else if (current !== p.from) output = { ok: false, reason: 'precondition_failed', value: current };
        else {
          output = { ok: true };
          if (applies) map.set(p.key, p.value);
        }
        return { ...timing, op: { type: 'cas', key: p.key, from: p.from, to: p.value }, output };
      }
    }
  });
}

/** Brute force: some subset of the indeterminate ops and some order respecting real time explains every output. */
function bruteForceLinearizable(history: readonly HistoryEntry[]): boolean {
  const n = history.length;
  const precedes = (a: HistoryEntry, b: HistoryEntry) => a.return !== undefined && a.return < b.call;
  const used = new Array<boolean>(n).fill(false);
  const holds = (state: Map<string, string>, e: HistoryEntry): Map<string, string> | undefined => {
    const cur = state.get(e.op.key);
    const next = new Map(state);
    const out = e.return === undefined ? undefined : (e.output as Record<string, unknown>);
    switch (e.op.type) {
      case 'get':
        if (out && (out.found ? cur !== canonicalJson(out.value) : cur !== undefined)) return undefined;
        return next;
      case 'put':
        next.set(e.op.key, canonicalJson(e.op.value));
        return next;
      case 'delete':
        if (out && out.existed !== undefined && out.existed !== (cur !== undefined)) return undefined;
        next.delete(e.op.key);
        return next;
      case 'cas': {
        const matches = cur === canonicalJson(e.op.from);
        if (out) {
          if (out.ok !== matches) return undefined;
          if (!out.ok && out.reason === 'not_found' && cur !== undefined) return undefined;
          if (!out.ok && out.reason === 'precondition_failed' && (cur === undefined || ('value' in out && canonicalJson(out.value) !== cur))) return undefined;
        }
        if (matches) next.set(e.op.key, canonicalJson(e.op.to));
        return next;
      }
    }
  };
  const go = (state: Map<string, string>, placed: number): boolean => {
    if (history.every((e, i) => used[i] || e.return === undefined)) return true;
    for (let i = 0; i < n; i++) {
      if (used[i]) continue;
      const e = history[i]!;
      // Every op that must precede e has been placed (or is indeterminate and may be dropped: it has no return).
      if (history.some((d, j) => !used[j] && j !== i && precedes(d, e))) continue;
      const next = holds(state, e);
      if (next === undefined) continue;
      used[i] = true;
      if (go(next, placed + 1)) return ((used[i] = false), true);
      used[i] = false;
    }
    return false;
  };
  return go(new Map(), 0);
}

describe('properties', () => {
  it('histories of a sequential KV whose intervals contain the true linearization point are always linearizable (property)', () => {
    fc.assert(
      fc.property(fc.array(plannedArb, { maxLength: 40 }), (plan) => {
        const result = checkLinearizable(sequentialHistory(plan));
        expect(result.timedOut).toBeUndefined();
        expect(result.counterexample?.description).toBeUndefined();
        expect(result.ok).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("changing one read's output to a value never written makes the history non-linearizable (property)", () => {
    fc.assert(
      fc.property(fc.array(plannedArb, { minLength: 1, maxLength: 40 }), fc.nat(), (plan, pick) => {
        const history = sequentialHistory(plan);
        const reads = history.map((e, i) => [e, i] as const).filter(([e]) => e.op.type === 'get' && e.return !== undefined);
        fc.pre(reads.length > 0);
        const [read, index] = reads[pick % reads.length]!;
        const mutated = history.map((e, i) => (i === index ? ({ ...read, output: { found: true, value: 'never written' } } as HistoryEntry) : e));
        const result = checkLinearizable(mutated);
        expect(result.ok).toBe(false);
        expect(result.counterexample?.key).toBe(read.op.key);
        // The minimized set fails for the history's own reason, so it holds the mutated read.
        expect(result.counterexample?.minimal).toBe(true);
        expect(result.counterexample?.operations).toContain(mutated[index]);
        expect(checkLinearizable(result.counterexample!.operations).ok).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('the checker agrees with a brute-force search over all orders on small random histories (property)', () => {
    const outputArb = (kind: KvOp['type']) => {
      switch (kind) {
        case 'get':
          return fc.oneof(
            fc.constant({ found: false }),
            fc.nat({ max: 2 }).map((value) => ({ found: true, value })),
          );
        case 'put':
          return fc.constant({ ok: true });
        case 'delete':
          return fc.constantFrom({ ok: true }, { ok: true, existed: true }, { ok: true, existed: false });
        case 'cas':
          return fc.oneof(
            fc.constant({ ok: true }),
            fc.constant({ ok: false }),
            fc.constant({ ok: false, reason: 'not_found' }),
            fc.constant({ ok: false, reason: 'precondition_failed' }),
            fc.nat({ max: 2 }).map((value) => ({ ok: false, reason: 'precondition_failed', value })),
          );
      }
    };
    const entryArb: fc.Arbitrary<HistoryEntry> = fc
      .record({
        key: fc.constantFrom('a', 'b'),
        kind: fc.constantFrom('get' as const, 'put' as const, 'delete' as const, 'cas' as const),
        value: fc.nat({ max: 2 }),
        from: fc.nat({ max: 2 }),
        call: fc.nat({ max: 10 }),
        length: fc.option(fc.nat({ max: 6 }), { freq: 4 }),
      })
      .chain((r) =>
        outputArb(r.kind).map((output) => {
          const op: KvOp =
            r.kind === 'get'
              ? { type: 'get', key: r.key }
              : r.kind === 'put'
                ? { type: 'put', key: r.key, value: r.value }
                : r.kind === 'delete'
                  ? { type: 'delete', key: r.key }
                  : { type: 'cas', key: r.key, from: r.from, to: r.value };
          const timing = r.length === null ? { call: r.call } : { call: r.call, return: r.call + r.length };
          // A failed cas cannot report the value it expected: skip that impossible output.
          const o = output as { value?: number };
          const fixed = r.kind === 'cas' && o.value === r.from ? { ok: false } : output;
          return { clientId: 'c', op, ...timing, output: fixed } as HistoryEntry;
        }),
      );
    let linearizable = 0;
    fc.assert(
      fc.property(fc.array(entryArb, { maxLength: 6 }), (history) => {
        const expected = bruteForceLinearizable(history);
        if (expected) linearizable++;
        const result = checkLinearizable(history);
        expect(result.ok).toBe(expected);
        if (!result.ok) {
          // A counterexample is a real failing sub-history of one key.
          const { key, operations } = result.counterexample!;
          expect(operations.every((e) => history.includes(e) && e.op.key === key)).toBe(true);
          expect(bruteForceLinearizable(operations)).toBe(false);
        }
      }),
      { numRuns: 1000 },
    );
    expect(linearizable).toBeGreaterThan(50); // both answers were exercised
  });
});
