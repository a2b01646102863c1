/**
 * Fuzzed wire messages (issue 14 §4): fast-check properties over every schema parseRpcMessage
 * knows (src/core/validate.ts). For each one:
 *   (a) arbitrary values, also shaped like the message (its type, its field names, random values):
 *       the parser never throws, and what it refuses it refuses with a message;
 *   (b) mutations of valid messages — a field removed, retyped or out of range, a Raft rule of the
 *       schema broken (sender ≠ leaderId, a term after the message's, entries out of order) — are
 *       refused; an extra field, or huge arrays and strings within the limits, are accepted, and
 *       what comes out is the message without the extra field;
 *   (c) every refused message is then delivered to a running node (a single-voter leader on a
 *       transport of this file): its term, vote, log and commit index stay as they were and it
 *       still commits a proposal.
 *
 * FUZZ_RUNS sets the inputs per schema and per property (default 150: the whole file runs in a
 * few seconds); `npm run fuzz` runs 100 000. The counts per schema are printed at the end.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/runtime/clock.js';
import { createRaftNode, type RaftNode } from '../../src/runtime/raft-node.js';
import { parseRpcMessage } from '../../src/core/validate.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import type { Transport, TransportHandlers } from '../../src/transport/transport.js';

const RUNS = Math.max(1, Number(process.env.FUZZ_RUNS ?? 150));
/** Huge messages cost more to build and parse: a tenth of the runs (at least 5, at most 2000). */
const HUGE_RUNS = Math.min(2000, Math.max(5, Math.floor(RUNS / 10)));
const TIMEOUT = Math.max(30_000, RUNS * 10);
const MAX = Number.MAX_SAFE_INTEGER;

// ---------------------------------------------------------------- what each schema holds

type Kind = 'nodeId' | 'term' | 'term1' | 'index' | 'index1' | 'seq' | 'bool' | 'string' | 'entries';
interface Field {
  kind: Kind;
  optional?: boolean;
}
const f = (kind: Kind, optional = false): Field => ({ kind, optional });

const FIELDS = {
  'rpc.requestVote': { from: f('nodeId'), term: f('term1'), candidateId: f('nodeId'), lastLogIndex: f('index'), lastLogTerm: f('term'), preVote: f('bool', true) },
  'rpc.requestVoteResult': { from: f('nodeId'), term: f('term'), voteGranted: f('bool'), preVote: f('bool', true) },
  'rpc.appendEntries': {
    from: f('nodeId'),
    term: f('term1'),
    leaderId: f('nodeId'),
    prevLogIndex: f('index'),
    prevLogTerm: f('term'),
    entries: f('entries'),
    leaderCommit: f('index'),
    seq: f('seq'),
  },
  'rpc.appendEntriesResult': {
    from: f('nodeId'),
    term: f('term'),
    requestTerm: f('term1'),
    success: f('bool'),
    matchIndex: f('index'),
    rejectedIndex: f('index'),
    conflictTerm: f('term'),
    conflictIndex: f('index'),
    seq: f('seq'),
  },
  'rpc.installSnapshot': {
    from: f('nodeId'),
    term: f('term1'),
    leaderId: f('nodeId'),
    lastIncludedIndex: f('index1'),
    lastIncludedTerm: f('term1'),
    offset: f('index'),
    data: f('string'),
    done: f('bool'),
    seq: f('seq'),
  },
  'rpc.installSnapshotResult': {
    from: f('nodeId'),
    term: f('term'),
    requestTerm: f('term1'),
    lastIncludedIndex: f('index1'),
    offset: f('index'),
    installed: f('bool'),
    seq: f('seq'),
  },
  'rpc.timeoutNow': { from: f('nodeId'), term: f('term1'), leaderId: f('nodeId') },
} as const satisfies Record<string, Record<string, Field>>;

type RpcType = keyof typeof FIELDS;
const TYPES = Object.keys(FIELDS) as RpcType[];
type Message = Record<string, unknown> & { type: RpcType };

// ---------------------------------------------------------------- valid messages

