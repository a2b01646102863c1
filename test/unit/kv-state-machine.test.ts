import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NOOP, type LogEntry } from '../../src/core/types.js';
import {
  KvStateMachine,
  MAX_KEY_LENGTH,
  MAX_VALUE_DEPTH,
  parseKvCommand,
  type JsonValue,
  type KvCommand,
  type KvQuery,
  type KvQueryResult,
  type KvResult,
} from '../../src/kv/state-machine.js';
import { checkLinearizable, type HistoryEntry } from '../../src/sim/linearizability.js';
import type { StateMachine } from '../../src/state-machine.js';

/** Applies commands as consecutive log entries, as the runtime does. */
function replica() {
  const sm = new KvStateMachine();
  let index = 0;
  return {
    sm,
    apply(command: unknown): KvResult {
      index++;
      return sm.apply(command, { term: 1, index, command } as LogEntry<unknown>);
    },
  };
}

describe('put, get, delete', () => {
  it('a put is visible to a later get, and its result names the log index that wrote it', () => {
    const r = replica();
    r.apply({ type: 'put', key: 'other', value: 0 });
    expect(r.apply({ type: 'put', key: 'x', value: { n: 1 } })).toEqual({ ok: true, index: 2 });
    expect(r.sm.get('x')).toEqual({ found: true, value: { n: 1 } });
  });

  it('a put overwrites the previous value', () => {
    const r = replica();
    r.apply({ type: 'put', key: 'x', value: 1 });
    r.apply({ type: 'put', key: 'x', value: 'two' });
    expect(r.sm.get('x')).toEqual({ found: true, value: 'two' });
  });

  it('a key never written is not found', () => {
    expect(new KvStateMachine().get('x')).toEqual({ found: false });
  });

  it('delete removes the key and says whether it existed', () => {
    const r = replica();
    r.apply({ type: 'put', key: 'x', value: 1 });
    expect(r.apply({ type: 'delete', key: 'x' })).toEqual({ ok: true, existed: true });
    expect(r.sm.get('x')).toEqual({ found: false });
    expect(r.apply({ type: 'delete', key: 'x' })).toEqual({ ok: true, existed: false });
    expect(r.sm.size).toBe(0);
  });

  it('null is a value, distinct from a missing key', () => {
    const r = replica();
    r.apply({ type: 'put', key: 'x', value: null });
    expect(r.sm.get('x')).toEqual({ found: true, value: null });
    expect(r.apply({ type: 'cas', key: 'x', from: null, to: 1 })).toEqual({ ok: true });
    expect(r.apply({ type: 'cas', key: 'missing', from: null, to: 1 })).toEqual({ ok: false, reason: 'not_found' });
  });
});

