/**
 * Issue 8, holes 3 and 4: a command is a JSON value, checked once at the edge.
 *
 * Followers receive entries as JSON and SQLite stores JSON, so a command that is not plain JSON
 * (NaN, an undefined field, a Date, a Map, …) used to apply one way on the leader (which kept a
 * structured clone) and another on followers and after a restart (hole 3); and a command JSON
 * cannot store at all (undefined, a BigInt) reached the log, SQLite refused the whole batch and
 * the node stopped, answering the other clients of that batch "outcome unknown" (hole 4).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { canonicalJson, jsonValueError } from '../../src/core/json.js';
import type { LogEntry } from '../../src/core/types.js';
import { InvalidRequestError } from '../../src/errors.js';
import { KvClient, type KvCluster, type KvNode } from '../../src/kv/client.js';
import { KvStateMachine, MAX_KEY_LENGTH } from '../../src/kv/state-machine.js';
import { ConsensusProtocol } from '../../src/protocol/consensus-protocol.js';
import { createRaftNode, type RaftNode } from '../../src/runtime/raft-node.js';
import { clientApi } from '../../src/server/client-api.js';
import { NodeMetrics } from '../../src/server/metrics.js';
import { VirtualClock } from '../../src/sim/clock.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { SqliteStorage } from '../../src/storage/sqlite.js';
import type { Storage } from '../../src/storage/storage.js';
import { MemoryNetwork } from '../../src/transport/memory.js';
import { LocalNetwork } from '../../src/local-network.js';
import { awaitLeader, cluster, others } from '../sim/harness.js';

class Point {
  constructor(readonly x = 1) {}
}

function nested(depth: number): unknown {
  let value: unknown = 0;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

/** Each a value JSON cannot carry as it is. Built fresh per use (a cycle, a Map). */
const NOT_JSON: readonly (readonly [string, () => unknown])[] = [
  ['NaN', () => NaN],
  ['Infinity', () => Infinity],
  ['-Infinity', () => -Infinity],
  ['undefined', () => undefined],
  ['{ a: undefined }', () => ({ a: undefined })],
  ['[1, , 3]', () => [1, , 3]],
  ['a Date', () => ({ when: new Date(0) })],
  ['a Map', () => ({ m: new Map([['k', 1]]) })],
  ['a Set', () => new Set([1])],
  ['a class instance', () => new Point()],
  ['a BigInt', () => 10n],
  ['a function', () => () => 1],
  ['a Symbol', () => Symbol('s')],
  [
    'a cycle',
    () => {
      const o: Record<string, unknown> = { a: 1 };
      o.self = o;
      return o;
    },
  ],
  ['600-deep nesting', () => nested(600)],
];

const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'xstate-raft-json-'));
  tempDirs.push(dir);
  return dir;
}

// ---------------------------------------------------------------- the check itself

describe('jsonValueError: only plain JSON values pass, and the message says what and where', () => {
  it('accepts null, booleans, finite numbers, strings, dense arrays and plain objects (also with a null prototype)', () => {
    const bare = Object.assign(Object.create(null) as object, { b: [true, false, null] });
    for (const ok of [null, true, 0, -0, 1.5, 'x', [], {}, [1, 'a', { b: [null] }], bare, nested(511)]) expect(jsonValueError(ok)).toBeUndefined();
  });

  it.each(NOT_JSON)('refuses %s', (_name, make) => {
    expect(jsonValueError(make())).toMatch(/^command/);
  });

  it('names the path to the offending value', () => {
    expect(jsonValueError({ a: [0, 1, { b: NaN }] })).toBe('command.a[2].b: NaN is not a JSON value');
    expect(jsonValueError({ 'x y': undefined }, 'value')).toMatch(/^value\["x y"\]: undefined/);
    expect(jsonValueError([1, , 3])).toMatch(/^command\[1\]: .*sparse/);
    expect(jsonValueError({ when: new Date(0) })).toMatch(/^command\.when: a Date is not a plain object/);
    expect(jsonValueError({ [Symbol('s')]: 1 })).toMatch(/symbol key/);
    expect(jsonValueError(nested(600))).toMatch(/deeper than 512/);
    const o: Record<string, unknown> = {};
    o.again = { o };
    expect(jsonValueError(o)).toMatch(/^command\.again\.o: a cycle/);
  });

  it('canonicalJson keeps its meaning: sorted keys, undefined for what is not JSON', () => {
    expect(canonicalJson({ b: 1, a: [true, null] })).toBe('{"a":[true,null],"b":1}');
    for (const [, make] of NOT_JSON) expect(canonicalJson(make())).toBeUndefined();
  });
});