const nodeId = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('n2', 'n3', 'leader-1') },
  { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 256 }) },
  { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 64, unit: 'grapheme' }).filter((s) => s.length <= 256) },
);
/** Terms and indexes: small ones mostly, large ones and the largest safe integer sometimes. */
const big = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 12 }) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 2 ** 40 }) },
  { weight: 1, arbitrary: fc.constant(MAX) },
);
const index0 = fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 4, arbitrary: big });
const bounded = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2 ** 40 }));
const seq = fc.oneof(fc.constant(0), fc.nat(), fc.integer({ min: 0, max: MAX }));

const isConfigShaped = (v: unknown) => typeof v === 'object' && v !== null && (v as { type?: unknown }).type === 'raft.config';
const configCommand = fc
  .uniqueArray(nodeId, { maxLength: 6 })
  .chain((ids) => fc.tuple(fc.constant(ids), fc.integer({ min: 0, max: ids.length }), fc.boolean()))
  .map(([ids, split, withAddresses]) => ({
    type: 'raft.config',
    voters: ids.slice(0, split),
    learners: ids.slice(split),
    ...(withAddresses ? { addresses: Object.fromEntries(ids.map((id, i) => [id, `127.0.0.1:${7000 + i}`])) } : {}),
  }));
const command = fc.oneof({ weight: 6, arbitrary: fc.jsonValue({ maxDepth: 3 }).filter((v) => !isConfigShaped(v)) }, { weight: 1, arbitrary: configCommand });

/** prevLogIndex 0 exactly when prevLogTerm is 0; prevLogTerm ≤ term. */
const prevOf = (term: number) => fc.oneof(fc.constant([0, 0] as const), fc.tuple(fc.integer({ min: 1, max: 2 ** 40 }), fc.integer({ min: 1, max: term })));

/** Entries numbered prev+1, prev+2, … with terms never below prevLogTerm (nor 1), never above term. */
const entriesAfter = (prevIndex: number, prevTerm: number, term: number, maxLength: number) =>
  fc.array(fc.tuple(fc.integer({ min: Math.max(prevTerm, 1), max: term }), command), { maxLength }).map((list) => {
    const terms = list.map(([t]) => t).sort((a, b) => a - b);
    return list.map(([, cmd], i) => ({ term: terms[i] as number, index: prevIndex + 1 + i, command: cmd }));
  });

const appendEntries = (maxEntries: number) =>
  fc.tuple(nodeId, big).chain(([from, term]) =>
    prevOf(term).chain(([prevLogIndex, prevLogTerm]) =>
      fc.record({
        type: fc.constant('rpc.appendEntries' as const),
        from: fc.constant(from),
        term: fc.constant(term),
        leaderId: fc.constant(from),
        prevLogIndex: fc.constant(prevLogIndex),
        prevLogTerm: fc.constant(prevLogTerm),
        entries: entriesAfter(prevLogIndex, prevLogTerm, term, maxEntries),
        leaderCommit: bounded,
        seq,
      }),
    ),
  );