describe('compare-and-set', () => {
  it('a cas whose precondition holds sets the new value', () => {
    const r = replica();
    r.apply({ type: 'put', key: 'lock', value: 'free' });
    expect(r.apply({ type: 'cas', key: 'lock', from: 'free', to: 'agent-1' })).toEqual({ ok: true });
    expect(r.sm.get('lock')).toEqual({ found: true, value: 'agent-1' });
  });

  it('a cas whose precondition fails changes nothing and reports the current value', () => {
    const r = replica();
    r.apply({ type: 'put', key: 'lock', value: 'agent-1' });
    expect(r.apply({ type: 'cas', key: 'lock', from: 'free', to: 'agent-2' })).toEqual({ ok: false, reason: 'precondition_failed', value: 'agent-1' });
    expect(r.sm.get('lock')).toEqual({ found: true, value: 'agent-1' });
  });

  it('a cas on a missing key fails with not_found and does not create the key', () => {
    const r = replica();
    expect(r.apply({ type: 'cas', key: 'lock', from: 'free', to: 'agent-1' })).toEqual({ ok: false, reason: 'not_found' });
    expect(r.sm.get('lock')).toEqual({ found: false });
  });

  it('two agents racing for a lock: exactly one cas wins', () => {
    const r = replica();
    r.apply({ type: 'put', key: 'lock', value: 'free' });
    const a = r.apply({ type: 'cas', key: 'lock', from: 'free', to: 'a' });
    const b = r.apply({ type: 'cas', key: 'lock', from: 'free', to: 'b' });
    expect([a.ok, b.ok]).toEqual([true, false]);
    expect(b).toEqual({ ok: false, reason: 'precondition_failed', value: 'a' });
  });

  it('cas compares JSON values structurally: object key order does not matter, array order does', () => {
    const r = replica();
    r.apply({ type: 'put', key: 'x', value: { a: 1, b: [1, 2], c: { d: null } } });
    expect(r.apply({ type: 'cas', key: 'x', from: { b: [2, 1], a: 1, c: { d: null } }, to: 0 }).ok).toBe(false);
    expect(r.apply({ type: 'cas', key: 'x', from: { c: { d: null }, b: [1, 2], a: 1 }, to: 'won' })).toEqual({ ok: true });
    expect(r.sm.get('x')).toEqual({ found: true, value: 'won' });
  });

  it('cas does not confuse values that print alike in JavaScript: 1 vs "1", null vs missing field, [] vs {}', () => {
    const r = replica();
    r.apply({ type: 'put', key: 'n', value: 1 });
    r.apply({ type: 'put', key: 'o', value: { a: null } });
    r.apply({ type: 'put', key: 'e', value: [] });
    expect(r.apply({ type: 'cas', key: 'n', from: '1', to: 2 }).ok).toBe(false);
    expect(r.apply({ type: 'cas', key: 'o', from: {}, to: 2 }).ok).toBe(false);
    expect(r.apply({ type: 'cas', key: 'e', from: {}, to: 2 }).ok).toBe(false);
  });
});

describe('client deduplication (at-most-once retries)', () => {
  it('a retried write with the same (client id, seq) returns the remembered result and changes nothing', () => {
    const r = replica();
    const cmd = { type: 'put', key: 'x', value: 1, client: { id: 'c1', seq: 1 } };
    const first = r.apply(cmd);
    r.apply({ type: 'put', key: 'x', value: 'someone else' });
    const retry = r.apply(cmd);
    expect(retry).toEqual(first);
    expect(retry).toEqual({ ok: true, index: 1 }); // the index of the entry that applied it, not of the retry
    expect(r.sm.get('x')).toEqual({ found: true, value: 'someone else' });
  });

  it('a retried cas returns its first outcome, not the outcome it would have now', () => {
    const r = replica();
    r.apply({ type: 'put', key: 'x', value: 1 });
    const cmd = { type: 'cas', key: 'x', from: 1, to: 2, client: { id: 'c1', seq: 7 } };
    expect(r.apply(cmd)).toEqual({ ok: true });
    expect(r.apply(cmd)).toEqual({ ok: true }); // a fresh cas would fail: the value is 2 now
    expect(r.sm.get('x')).toEqual({ found: true, value: 2 });
  });

  it('a retried delete reports that the key existed, as the first attempt did', () => {
    const r = replica();
    r.apply({ type: 'put', key: 'x', value: 1 });
    const cmd = { type: 'delete', key: 'x', client: { id: 'c1', seq: 1 } };
    expect(r.apply(cmd)).toEqual({ ok: true, existed: true });
    r.apply({ type: 'put', key: 'x', value: 'again' });
    expect(r.apply(cmd)).toEqual({ ok: true, existed: true });
    expect(r.sm.get('x')).toEqual({ found: true, value: 'again' }); // the retry did not delete it
  });

  it("a command older than the client's last applied one is refused as stale and changes nothing", () => {
    const r = replica();
    r.apply({ type: 'put', key: 'x', value: 1, client: { id: 'c1', seq: 1 } });
    r.apply({ type: 'put', key: 'x', value: 2, client: { id: 'c1', seq: 2 } });
    const stale = r.apply({ type: 'put', key: 'x', value: 1, client: { id: 'c1', seq: 1 } });
    expect(stale).toMatchObject({ ok: false, reason: 'stale', lastSeq: 2 });
    expect((stale as { error: string }).error).toMatch(/seq 1 is older than its last applied seq 2/);
    expect(r.sm.get('x')).toEqual({ found: true, value: 2 });
  });

  it('sequence numbers may skip; only order matters', () => {
    const r = replica();
    r.apply({ type: 'put', key: 'x', value: 1, client: { id: 'c1', seq: 1 } });
    expect(r.apply({ type: 'put', key: 'x', value: 5, client: { id: 'c1', seq: 5 } })).toEqual({ ok: true, index: 2 });
    expect(r.sm.get('x')).toEqual({ found: true, value: 5 });
  });

  it('clients are deduplicated independently', () => {
    const r = replica();
    r.apply({ type: 'put', key: 'x', value: 'a', client: { id: 'a', seq: 5 } });
    expect(r.apply({ type: 'put', key: 'x', value: 'b', client: { id: 'b', seq: 1 } })).toEqual({ ok: true, index: 2 });
    expect(r.sm.get('x')).toEqual({ found: true, value: 'b' });
  });

  it('commands without a client are never deduplicated', () => {
    const r = replica();
    r.apply({ type: 'put', key: 'x', value: 1 });
    r.apply({ type: 'delete', key: 'x' });
    expect(r.apply({ type: 'put', key: 'x', value: 1 })).toEqual({ ok: true, index: 3 });
    expect(r.sm.get('x')).toEqual({ found: true, value: 1 });
  });

  it("an invalid command does not advance its client's sequence", () => {
    const r = replica();
    expect(r.apply({ type: 'put', key: '', value: 1, client: { id: 'c1', seq: 9 } })).toMatchObject({ reason: 'invalid_command' });
    expect(r.apply({ type: 'put', key: 'x', value: 1, client: { id: 'c1', seq: 3 } })).toEqual({ ok: true, index: 2 });
  });
});