// ---------------------------------------------------------------- every edge refuses it

describe('a command that is not a JSON value is refused at every edge, and changes nothing', () => {
  it.each(NOT_JSON)('propose(%s) rejects with InvalidRequestError and the log is unchanged', async (_name, make) => {
    const sim = cluster(3, 7);
    const leader = awaitLeader(sim);
    sim.run(200);
    const node = sim.node(leader) as RaftNode;
    const before = node.log().length;
    await expect(node.propose(make())).rejects.toBeInstanceOf(InvalidRequestError);
    sim.run(200);
    expect(node.log().length).toBe(before);
    expect(node.stopped).toBe(false);
    sim.stop();
  });

  it.each(NOT_JSON)('submit(%s) throws InvalidRequestError on the leader and on a follower', (_name, make) => {
    const sim = cluster(3, 8);
    const leader = awaitLeader(sim);
    sim.run(200);
    const before = sim.node(leader)?.log().length;
    for (const id of [leader, ...others(sim, leader)]) expect(() => sim.node(id)?.submit(make())).toThrow(InvalidRequestError);
    sim.run(200);
    expect(sim.node(leader)?.log().length).toBe(before);
    sim.stop();
  });

  it.each(NOT_JSON)('replicateLog(%s), alone or in a whole entry, throws InvalidRequestError and the log is unchanged', (_name, make) => {
    const network = new LocalNetwork();
    const [a] = ['a', 'b', 'c'].map((id) => new ConsensusProtocol(id, ['a', 'b', 'c'], { network })) as [ConsensusProtocol];
    a.startElection();
    expect(a.state).toBe('leader');
    const before = a.log;
    expect(() => a.replicateLog(make())).toThrow(InvalidRequestError);
    expect(() => a.replicateLog({ term: a.currentTerm, index: before.length + 1, command: make() })).toThrow(InvalidRequestError);
    expect(a.log).toEqual(before);
  });

  it.each(NOT_JSON)('appendEntries and receive with an entry holding %s throw InvalidRequestError and the log is unchanged', (_name, make) => {
    const b = new ConsensusProtocol('b', ['a', 'b', 'c']);
    const entry = { term: 1, index: 1, command: make() };
    expect(() => b.appendEntries(1, 'a', 0, 0, [entry], 0)).toThrow(/entry 1/);
    const message = { type: 'rpc.appendEntries', from: 'a', term: 1, leaderId: 'a', prevLogIndex: 0, prevLogTerm: 0, entries: [entry], leaderCommit: 0, seq: 0 } as const;
    expect(() => b.receive(message)).toThrow(InvalidRequestError);
    expect(b.log).toEqual([]);
    expect(b.currentTerm).toBe(0);
  });

  it("an entry handed to appendEntries is logged as a copy: changing the caller's object later changes nothing", () => {
    const b = new ConsensusProtocol('b', ['a', 'b', 'c']);
    const command = { task: 'deploy', tags: ['x'] };
    b.appendEntries(1, 'a', 0, 0, [{ term: 1, index: 1, command }], 0);
    command.tags.push('changed');
    expect(b.log[0]?.command).toEqual({ task: 'deploy', tags: ['x'] });
  });

  it.each(NOT_JSON)('KvClient.put(k, %s) and cas reject with InvalidRequestError before any node is called', async (_name, make) => {
    const calls: unknown[] = [];
    const node: KvNode = {
      propose: async (command) => (calls.push(command), { index: 1, term: 1, result: { ok: true, index: 1 } }),
      read: async () => ({ found: false }),
    };
    const kv: KvCluster = { ids: ['n1'], node: () => node };
    const client = new KvClient(kv, { clientId: 'c' });
    await expect(client.put('k', make() as never)).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(client.cas('k', 1, make() as never)).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(client.cas('k', make() as never, 1)).rejects.toBeInstanceOf(InvalidRequestError);
    expect(calls).toEqual([]);
    await expect(client.put('k', 1)).resolves.toEqual({ ok: true, index: 1 });
  });

  it('KvClient refuses an empty, too long or non-string key at once, asking no node and using no sequence number', async () => {
    const calls: unknown[] = [];
    const node: KvNode = {
      propose: async (command) => (calls.push(command), { index: 1, term: 1, result: { ok: true, index: 1 } }),
      read: async (query) => (calls.push(query), { found: false }),
    };
    const client = new KvClient({ ids: ['n1'], node: () => node }, { clientId: 'c' });
    for (const key of ['', 'k'.repeat(MAX_KEY_LENGTH + 1), 42 as unknown as string]) {
      await expect(client.get(key)).rejects.toThrow(/a key is a string of 1 to 1024 characters/);
      await expect(client.put(key, 1)).rejects.toBeInstanceOf(InvalidRequestError);
      await expect(client.delete(key)).rejects.toBeInstanceOf(InvalidRequestError);
      await expect(client.cas(key, 1, 2)).rejects.toBeInstanceOf(InvalidRequestError);
    }
    expect(calls).toEqual([]);
    await client.put('k'.repeat(MAX_KEY_LENGTH), 1);
    expect(calls).toEqual([{ type: 'put', key: 'k'.repeat(MAX_KEY_LENGTH), value: 1, client: { id: expect.stringMatching(/^c#/), seq: 1 } }]);
  });

  it('a JSON command that is not a KV command is answered invalid_command, and the node keeps serving', async () => {
    const sim = cluster(3, 9, { stateMachine: () => new KvStateMachine() });
    const leader = awaitLeader(sim);
    const node = sim.node(leader) as RaftNode;
    const bad = node.propose({ type: 'launch', key: 'k' });
    sim.run(200);
    await expect(bad).resolves.toMatchObject({ result: { ok: false, reason: 'invalid_command' } });
    const good = node.propose({ type: 'put', key: 'k', value: 1 });
    sim.run(200);
    await expect(good).resolves.toMatchObject({ result: { ok: true } });
    expect(node.stopped).toBe(false);
    sim.stop();
  });
});

// ---------------------------------------------------------------- a cluster with SQLite on the leader

interface Cluster {
  clock: VirtualClock;
  network: MemoryNetwork;
  nodes: Map<string, RaftNode>;
  /** Per node: what its state machine applied, by index (a new map per incarnation). */
  applied: Map<string, Map<number, unknown>>;
  failed: string[];
  restart(id: string): void;
  stop(): void;
}

const IDS = ['n1', 'n2', 'n3'];

/** n1 stores in SQLite and stands for election first (shortest timeout); n2 and n3 keep memory. */
function sqliteLedCluster(): Cluster {
  const clock = new VirtualClock();
  const network = new MemoryNetwork(clock);
  const dir = tempDir();
  const storages = new Map<string, Storage<unknown>>([
    ['n1', SqliteStorage.open<unknown>(dir, { nodeId: 'n1', clusterId: 'json' })],
    ['n2', new MemoryStorage()],
    ['n3', new MemoryStorage()],
  ]);
  const c: Cluster = {
    clock,
    network,
    nodes: new Map(),
    applied: new Map(),
    failed: [],
    restart(id) {
      c.nodes.get(id)?.stop();
      if (id === 'n1') {
        (storages.get(id) as SqliteStorage<unknown>).close();
        storages.set(id, SqliteStorage.open<unknown>(dir, { nodeId: 'n1', clusterId: 'json' }));
      }
      boot(id);
    },
    stop() {
      for (const node of c.nodes.values()) node.stop();
      (storages.get('n1') as SqliteStorage<unknown>).close();
    },
  };
  const boot = (id: string) => {
    const applied = new Map<number, unknown>();
    c.applied.set(id, applied);
    const node = createRaftNode({
      id,
      peers: IDS,
      transport: network.transport(id),
      storage: storages.get(id) as Storage<unknown>,
      stateMachine: { apply: (command: unknown, entry: LogEntry<unknown>) => void applied.set(entry.index, command), query: () => undefined },
      clock,
      random: IDS.indexOf(id) + 1,
      electionTimeout: id === 'n1' ? [50, 60] : [400, 500],
      heartbeatInterval: 20,
    });
    node.on('failed', ({ reason }) => c.failed.push(`${id}: ${reason}`));
    c.nodes.set(id, node);
  };
  for (const id of IDS) boot(id);
  return c;
}

/** Advance virtual time, letting promise callbacks run between steps. */
async function advance(c: Cluster, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 5) {
    c.clock.advance(5);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

async function until(c: Cluster, done: () => boolean, ms = 3000): Promise<void> {
  for (let t = 0; t < ms && !done(); t += 5) await advance(c, 5);
  expect(done()).toBe(true);
}

describe('what the leader applies is what followers and its own disk hold (hole 3)', () => {
  it('a command accepted by propose is applied with strictly equal values on the leader, the followers, and the leader restarted from SQLite', async () => {
    const c = sqliteLedCluster();
    await until(c, () => c.nodes.get('n1')?.status().role === 'leader');
    const leader = c.nodes.get('n1') as RaftNode;
    // The first is plain JSON (-0 is written 0); the others are what a structured clone kept and JSON did not.
    const candidates: unknown[] = [
      { ok: [1, 'two', { three: null }], zero: -0 },
      { n: NaN },
      { u: undefined, k: 1 },
      [1, , 3],
      { when: new Date(0) },
      { m: new Map([['k', 1]]) },
      new Point(),
    ];
    const accepted: number[] = [];
    for (const command of candidates) {
      const answer = leader.propose(command).then(
        ({ index }) => void accepted.push(index),
        (error: unknown) => expect(error).toBeInstanceOf(InvalidRequestError),
      );
      await advance(c, 100);
      await answer;
    }
    expect(accepted.length).toBeGreaterThan(0);
    const last = Math.max(...accepted);
    await until(c, () => IDS.every((id) => c.applied.get(id)?.has(last)));
    const onLeader = accepted.map((i) => c.applied.get('n1')?.get(i));
    for (const id of ['n2', 'n3']) expect(accepted.map((i) => c.applied.get(id)?.get(i))).toStrictEqual(onLeader);

    c.restart('n1');
    await until(c, () => c.applied.get('n1')?.has(last) === true);
    expect(accepted.map((i) => c.applied.get('n1')?.get(i))).toStrictEqual(onLeader);
    expect(c.failed).toEqual([]);
    c.stop();
  }, 30_000);
});

describe("one client with a bad command cannot stop the node or spoil other clients' proposals (hole 4)", () => {
  it('with SQLite on the leader, bad commands in a batch are refused with InvalidRequestError, the good ones commit, and the node keeps serving', async () => {
    const c = sqliteLedCluster();
    await until(c, () => c.nodes.get('n1')?.status().role === 'leader');
    const leader = c.nodes.get('n1') as RaftNode;
    // All in one turn: one batch, one SQLite write.
    const answers = [{ good: 1 }, undefined, { good: 2 }, 10n, { good: 3 }].map((command) => leader.propose(command));
    const settled = Promise.allSettled(answers);
    await advance(c, 200);
    const outcomes = await settled;
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
    for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(InvalidRequestError);
    expect(c.failed).toEqual([]);
    expect(leader.stopped).toBe(false);
    const later = leader.propose({ good: 4 });
    await advance(c, 200);
    await expect(later).resolves.toMatchObject({ term: leader.status().term });
    c.stop();
  }, 30_000);
});

// ---------------------------------------------------------------- HTTP

describe('the HTTP client API refuses a body without its value', () => {
  it('PUT /kv/x with {} is a 400 naming the missing value, and nothing is proposed', async () => {
    const proposed: unknown[] = [];
    const node = {
      id: 'n1',
      status: () => ({ role: 'leader' }),
      propose: async (c: unknown) => (proposed.push(c), { index: 1, term: 1, result: { ok: true, index: 1 } }),
      on: () => () => {},
    };
    const api = clientApi({ node: node as never, metrics: new NodeMetrics(node as never), bodyLimit: 1 << 20, maxCommandBytes: 1 << 19 });
    const server: Server = createServer((req, res) => void api(req, res, new URL(req.url ?? '/', 'http://x')));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const put = await fetch(`${url}/kv/x`, { method: 'PUT', body: '{}' });
      expect(put.status).toBe(400);
      expect(((await put.json()) as { reason: string }).reason).toMatch(/value is missing/);
      const cas = await fetch(`${url}/kv/x/cas`, { method: 'POST', body: '{"from": 1}' });
      expect(cas.status).toBe(400);
      expect(((await cas.json()) as { reason: string }).reason).toMatch(/to is missing/);
      expect(proposed).toEqual([]);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
