/**
 * Snapshots and log compaction in virtual time (the MIT 6.824 lab 2D set): logs stay short, a
 * follower that was away while the leader compacted catches up through InstallSnapshot, on a
 * reliable and an unreliable network, with crashes, and nodes restarted from their snapshots go on
 * agreeing. Safety is checked after every step by the simulation itself.
 */
import { describe, expect, it } from 'vitest';
import { KvStateMachine } from '../../src/kv/state-machine.js';
import { createRaftNode } from '../../src/runtime/raft-node.js';
import { VirtualClock } from '../../src/sim/clock.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { SqliteStorage } from '../../src/storage/sqlite.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryNetwork } from '../../src/transport/memory.js';
import { Simulation } from '../../src/sim/simulation.js';
import { awaitLeader, one, others } from './harness.js';

const THRESHOLD = 10;

function cluster(seed: number, nodes = 3) {
  return new Simulation({ nodes, seed, snapshotThreshold: THRESHOLD });
}

/** Commands 0..n-1 applied by every node in `expected`, in the order `one` committed them. */
function agree(sim: Simulation, from: number, n: number, expected: number): void {
  for (let i = from; i < from + n; i++) one(sim, `c${i}`, expected);
}

describe('snapshots (2D)', () => {
  it('snapshots taken every 10 applied entries keep every log short', () => {
    const sim = cluster(201);
    awaitLeader(sim);
    agree(sim, 0, 60, 3);
    sim.run(500);
    for (const id of sim.ids) {
      expect(sim.status(id)?.snapshotIndex, id).toBeGreaterThan(40);
      expect(sim.logLength(id), id).toBeLessThanOrEqual(2 * THRESHOLD);
      expect(sim.status(id)?.firstLogIndex).toBe((sim.status(id)?.snapshotIndex ?? 0) + 1);
    }
    expect(sim.reportedErrors()).toEqual([]);
  });

  for (const network of ['reliable', 'unreliable'] as const) {
    it(`a follower disconnected while the leader compacted catches up through InstallSnapshot (${network})`, () => {
      const sim = cluster(network === 'reliable' ? 202 : 203);
      const leader = awaitLeader(sim);
      const [away] = others(sim, leader) as [string];
      sim.disconnect(away);
      if (network === 'unreliable') sim.setNetwork({ drop: 0.1, duplicate: 0.05, delay: [1, 20], reorder: 0.2 });
      agree(sim, 0, 40, 2);
      const installsBefore = sim.snapshots.installed;
      sim.connect(away);
      agree(sim, 40, 5, 3);
      expect(sim.snapshots.installed).toBeGreaterThan(installsBefore);
      // What it applied includes the commands that arrived inside the snapshot.
      const applied = new Map(sim.applied(away).map((a) => [a.index, a.command]));
      for (const { index, command } of sim.applied(sim.leader() as string)) expect(applied.get(index)).toEqual(command);
      expect(sim.status(away)?.snapshotIndex).toBeGreaterThan(0);
    });
  }

  it('a follower that crashes in the middle of a transfer catches up after it restarts', () => {
    const sim = cluster(204, 5);
    const leader = awaitLeader(sim);
    const [away] = others(sim, leader) as [string];
    sim.crash(away);
    agree(sim, 0, 40, 4);
    sim.restart(away);
    // Crash it again as soon as it receives something, then let it finish.
    sim.runUntil(() => (sim.status(away)?.term ?? 0) > 0 && (sim.status(away)?.leaderId ?? null) !== null, { timeout: 2000 });
    sim.crash(away);
    sim.run(300);
    sim.restart(away);
    agree(sim, 40, 3, 5);
    expect(sim.status(away)?.lastApplied).toBe(sim.status(sim.leader() as string)?.lastApplied);
  });

  it('every node crashing and restarting from its snapshot goes on agreeing on new commands', () => {
    const sim = cluster(205);
    awaitLeader(sim);
    agree(sim, 0, 35, 3);
    sim.run(300);
    const before = Object.fromEntries(sim.ids.map((id) => [id, sim.status(id)?.snapshotIndex ?? 0]));
    for (const id of sim.ids) sim.crash(id);
    for (const id of sim.ids) sim.restart(id);
    for (const id of sim.ids) {
      // Restart = restore the snapshot, then replay only what follows it.
      expect(sim.status(id)?.lastApplied, id).toBeGreaterThanOrEqual(before[id] as number);
      expect(sim.status(id)?.snapshotIndex, id).toBe(before[id]);
    }
    awaitLeader(sim);
    agree(sim, 35, 10, 3);
  });

  it('a retried KV write is applied once, even when the node that applies it got the earlier one from a snapshot', () => {
    const a = new KvStateMachine();
    const write = { type: 'put', key: 'k', value: 1, client: { id: 'c', seq: 1 } } as const;
    const first = a.apply(write, { term: 1, index: 1, command: write });
    const b = new KvStateMachine();
    b.restore(a.snapshot());
    a.apply({ type: 'put', key: 'k', value: 2 }, { term: 1, index: 2, command: null });
    b.apply({ type: 'put', key: 'k', value: 2 }, { term: 1, index: 2, command: null });
    // The retry of seq 1 answers the first answer and changes nothing, on both.
    expect(b.apply(write, { term: 1, index: 3, command: write })).toEqual(first);
    expect(b.get('k')).toEqual({ found: true, value: 2 });
    expect(JSON.stringify(b.snapshot())).toBe(JSON.stringify(a.snapshot()));
  });

  it('node.snapshot() takes one now and resolves once it is stored; sim.snapshot refuses a node that is down', async () => {
    const sim = cluster(206);
    const leader = awaitLeader(sim);
    agree(sim, 0, 5, 3);
    const taken = sim.snapshot(leader);
    sim.run(50);
    const at = await taken;
    expect(at.index).toBe(sim.status(leader)?.lastApplied);
    expect(sim.status(leader)?.snapshotIndex).toBe(at.index);
    const [down] = others(sim, leader) as [string];
    sim.crash(down);
    await expect(sim.snapshot(down)).rejects.toThrow(/not running/);
  });

  it('a node whose storage keeps no snapshots never compacts, past any threshold, and keeps serving', () => {
    class NoSnapshots extends MemoryStorage {
      override readonly storesSnapshots = false;
    }
    const clock = new VirtualClock();
    const node = createRaftNode({
      id: 'n1',
      peers: ['n1'],
      transport: new MemoryNetwork(clock).transport('n1'),
      storage: new NoSnapshots(),
      stateMachine: new KvStateMachine(),
      clock,
      snapshotThreshold: 3,
    });
    const failed: unknown[] = [];
    node.on('failed', (f) => failed.push(f));
    clock.advance(1000);
    for (let i = 0; i < 10; i++) {
      node.submit({ type: 'put', key: 'k', value: i });
      clock.advance(10);
    }
    expect(node.status().lastApplied).toBe(11);
    expect(node.status().snapshotIndex).toBe(0);
    expect(failed).toEqual([]);
    node.stop();
  });

  it('a node on SQLite compacts, and restarts from its snapshot with the same state', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xstate-raft-snap-'));
    try {
      const start = () => {
        const clock = new VirtualClock();
        const kv = new KvStateMachine();
        const storage = SqliteStorage.open<unknown>(dir, { nodeId: 'n1', clusterId: 'snap' });
        const node = createRaftNode({
          id: 'n1',
          peers: ['n1'],
          transport: new MemoryNetwork(clock).transport('n1'),
          storage,
          stateMachine: kv,
          clock,
          snapshotThreshold: 5,
        });
        return { node, clock, kv, storage };
      };
      const first = start();
      first.clock.advance(1000);
      for (let i = 0; i < 23; i++) {
        first.node.submit({ type: 'put', key: `k${i % 4}`, value: i });
        first.clock.advance(10);
      }
      const before = first.node.status();
      expect(before.snapshotIndex).toBeGreaterThanOrEqual(20);
      const dump = first.kv.dump();
      first.node.stop({ flush: true });
      first.storage.close();
      const again = start();
      expect(again.node.status().snapshotIndex).toBe(before.snapshotIndex);
      expect(again.node.status().lastApplied).toBeGreaterThanOrEqual(before.snapshotIndex);
      again.clock.advance(1000);
      expect(again.kv.dump()).toEqual(dump);
      again.node.stop();
      again.storage.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