describe('no-ops and invalid commands', () => {
  it('a Raft no-op entry changes nothing', () => {
    const r = replica();
    r.apply({ type: 'put', key: 'x', value: 1 });
    expect(r.apply(NOOP)).toEqual({ ok: true, noop: true });
    expect(r.sm.dump()).toEqual({ x: 1 });
  });

  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  let deep: unknown = 0;
  for (let i = 0; i < MAX_VALUE_DEPTH + 1; i++) deep = [deep];
  const throwingGetter = {
    type: 'put',
    key: 'x',
    get value(): never {
      throw new Error('boom');
    },
  };
  const throwingProxy = new Proxy(
    {},
    {
      get() {
        throw new Error('trap');
      },
      ownKeys() {
        throw new Error('trap');
      },
    },
  );
  class Point {
    x = 1;
  }
  const sparse = [1, , 3];

  const invalid: [string, unknown, RegExp][] = [
    ['null', null, /type|expected/i],
    ['undefined', undefined, /./],
    ['a string', 'put x 1', /./],
    ['an unknown type', { type: 'incr', key: 'x' }, /type/],
    ['a get (a query, not a command)', { type: 'get', key: 'x' }, /type/],
    ['an empty key', { type: 'put', key: '', value: 1 }, /key: key must not be empty/],
    ['a key too long', { type: 'put', key: 'k'.repeat(MAX_KEY_LENGTH + 1), value: 1 }, /key: key is longer than 1024/],
    ['a non-string key', { type: 'put', key: 7, value: 1 }, /key/],
    ['a put without value', { type: 'put', key: 'x' }, /value/],
    ['an undefined value', { type: 'put', key: 'x', value: undefined }, /value/],
    ['NaN', { type: 'put', key: 'x', value: Number.NaN }, /value: must be a JSON value/],
    ['Infinity', { type: 'put', key: 'x', value: Number.POSITIVE_INFINITY }, /value/],
    ['a nested NaN', { type: 'put', key: 'x', value: { a: [1, Number.NaN] } }, /value/],
    ['a function', { type: 'put', key: 'x', value: () => 1 }, /value/],
    ['a Date', { type: 'put', key: 'x', value: new Date(0) }, /value/],
    ['a Map', { type: 'put', key: 'x', value: new Map() }, /value/],
    ['a class instance', { type: 'put', key: 'x', value: new Point() }, /value/],
    ['a bigint', { type: 'put', key: 'x', value: 1n }, /value/],
    ['a sparse array', { type: 'put', key: 'x', value: sparse }, /value/],
    ['a cyclic object', { type: 'put', key: 'x', value: cyclic }, /value/],
    ['a value nested too deeply', { type: 'put', key: 'x', value: deep }, /value/],
    ['a nested undefined', { type: 'put', key: 'x', value: { a: undefined } }, /value/],
    ['an unknown field', { type: 'put', key: 'x', value: 1, ttl: 5 }, /ttl|unrecognized/i],
    ['a cas without from', { type: 'cas', key: 'x', to: 1 }, /from/],
    ['a cas with an invalid to', { type: 'cas', key: 'x', from: 1, to: Number.NaN }, /to/],
    ['a delete with a value', { type: 'delete', key: 'x', value: 1 }, /value|unrecognized/i],
    ['a client without id', { type: 'put', key: 'x', value: 1, client: { seq: 1 } }, /client/],
    ['an empty client id', { type: 'put', key: 'x', value: 1, client: { id: '', seq: 1 } }, /client/],
    ['a negative seq', { type: 'put', key: 'x', value: 1, client: { id: 'c', seq: -1 } }, /client\.seq/],
    ['a fractional seq', { type: 'put', key: 'x', value: 1, client: { id: 'c', seq: 1.5 } }, /client\.seq/],
    ['a getter that throws', throwingGetter, /boom/],
    ['a proxy that throws', { type: 'put', key: 'x', value: throwingProxy }, /trap/],
  ];

  it('an invalid command applies as an invalid_command error result, never throws, never changes state', () => {
    const r = replica();
    r.apply({ type: 'put', key: 'x', value: 1 });
    for (const [name, command, message] of invalid) {
      let result: KvResult | undefined;
      expect(() => (result = r.apply(command)), name).not.toThrow();
      expect(result, name).toMatchObject({ ok: false, reason: 'invalid_command' });
      expect((result as { error: string }).error, name).toMatch(message);
      expect(r.sm.dump(), name).toEqual({ x: 1 });
    }
  });

  it('parseKvCommand checks a command up front with the same schema', () => {
    expect(parseKvCommand({ type: 'delete', key: 'x' })).toEqual({ ok: true, command: { type: 'delete', key: 'x' } });
    expect(parseKvCommand({ type: 'delete', key: '' })).toMatchObject({ ok: false, reason: 'invalid_command' });
  });

  it('a key of the maximum length, and any Unicode, is valid', () => {
    const r = replica();
    expect(r.apply({ type: 'put', key: 'k'.repeat(MAX_KEY_LENGTH), value: 1 }).ok).toBe(true);
    expect(r.apply({ type: 'put', key: 'clé/🔑', value: 'ü' }).ok).toBe(true);
    expect(r.sm.get('clé/🔑')).toEqual({ found: true, value: 'ü' });
  });

  it('a value nested exactly MAX_VALUE_DEPTH levels deep is valid', () => {
    let value: JsonValue = 0;
    for (let i = 0; i < MAX_VALUE_DEPTH; i++) value = i % 2 === 0 ? [value] : { v: value };
    const r = replica();
    expect(r.apply({ type: 'put', key: 'deep', value })).toEqual({ ok: true, index: 1 });
    expect(r.sm.get('deep')).toEqual({ found: true, value });
  });

  it('keys and fields named like Object.prototype members are ordinary data', () => {
    const r = replica();
    const value = JSON.parse('{"__proto__": {"polluted": true}, "constructor": 1}') as JsonValue;
    expect(r.apply({ type: 'put', key: '__proto__', value })).toEqual({ ok: true, index: 1 });
    r.apply({ type: 'put', key: 'toString', value: 2 });
    expect(r.sm.get('__proto__')).toEqual({ found: true, value });
    expect(Object.keys((r.sm.get('__proto__') as { value: object }).value)).toEqual(['__proto__', 'constructor']);
    expect(r.sm.keys()).toEqual(['__proto__', 'toString']);
    expect(Object.keys(r.sm.dump())).toEqual(['__proto__', 'toString']);
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
    expect(r.apply({ type: 'cas', key: '__proto__', from: JSON.parse('{"constructor": 1, "__proto__": {"polluted": true}}'), to: 0 })).toEqual({ ok: true });
  });

  it('apply never throws and an invalid command never changes state, whatever the input (property)', () => {
    const nearCommand = fc.record(
      {
        type: fc.constantFrom('put', 'delete', 'cas', 'get', 'raft.noop', 'other'),
        key: fc.oneof(fc.string({ maxLength: 4 }), fc.anything()),
        value: fc.anything(),
        from: fc.anything(),
        to: fc.anything(),
        client: fc.oneof(fc.record({ id: fc.string({ maxLength: 3 }), seq: fc.oneof(fc.integer({ min: -2, max: 5 }), fc.double()) }), fc.anything()),
        extra: fc.anything(),
      },
      { requiredKeys: ['type'] },
    );
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.anything(), nearCommand), { maxLength: 20 }), (commands) => {
        const r = replica();
        for (const command of commands) {
          const before = JSON.stringify(r.sm.dump());
          const result = r.apply(command);
          if (!result.ok && result.reason === 'invalid_command') expect(JSON.stringify(r.sm.dump())).toBe(before);
          if (result.ok && 'noop' in result) expect(JSON.stringify(r.sm.dump())).toBe(before);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('the state cannot be changed from outside', () => {
  it("changing a command's value after apply does not change the state", () => {
    const r = replica();
    const value = { list: [1, 2] };
    r.apply({ type: 'put', key: 'x', value });
    value.list.push(3);
    expect(r.sm.get('x')).toEqual({ found: true, value: { list: [1, 2] } });
  });

  it('values returned by queries are frozen: changing one throws instead of changing the state', () => {
    const r = replica();
    r.apply({ type: 'put', key: 'x', value: { list: [1, 2] } });
    const got = r.sm.get('x') as { found: true; value: { list: number[] } };
    expect(() => got.value.list.push(3)).toThrow(TypeError);
    const dump = r.sm.dump() as Record<string, unknown>;
    dump.y = 1;
    expect(r.sm.keys()).toEqual(['x']);
  });

  it('a remembered result cannot be changed by the caller who received it', () => {
    const r = replica();
    const cmd = { type: 'put', key: 'x', value: 1, client: { id: 'c', seq: 1 } };
    const first = r.apply(cmd) as { index: number };
    expect(() => {
      first.index = 99;
    }).toThrow(TypeError);
    expect(r.apply(cmd)).toEqual({ ok: true, index: 1 });
  });
});

describe('queries', () => {
  it('query answers get, keys and dump, and never changes the state', () => {
    const r = replica();
    r.apply({ type: 'put', key: 'tasks/2', value: 'b' });
    r.apply({ type: 'put', key: 'tasks/1', value: 'a' });
    r.apply({ type: 'put', key: 'leader', value: 'n1' });
    expect(r.sm.query({ type: 'get', key: 'tasks/1' })).toEqual({ found: true, value: 'a' });
    expect(r.sm.query({ type: 'get', key: 'nope' })).toEqual({ found: false });
    expect(r.sm.query({ type: 'keys' })).toEqual(['leader', 'tasks/1', 'tasks/2']);
    expect(r.sm.query({ type: 'keys', prefix: 'tasks/' })).toEqual(['tasks/1', 'tasks/2']);
    expect(r.sm.query({ type: 'dump' })).toEqual({ leader: 'n1', 'tasks/1': 'a', 'tasks/2': 'b' });
    expect(r.sm.dump()).toEqual({ leader: 'n1', 'tasks/1': 'a', 'tasks/2': 'b' });
  });

  it('an invalid query answers invalid_query instead of throwing', () => {
    const sm = new KvStateMachine();
    for (const q of [null, {}, { type: 'get' }, { type: 'get', key: '' }, { type: 'scan' }, { type: 'put', key: 'x', value: 1 }]) {
      expect(sm.query(q), JSON.stringify(q)).toMatchObject({ ok: false, reason: 'invalid_query' });
    }
    expect(sm.size).toBe(0);
  });

  it('implements the StateMachine interface the runtime drives', () => {
    const sm: StateMachine<KvCommand, KvResult, KvQuery, KvQueryResult> = new KvStateMachine();
    expect(sm.apply({ type: 'put', key: 'k', value: true }, { term: 2, index: 4, command: { type: 'put', key: 'k', value: true } })).toEqual({ ok: true, index: 4 });
    expect(sm.query({ type: 'get', key: 'k' })).toEqual({ found: true, value: true });
  });
});

// ---------------------------------------------------------------- properties

const valueArb: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.nat({ max: 3 }),
  fc.constantFrom('a', 'b', null),
  fc.record({ n: fc.nat({ max: 2 }) }),
  fc.array(fc.nat({ max: 2 }), { maxLength: 2 }),
);
const commandArb: fc.Arbitrary<KvCommand> = fc
  .record({
    type: fc.constantFrom('put' as const, 'delete' as const, 'cas' as const),
    key: fc.constantFrom('a', 'b', 'c'),
    value: valueArb,
    from: valueArb,
    client: fc.option(fc.record({ id: fc.constantFrom('c1', 'c2'), seq: fc.nat({ max: 6 }) }), { nil: undefined }),
  })
  .map(({ type, key, value, from, client }): KvCommand => {
    const c = client === undefined ? {} : { client };
    if (type === 'put') return { type, key, value, ...c };
    if (type === 'delete') return { type, key, ...c };
    return { type, key, from, to: value, ...c };
  });

describe('properties', () => {
  it('apply is deterministic: replicas applying the same commands give the same results and the same state (property)', () => {
    fc.assert(
      fc.property(fc.array(commandArb, { maxLength: 40 }), (commands) => {
        const a = replica();
        const b = replica();
        // b sees structurally equal but freshly built commands (different object identity, key order).
        const results = commands.map((c) => a.apply(c));
        const again = commands.map((c) => b.apply(JSON.parse(JSON.stringify(c))));
        expect(again).toEqual(results);
        expect(JSON.stringify(b.sm.dump())).toBe(JSON.stringify(a.sm.dump()));
      }),
    );
  });

  it('the state machine agrees with a reference model of a map with per-client sessions (property)', () => {
    fc.assert(
      fc.property(fc.array(commandArb, { maxLength: 60 }), (commands) => {
        const r = replica();
        const map = new Map<string, string>();
        const sessions = new Map<string, { seq: number; result: unknown }>();
        commands.forEach((c, i) => {
          const got = r.apply(c);
          const session = c.client && sessions.get(c.client.id);
          let expected: unknown;
          if (c.client && session && c.client.seq === session.seq) expected = session.result;
          else if (c.client && session && c.client.seq < session.seq) expected = { ok: false, reason: 'stale', lastSeq: session.seq };
          else {
            const current = map.get(c.key);
            if (c.type === 'put') {
              map.set(c.key, JSON.stringify(c.value));
              expected = { ok: true, index: i + 1 };
            } else if (c.type === 'delete') {
              expected = { ok: true, existed: map.delete(c.key) };
            } else if (current === undefined) {
              expected = { ok: false, reason: 'not_found' };
            } else if (current !== JSON.stringify(c.from)) {
              expected = { ok: false, reason: 'precondition_failed', value: JSON.parse(current) };
            } else {
              map.set(c.key, JSON.stringify(c.to));
              expected = { ok: true };
            }
            if (c.client) sessions.set(c.client.id, { seq: c.client.seq, result: expected });
          }
          expect(got).toMatchObject(expected as object);
        });
        expect(r.sm.dump()).toEqual(Object.fromEntries([...map].map(([k, v]) => [k, JSON.parse(v)])));
      }),
    );
  });

  it('results of applying commands in order, recorded as a sequential history, are linearizable (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            commandArb.map((c) => ({ ...c, client: undefined })),
            fc.constantFrom('a', 'b', 'c'),
          ),
          { maxLength: 40 },
        ),
        (ops) => {
          const r = replica();
          const history: HistoryEntry[] = ops.map((op, i) => {
            if (typeof op === 'string') return { clientId: 'reader', op: { type: 'get', key: op }, call: 2 * i, return: 2 * i + 1, output: r.sm.get(op) };
            const { client: _client, ...command } = op;
            return { clientId: 'writer', op: command, call: 2 * i, return: 2 * i + 1, output: r.apply(command) } as HistoryEntry;
          });
          expect(checkLinearizable(history).ok).toBe(true);
        },
      ),
    );
  });
});
