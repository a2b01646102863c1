/**
 * A node on a storage that stages snapshots (SqliteStorage) takes one without writing it in one
 * batch: snapshot() and the encoding at once, then the data written ahead a piece per turn of its
 * clock while it keeps serving, then a batch that only flips it in. These tests run nodes in
 * virtual time (each staging piece is one turn of the VirtualClock) and check the rules that keep
 * it safe: until the flip the node serves with its old snapshot and whole log; nothing that
 * depends on the new snapshot (InstallSnapshot built from it) leaves before the flip is on disk;
 * a node stopped mid-staging leaves the old snapshot with its whole log.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { JsonValue } from '../../src/core/json.js';
import type { RpcMessage } from '../../src/core/types.js';
import { KvStateMachine } from '../../src/kv/state-machine.js';
import { createRaftNode, type SnapshotEvent } from '../../src/runtime/raft-node.js';
import { VirtualClock } from '../../src/sim/clock.js';
import { SqliteStorage, STAGED_CHUNK_CHARS, SQLITE_FILE_NAME } from '../../src/storage/sqlite.js';
import type { PersistBatch, Storage } from '../../src/storage/storage.js';
import { MemoryNetwork } from '../../src/transport/memory.js';
import type { Transport } from '../../src/transport/transport.js';

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'xstate-raft-staging-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

type Kv = ReturnType<typeof kvNode>;
/** A value big enough that a snapshot of a few keys takes several staged chunks. */
const BIG = 'v'.repeat(STAGED_CHUNK_CHARS);

/** What a node did, in order: batches written (with their snapshot) and messages sent. */
type Trace = string[];

/** Storage that records each write with the snapshot it records (staged or whole) into `trace`. */
function traced(storage: SqliteStorage<unknown>, trace: Trace): Storage<unknown> {
  return {
    storesSnapshots: true,
    load: () => storage.load(),
    write(batch: PersistBatch<unknown>) {
      storage.write(batch);
      if (batch.snapshot !== undefined) trace.push(`write snapshot ${batch.snapshot.index} ${batch.snapshot.staged === undefined ? 'whole' : 'flipped in'}`);
    },
    stageSnapshot(index, term, data) {
      const staging = storage.stageSnapshot(index, term, data);
      trace.push(`stage ${index}`);
      return staging;
    },
    close: () => storage.close(),
  };
}

function tracedTransport(transport: Transport, trace: Trace): Transport {
  return new Proxy(transport, {
    get(target, key, receiver) {
      if (key !== 'send') return Reflect.get(target, key, receiver);
      return (to: string, message: RpcMessage) => {
        if (message.type === 'rpc.installSnapshot') trace.push(`send installSnapshot ${message.lastIncludedIndex} to ${to}`);
        target.send(to, message);
      };
    },
  });
}

function kvNode(options: {
  id: string;
  peers: string[];
  network: MemoryNetwork;
  clock: VirtualClock;
  storage: Storage<unknown>;
  transport?: Transport;
  snapshotThreshold?: number;
}) {
  const kv = new KvStateMachine();
  const node = createRaftNode({
    id: options.id,
    peers: options.peers,
    transport: options.transport ?? options.network.transport(options.id),
    storage: options.storage,
    stateMachine: kv,
    clock: options.clock,
    random: options.id.charCodeAt(1),
    snapshotThreshold: options.snapshotThreshold ?? 1_000_000,
  });
  return { node, kv };
}

function put(node: Kv['node'], key: string, value: JsonValue): void {
  const { isLeader } = node.submit({ type: 'put', key, value });
  expect(isLeader).toBe(true);
}