const VALID: Record<RpcType, fc.Arbitrary<Message>> = {
  'rpc.requestVote': fc.tuple(nodeId, big, fc.option(fc.boolean(), { nil: undefined })).chain(([from, term, preVote]) =>
    prevOf(term).map(([lastLogIndex, lastLogTerm]) => ({
      type: 'rpc.requestVote' as const,
      from,
      term,
      candidateId: from,
      lastLogIndex,
      lastLogTerm,
      ...(preVote !== undefined ? { preVote } : {}),
    })),
  ),
  'rpc.requestVoteResult': fc
    .record({ from: nodeId, term: index0, voteGranted: fc.boolean(), preVote: fc.option(fc.boolean(), { nil: undefined }) })
    .map(({ preVote, ...m }) => ({ type: 'rpc.requestVoteResult' as const, ...m, ...(preVote !== undefined ? { preVote } : {}) })),
  'rpc.appendEntries': appendEntries(5),
  'rpc.appendEntriesResult': fc.tuple(big, fc.integer({ min: 0, max: 2 ** 20 })).chain(([requestTerm, ahead]) =>
    fc.record({
      type: fc.constant('rpc.appendEntriesResult' as const),
      from: nodeId,
      term: fc.constant(Math.min(MAX, requestTerm + ahead)),
      requestTerm: fc.constant(requestTerm),
      success: fc.boolean(),
      matchIndex: bounded,
      rejectedIndex: bounded,
      conflictTerm: bounded,
      conflictIndex: bounded,
      seq,
    }),
  ),
  'rpc.installSnapshot': fc.tuple(nodeId, big).chain(([from, term]) =>
    fc.record({
      type: fc.constant('rpc.installSnapshot' as const),
      from: fc.constant(from),
      term: fc.constant(term),
      leaderId: fc.constant(from),
      lastIncludedIndex: big,
      lastIncludedTerm: fc.integer({ min: 1, max: term }),
      offset: bounded,
      data: fc.string({ maxLength: 64 }),
      done: fc.boolean(),
      seq,
    }),
  ),
  'rpc.installSnapshotResult': fc.tuple(big, fc.integer({ min: 0, max: 2 ** 20 })).chain(([requestTerm, ahead]) =>
    fc.record({
      type: fc.constant('rpc.installSnapshotResult' as const),
      from: nodeId,
      term: fc.constant(Math.min(MAX, requestTerm + ahead)),
      requestTerm: fc.constant(requestTerm),
      lastIncludedIndex: big,
      offset: bounded,
      installed: fc.boolean(),
      seq,
    }),
  ),
  'rpc.timeoutNow': fc.tuple(nodeId, big).map(([from, term]) => ({ type: 'rpc.timeoutNow' as const, from, term, leaderId: from })),
};

/** Valid, and large: ids of 256 characters, thousands of entries, long snapshot chunks, big configurations. */
const longId = fc.constantFrom('x'.repeat(256), 'é'.repeat(256), '😀'.repeat(256));
const HUGE: Record<RpcType, fc.Arbitrary<Message>> = {
  'rpc.requestVote': fc.tuple(VALID['rpc.requestVote'], longId).map(([m, id]) => ({ ...m, from: id, candidateId: id })),
  'rpc.requestVoteResult': fc.tuple(VALID['rpc.requestVoteResult'], longId).map(([m, id]) => ({ ...m, from: id })),
  'rpc.appendEntries': fc
    .tuple(
      longId,
      fc.integer({ min: 500, max: 3000 }),
      fc.jsonValue({ maxDepth: 2 }).filter((v) => !isConfigShaped(v)),
    )
    .map(([id, n, cmd]) => ({
      type: 'rpc.appendEntries' as const,
      from: id,
      term: 9,
      leaderId: id,
      prevLogIndex: 100,
      prevLogTerm: 3,
      entries: [
        ...Array.from({ length: n }, (_, i) => ({ term: 3 + Math.floor((6 * i) / n), index: 101 + i, command: cmd })),
        { term: 9, index: 101 + n, command: { type: 'raft.config', voters: Array.from({ length: 1024 }, (_, i) => `v${i}`), learners: [] } },
      ],
      leaderCommit: 100 + n,
      seq: 7,
    })),
  'rpc.appendEntriesResult': fc.tuple(VALID['rpc.appendEntriesResult'], longId).map(([m, id]) => ({ ...m, from: id })),
  'rpc.installSnapshot': fc
    .tuple(VALID['rpc.installSnapshot'], longId, fc.integer({ min: 100_000, max: 1_000_000 }), fc.string({ minLength: 1, maxLength: 1 }))
    .map(([m, id, length, char]) => ({ ...m, from: id, leaderId: id, data: char.repeat(length) })),
  'rpc.installSnapshotResult': fc.tuple(VALID['rpc.installSnapshotResult'], longId).map(([m, id]) => ({ ...m, from: id })),
  'rpc.timeoutNow': fc.tuple(VALID['rpc.timeoutNow'], longId).map(([m, id]) => ({ ...m, from: id, leaderId: id })),
};

// ---------------------------------------------------------------- mutations