describe('a node on a storage that stages snapshots', () => {
  it('keeps serving while the snapshot is written ahead: the old snapshot and the whole log until the flip, then the new one with what came after', async () => {
    const clock = new VirtualClock();
    const dir = tempDir();
    const trace: Trace = [];
    const storage = SqliteStorage.open<unknown>(dir, { nodeId: 'n1', clusterId: 'c' });
    const { node } = kvNode({ id: 'n1', peers: ['n1'], network: new MemoryNetwork(clock), clock, storage: traced(storage, trace) });
    const stored: SnapshotEvent[] = [];
    node.on('snapshot', (event) => stored.push(event));
    clock.advance(1000);
    for (let i = 0; i < 4; i++) put(node, `k${i}`, BIG);
    clock.advance(10);
    const index = node.status().lastApplied;
    const taken = node.snapshot();
    // Staged, not yet handed to the machine: it still has no snapshot and its whole log.
    expect(trace).toEqual([`stage ${index}`]);
    // A write while the snapshot is being staged is served: appended, committed and applied.
    clock.step();
    put(node, 'during', 1);
    for (let steps = 0; steps < 3; steps++) clock.step();
    expect(node.status()).toMatchObject({ snapshotIndex: 0, firstLogIndex: 1 });
    expect(trace).toEqual([`stage ${index}`]);
    clock.advance(10);
    const at = await taken;
    expect(at.index).toBe(index);
    expect(trace).toEqual([`stage ${index}`, `write snapshot ${index} flipped in`]);
    expect(node.status()).toMatchObject({ snapshotIndex: index, firstLogIndex: index + 1, lastApplied: index + 1 });
    expect(node.log().map((entry) => entry.index)).toEqual([index + 1]);
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ index, source: 'taken' });
    expect(stored[0]?.bytes).toBeGreaterThan(4 * STAGED_CHUNK_CHARS);
    node.stop();
    storage.close();
    // On disk: the snapshot at `index` and the write made while it was staged, after it.
    const again = SqliteStorage.open<unknown>(dir, { nodeId: 'n1', clusterId: 'c' });
    const state = again.load();
    expect(state.snapshot?.index).toBe(index);
    expect(state.entries.map((entry) => entry.index)).toEqual([index + 1]);
    again.close();
  });

  it('a leader sends InstallSnapshot built from its new snapshot only after the batch that flips it in is on disk', () => {
    const clock = new VirtualClock();
    const network = new MemoryNetwork(clock);
    const peers = ['n1', 'n2', 'n3'];
    const trace: Trace = [];
    const storages = peers.map((id) => SqliteStorage.open<unknown>(tempDir(), { nodeId: id, clusterId: 'c' }));
    const nodes: Kv[] = peers.map((id, i) =>
      kvNode({
        id,
        peers,
        network,
        clock,
        storage: traced(storages[i] as SqliteStorage<unknown>, trace),
        transport: tracedTransport(network.transport(id), trace),
      }),
    );
    try {
      clock.advance(2000);
      const leader = nodes.find(({ node }) => node.status().role === 'leader') as Kv;
      const lagging = nodes.find((n) => n !== leader) as Kv;
      network.disconnect(lagging.node.id);
      for (let i = 0; i < 6; i++) put(leader.node, `k${i}`, BIG);
      clock.advance(100);
      const index = leader.node.status().lastApplied;
      trace.length = 0;
      void leader.node.snapshot();
      network.connect(lagging.node.id);
      clock.advance(2000);
      const flipped = trace.indexOf(`write snapshot ${index} flipped in`);
      const sent = trace.findIndex((line) => line.startsWith(`send installSnapshot ${index}`));
      expect(trace[0]).toBe(`stage ${index}`);
      expect(flipped, trace.join('\n')).toBeGreaterThan(0);
      expect(sent, trace.join('\n')).toBeGreaterThan(flipped);
      // The follower installed it (whole, in its batch) and holds every key.
      expect(lagging.node.status().snapshotIndex).toBeGreaterThanOrEqual(index);
      expect(trace).toContain(`write snapshot ${index} whole`);
      expect(lagging.kv.get('k5')).toEqual({ found: true, value: BIG });
    } finally {
      for (const { node } of nodes) node.stop();
      for (const storage of storages) storage.close();
    }
  });

  it('stopped while staging, it leaves the old snapshot with its whole log, and nothing staged', () => {
    const clock = new VirtualClock();
    const dir = tempDir();
    const storage = SqliteStorage.open<unknown>(dir, { nodeId: 'n1', clusterId: 'c' });
    const { node } = kvNode({ id: 'n1', peers: ['n1'], network: new MemoryNetwork(clock), clock, storage });
    clock.advance(1000);
    put(node, 'a', BIG);
    clock.advance(10);
    void node.snapshot().catch(() => undefined);
    clock.advance(10);
    const first = node.status().snapshotIndex;
    expect(first).toBeGreaterThan(0);
    for (let i = 0; i < 3; i++) put(node, `b${i}`, BIG);
    clock.advance(10);
    const before = storage.load();
    const rejected = node.snapshot();
    clock.step(); // one piece of it staged
    node.stop();
    storage.close();
    const db = new Database(join(dir, SQLITE_FILE_NAME), { readonly: true });
    const listed = db.prepare('SELECT count(*) FROM raft_snapshot_staging').pluck().get();
    db.close();
    expect(listed).toBe(0); // stop dropped it, as a crash would (open would have)
    const again = SqliteStorage.open<unknown>(dir, { nodeId: 'n1', clusterId: 'c' });
    expect(again.load()).toEqual(before);
    again.close();
    return expect(rejected).rejects.toThrow(/stopped/i);
  });

  it('a snapshot that fell due while another was being written is taken once that one is over; a clean stop stores one still being written', () => {
    const clock = new VirtualClock();
    const dir = tempDir();
    const trace: Trace = [];
    const storage = SqliteStorage.open<unknown>(dir, { nodeId: 'n1', clusterId: 'c' });
    const { node } = kvNode({ id: 'n1', peers: ['n1'], network: new MemoryNetwork(clock), clock, storage: traced(storage, trace), snapshotThreshold: 3 });
    clock.advance(1000);
    const stepUntil = (done: () => boolean) => {
      for (let steps = 0; !done(); steps++) {
        expect(steps, trace.join('\n')).toBeLessThan(10_000);
        clock.step();
      }
    };
    for (let i = 0; i < 3; i++) put(node, `a${i}`, BIG);
    stepUntil(() => trace.length === 1);
    const [first] = trace as [string];
    expect(first).toMatch(/^stage \d+$/);
    // Due again while the first is still being written: taken only when it is over.
    for (let i = 0; i < 3; i++) put(node, `b${i}`, BIG);
    stepUntil(() => node.status().lastApplied === node.status().commitIndex && node.status().lastLogIndex === node.status().commitIndex);
    const due = node.status().lastApplied;
    clock.advance(10);
    expect(trace).toEqual([first, `write snapshot ${first.slice(6)} flipped in`, `stage ${due}`, `write snapshot ${due} flipped in`]);
    expect(node.status()).toMatchObject({ snapshotIndex: due, firstLogIndex: due + 1 });
    // A clean stop while one is being written stores it (the rest of its data, then its flip).
    for (let i = 0; i < 3; i++) put(node, `c${i}`, BIG);
    stepUntil(() => trace.length === 5);
    const last = Number((trace[4] as string).slice(6));
    node.stop({ flush: true });
    expect(trace.slice(4)).toEqual([`stage ${last}`, `write snapshot ${last} flipped in`]);
    storage.close();
    const again = SqliteStorage.open<unknown>(dir, { nodeId: 'n1', clusterId: 'c' });
    expect(again.load().snapshot?.index).toBe(last);
    again.close();
  });
});