/** Values of another JSON type than the field's. */
const RETYPED: Record<Kind, readonly unknown[]> = {
  nodeId: [5, true, null, ['n2'], { id: 'n2' }],
  term: ['5', true, null, [5], { term: 5 }],
  term1: ['5', false, null, [], {}],
  index: ['0', true, null, [0], {}],
  index1: ['1', true, null, [1], {}],
  seq: ['1', false, null, [], {}],
  bool: ['true', 1, 0, null, [], {}],
  string: [1, true, null, ['chunk'], { data: '' }],
  entries: [{}, 'entries', null, 5, true],
};
/** Values of the field's type that its range excludes (NaN and Infinity only reach parseRpcMessage from code, not from JSON). */
const NUMBERS_OUT = [-1, -(2 ** 40), 0.5, 1.000001, 2 ** 53, 1e300, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
const OUT_OF_RANGE: Record<Kind, readonly unknown[]> = {
  // zod counts a string's length in code points: 256 emoji are a valid id, 257 are not.
  nodeId: ['', 'x'.repeat(257), '😀'.repeat(257)],
  term: NUMBERS_OUT,
  term1: [0, ...NUMBERS_OUT],
  index: NUMBERS_OUT,
  index1: [0, ...NUMBERS_OUT],
  seq: [-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY],
  bool: [],
  string: [],
  entries: [],
};

interface Mutation {
  kind: string;
  apply: (m: Message) => Message;
}
const set = (m: Message, key: string, value: unknown): Message => ({ ...m, [key]: value });
const without = (m: Message, key: string): Message => {
  const { [key]: _gone, ...rest } = m;
  return rest as Message;
};

/** Mutations that make a valid message of `type` invalid, each with the reason it must be refused. */
function breaking(type: RpcType): fc.Arbitrary<Mutation> {
  const fields = Object.entries(FIELDS[type]) as [string, Field][];
  const list: fc.Arbitrary<Mutation>[] = [
    fc.constantFrom(...fields.filter(([, spec]) => !spec.optional)).map(([key]) => ({ kind: `remove ${key}`, apply: (m: Message) => without(m, key) })),
    fc
      .constantFrom(...fields)
      .chain(([key, spec]) => fc.constantFrom(...RETYPED[spec.kind]).map((value) => ({ kind: `retype ${key}`, apply: (m: Message) => set(m, key, value) }))),
    fc
      .constantFrom(...fields.filter(([, spec]) => OUT_OF_RANGE[spec.kind].length > 0))
      .chain(([key, spec]) => fc.constantFrom(...OUT_OF_RANGE[spec.kind]).map((value) => ({ kind: `out of range ${key}`, apply: (m: Message) => set(m, key, value) }))),
    fc
      .constantFrom<unknown>('rpc.bogus', 'toString', '__proto__', 'constructor', 'hasOwnProperty', '', 'RPC.REQUESTVOTE', 7, null, [type], { type })
      .map((value) => ({ kind: 'unknown type', apply: (m: Message) => set(m, 'type', value) })),
    fc.constant({ kind: 'not an object', apply: () => [] as unknown as Message }),
  ];
  const rule = (kind: string, apply: (m: Message) => Message) => list.push(fc.constant({ kind, apply }));
  const other = (id: unknown) => (id === 'n3' ? 'n2' : 'n3');
  switch (type) {
    case 'rpc.requestVote':
      rule('candidateId is not the sender', (m) => set(m, 'candidateId', other(m.from)));
      rule('lastLogTerm after term', (m) => ({ ...m, lastLogTerm: (m.term as number) + 1, lastLogIndex: Math.max(1, m.lastLogIndex as number) }));
      rule('lastLogIndex 0 with a lastLogTerm', (m) => ({ ...m, lastLogIndex: 0, lastLogTerm: 1 }));
      rule('lastLogTerm 0 with a lastLogIndex', (m) => ({ ...m, lastLogIndex: 3, lastLogTerm: 0 }));
      break;
    case 'rpc.appendEntries':
      rule('leaderId is not the sender', (m) => set(m, 'leaderId', other(m.from)));
      rule('prevLogTerm after term', (m) => ({ ...m, prevLogIndex: Math.max(1, m.prevLogIndex as number), prevLogTerm: (m.term as number) + 1 }));
      rule('prevLogIndex 0 with a prevLogTerm', (m) => ({ ...m, prevLogIndex: 0, prevLogTerm: 1, entries: [] }));
      rule('prevLogTerm 0 with a prevLogIndex', (m) => ({ ...m, prevLogIndex: 2, prevLogTerm: 0, entries: [] }));
      rule('an entry out of sequence', (m) => ({ ...m, entries: [{ term: m.term, index: (m.prevLogIndex as number) + 2, command: null }] }));
      rule('an entry after the message term', (m) => ({ ...m, entries: [{ term: (m.term as number) + 1, index: (m.prevLogIndex as number) + 1, command: null }] }));
      rule('entry terms decrease', (m) => ({
        ...m,
        term: Math.max(2, m.term as number),
        prevLogIndex: 1,
        prevLogTerm: 1,
        entries: [
          { term: 2, index: 2, command: null },
          { term: 1, index: 3, command: null },
        ],
      }));
      rule('an entry without a term', (m) => ({ ...m, entries: [{ index: (m.prevLogIndex as number) + 1, command: 'x' }] }));
      rule('an entry of term 0', (m) => ({ ...m, entries: [{ term: 0, index: (m.prevLogIndex as number) + 1, command: 'x' }] }));
      rule('an entry that is not an object', (m) => ({ ...m, entries: ['entry'] }));
      rule('a configuration entry naming a server twice', (m) => ({
        ...m,
        entries: [{ term: m.term, index: (m.prevLogIndex as number) + 1, command: { type: 'raft.config', voters: ['a', 'a'], learners: [] } }],
      }));
      rule('a configuration entry with a voter as learner', (m) => ({
        ...m,
        entries: [{ term: m.term, index: (m.prevLogIndex as number) + 1, command: { type: 'raft.config', voters: ['a'], learners: ['a'] } }],
      }));
      rule('a configuration entry with a bad voter list', (m) => ({
        ...m,
        entries: [{ term: m.term, index: (m.prevLogIndex as number) + 1, command: { type: 'raft.config', voters: 'a', learners: [] } }],
      }));
      break;
    case 'rpc.appendEntriesResult':
    case 'rpc.installSnapshotResult':
      rule('requestTerm after term', (m) => ({ ...m, requestTerm: (m.term as number) + 1 }));
      break;
    case 'rpc.installSnapshot':
      rule('leaderId is not the sender', (m) => set(m, 'leaderId', other(m.from)));
      rule('lastIncludedTerm after term', (m) => ({ ...m, lastIncludedTerm: (m.term as number) + 1 }));
      break;
    case 'rpc.timeoutNow':
      rule('leaderId is not the sender', (m) => set(m, 'leaderId', other(m.from)));
      break;
    case 'rpc.requestVoteResult':
      break;
  }
  return fc.oneof(...list);
}

/** Field names no schema has, and JavaScript's own member names. */
const extraKey = fc.oneof(fc.string({ minLength: 1, maxLength: 12 }), fc.constantFrom('__proto__', 'constructor', 'toString', 'valueOf', 'hasOwnProperty', 'Type', 'entries '));

// ---------------------------------------------------------------- the node refused messages go to

/** A transport that only hands this file's messages to the node (a single voter sends nothing). */
class InjectTransport implements Transport {
  handlers: TransportHandlers | undefined;
  start(handlers: TransportHandlers): void {
    this.handlers = handlers;
  }
  send(): void {}
  request(): Promise<never> {
    return Promise.reject(new Error('no peers'));
  }
  stop(): void {
    this.handlers = undefined;
  }
}

const transport = new InjectTransport();
let node: RaftNode<string, string, string, string>;
const reported: string[] = [];

function nodeState() {
  const { context, value } = node.actor.getSnapshot();
  return { role: value, term: context.currentTerm, votedFor: context.votedFor, commitIndex: context.commitIndex, log: context.log.slice(context.log.firstIndex) };
}

/** Hand `raw` to the node as a peer's message, as JSON arrives (a copy: the parser may not keep it). */
function deliver(raw: unknown): void {
  transport.handlers?.onMessage(raw);
}

beforeAll(async () => {
  node = createRaftNode({
    id: 'n1',
    peers: ['n1'],
    transport,
    storage: new MemoryStorage(),
    stateMachine: { apply: (command: string) => command, query: (query: string) => query },
    clock: systemClock,
    electionTimeout: [20, 40],
    onError: (error) => reported.push(error instanceof Error ? error.message : String(error)),
  });
  const deadline = Date.now() + 10_000;
  while (node.status().role !== 'leader') {
    if (Date.now() > deadline) throw new Error('the single voter did not elect itself');
    await new Promise((r) => setTimeout(r, 10));
  }
  await node.propose('before the fuzz');
});

afterAll(() => {
  node?.stop();
});

// ---------------------------------------------------------------- counts

const counts = new Map<string, Record<string, number>>();
function count(type: string, what: string): void {
  const row = counts.get(type) ?? {};
  row[what] = (row[what] ?? 0) + 1;
  counts.set(type, row);
}
afterAll(() => {
  const lines = [...counts].map(([type, row]) => {
    // Delivered inputs are among the others (a refused one is then delivered), unless they are all the row has.
    const made = Object.entries(row).filter(([k]) => k !== 'delivered refused');
    const total = (made.length > 0 ? made : Object.entries(row)).reduce((sum, [, v]) => sum + v, 0);
    return `  ${type.padEnd(26)} ${String(total).padStart(8)}  (${Object.entries(row)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')})`;
  });
  console.log(`fuzz-wire: inputs per schema (FUZZ_RUNS=${RUNS})\n${lines.join('\n')}`);
});

// ---------------------------------------------------------------- properties

function expectRefused(input: unknown): string {
  const result = parseRpcMessage(input);
  if (result.ok) throw new Error(`accepted: ${JSON.stringify(input)?.slice(0, 500)}`);
  expect(typeof result.error).toBe('string');
  expect(result.error.length).toBeGreaterThan(0);
  return result.error;
}

/** Round trip through JSON, as a message arrives over HTTP (an own "__proto__" key stays a key). */
const asJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

describe('fuzzed wire messages', { timeout: TIMEOUT }, () => {
  it('the parser never throws on arbitrary values, and refuses with a message what it does not accept', () => {
    const anything = fc.oneof(
      fc.jsonValue(),
      fc.anything({
        withBigInt: true,
        withNullPrototype: true,
        withObjectString: true,
        withBoxedValues: true,
        withMap: true,
        withSet: true,
        withDate: true,
        withTypedArray: true,
        withSparseArray: true,
      }),
      // Values no JSON holds, as the message type itself (the error message names it).
      fc.anything({ withBigInt: true, withNullPrototype: true, withBoxedValues: true, withDate: true, withMap: true }).map((type) => ({ type })),
      fc.constantFrom<unknown>(undefined, null, Number.NaN, Symbol('x'), () => 1, Object.create(null), new Proxy({}, {})),
    );
    fc.assert(
      fc.property(anything, (input) => {
        count('(any value)', 'arbitrary');
        const result = parseRpcMessage(input);
        if (!result.ok) expect(result.error.length).toBeGreaterThan(0);
      }),
      { numRuns: RUNS * TYPES.length },
    );
  });

  for (const type of TYPES) {
    const fields = Object.keys(FIELDS[type]);
    describe(type, () => {
      it('never throws on its fields with arbitrary values, and a refused one leaves the node as it was', () => {
        const before = nodeState();
        const shaped = fc
          .tuple(
            fc.subarray(fields),
            fc.array(fc.jsonValue({ maxDepth: 2 }), { minLength: fields.length, maxLength: fields.length }),
            fc.dictionary(extraKey, fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }),
          )
          .map(([keys, values, extra]) => asJson({ ...extra, ...Object.fromEntries(keys.map((k, i) => [k, values[i]])), type }));
        fc.assert(
          fc.property(shaped, (input) => {
            count(type, 'arbitrary');
            const result = parseRpcMessage(input);
            if (result.ok) return;
            expect(result.error.length).toBeGreaterThan(0);
            deliver(input);
            count(type, 'delivered refused');
          }),
          { numRuns: RUNS },
        );
        expect(nodeState()).toEqual(before);
      });

      it('accepts every valid message as it is', () => {
        fc.assert(
          fc.property(VALID[type], (message) => {
            count(type, 'valid');
            const input = asJson(message);
            const result = parseRpcMessage(input);
            if (!result.ok) throw new Error(`refused a valid message: ${result.error}: ${JSON.stringify(message).slice(0, 500)}`);
            expect(result.message).toEqual(input);
          }),
          { numRuns: RUNS },
        );
      });

      it('accepts a valid message with an extra field, without the field', () => {
        fc.assert(
          fc.property(VALID[type], extraKey, fc.jsonValue({ maxDepth: 2 }), (message, key, value) => {
            fc.pre(!fields.includes(key) && key !== 'type');
            count(type, 'extra field');
            const input = JSON.parse(`{${JSON.stringify(key)}:${JSON.stringify(value)},${JSON.stringify(message).slice(1)}`) as unknown;
            const result = parseRpcMessage(input);
            if (!result.ok) throw new Error(`refused for an extra field ${JSON.stringify(key)}: ${result.error}`);
            expect(result.message).toEqual(asJson(message));
            expect(Object.hasOwn(result.message, key)).toBe(false);
          }),
          { numRuns: RUNS },
        );
      });

      it('accepts huge messages within the limits', () => {
        fc.assert(
          fc.property(HUGE[type], (message) => {
            count(type, 'huge');
            const result = parseRpcMessage(message);
            if (!result.ok) throw new Error(`refused a huge valid message: ${result.error}`);
            expect(result.message).toEqual(message);
          }),
          { numRuns: HUGE_RUNS },
        );
      });

      it('refuses a valid message with a field removed, retyped or out of range, or a rule broken — and the node does not change', () => {
        const before = nodeState();
        fc.assert(
          fc.property(VALID[type], breaking(type), (message, mutation) => {
            count(type, 'mutated');
            const input = asJson(mutation.apply(message));
            const error = expectRefused(input);
            // The refusal names the schema, and the field a field mutation broke.
            if (mutation.kind !== 'unknown type' && mutation.kind !== 'not an object') expect(error.startsWith(`${type}: `)).toBe(true);
            const field = /^(?:remove|retype|out of range) (\w+)$/.exec(mutation.kind)?.[1];
            if (field !== undefined) expect(error).toContain(field);
            deliver(input);
            count(type, 'delivered refused');
          }),
          { numRuns: RUNS },
        );
        expect(nodeState()).toEqual(before);
      });
    });
  }

  // Found by the first property: the refusal named the type with JSON.stringify, which throws on a BigInt or a cycle.
  it('refuses a message whose type is a BigInt, holds one, or is cyclic, without throwing', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const type of [{ '': { '': 0n } }, 10n, cyclic, 'x'.repeat(10_000)]) {
      const result = parseRpcMessage({ type, from: 'n2' });
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.error.length).toBeLessThan(200);
    }
    expect(parseRpcMessage({ type: 'rpc.gossip' })).toEqual({ ok: false, error: 'unknown message type "rpc.gossip"' });
    expect(parseRpcMessage(null)).toEqual({ ok: false, error: 'unknown message type undefined' });
  });

  it('a refused message of any schema, from any sender, changes no term, vote or log, and the node still commits', async () => {
    const before = nodeState();
    const reportsBefore = reported.length;
    const any = fc
      .constantFrom(...TYPES)
      .chain((type) => fc.tuple(VALID[type], breaking(type)).map(([m, mutation]) => asJson(mutation.apply({ ...m, term: Math.max(99, m.term as number) }))));
    fc.assert(
      fc.property(any, (input) => {
        count('(any schema, term ≥ 99)', 'delivered refused');
        expectRefused(input);
        deliver(input);
      }),
      { numRuns: RUNS },
    );
    // A message from this node itself is refused by the node (not the parser).
    deliver({ type: 'rpc.requestVote', from: 'n1', term: 1000, candidateId: 'n1', lastLogIndex: 0, lastLogTerm: 0 });
    expect(nodeState()).toEqual(before);
    // Each was reported, none thrown.
    expect(reported.length - reportsBefore).toBe(RUNS + 1);
    await expect(node.propose('after the fuzz')).resolves.toMatchObject({ result: 'after the fuzz' });
    expect(nodeState().term).toBe(before.term);
  });
});
