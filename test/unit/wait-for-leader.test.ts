/**
 * waitForLeader(nodes, { timeout, clock }): resolves with the leader once every running node
 * names it in the same term; rejects with LeaderTimeoutError when they do not in time. Driven in
 * virtual time (VirtualClock), so no test waits on a real timer.
 */
import { describe, expect, it } from 'vitest';
import { InvalidRequestError, LeaderTimeoutError } from '../../src/errors.js';
import { createRaftNode, type RaftNode } from '../../src/runtime/raft-node.js';
import { waitForLeader } from '../../src/runtime/wait-for-leader.js';
import { VirtualClock } from '../../src/sim/clock.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { MemoryNetwork } from '../../src/transport/memory.js';

function cluster(size = 3) {
  const clock = new VirtualClock();
  const network = new MemoryNetwork(clock);
  const ids = Array.from({ length: size }, (_, i) => `n${i + 1}`);
  const nodes = ids.map((id, i) =>
    createRaftNode({
      id,
      peers: ids,
      clock,
      random: i + 1,
      transport: network.transport(id),
      storage: new MemoryStorage<string>(),
      stateMachine: { apply: (command: string) => command, query: () => null },
    }),
  );
  return { clock, network, nodes };
}

/** Step the virtual clock until `promise` settles (or `ms` pass). */
async function drive<T>(clock: VirtualClock, promise: Promise<T>, ms = 30_000): Promise<T> {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  const until = clock.now() + ms;
  while (!settled && clock.now() <= until) {
    if (!clock.step()) clock.advance(1);
    await Promise.resolve();
    await Promise.resolve();
  }
  return promise;
}

function stopAll(nodes: RaftNode[]): void {
  for (const node of nodes) node.stop();
}

describe('waitForLeader', () => {
  it('resolves with the node every running node names as leader of one term', async () => {
    const { clock, nodes } = cluster();
    const leader = await drive(clock, waitForLeader(nodes, { clock, timeout: 10_000 }));
    expect(leader.status().role).toBe('leader');
    for (const node of nodes) {
      expect(node.status().leaderId).toBe(leader.id);
      expect(node.status().term).toBe(leader.status().term);
    }
    stopAll(nodes);
  });

  it('resolves at once when the nodes already agree', async () => {
    const { clock, nodes } = cluster();
    const first = await drive(clock, waitForLeader(nodes, { clock }));
    // No clock step: agreement is checked when waiting starts.
    await expect(waitForLeader(nodes, { clock, timeout: 0 })).resolves.toBe(first);
    stopAll(nodes);
  });

  it('ignores stopped nodes and finds the next leader after the old one stops', async () => {
    const { clock, nodes } = cluster();
    const first = await drive(clock, waitForLeader(nodes, { clock }));
    first.stop();
    const next = await drive(clock, waitForLeader(nodes, { clock, timeout: 10_000 }));
    expect(next).not.toBe(first);
    expect(next.status().term).toBeGreaterThan(first.status().term);
    stopAll(nodes);
  });

  it('rejects with LeaderTimeoutError, saying what each node thought, when no majority runs', async () => {
    const { clock, nodes } = cluster();
    nodes[1]?.stop();
    nodes[2]?.stop();
    const waiting = waitForLeader(nodes, { clock, timeout: 2000 });
    const error = await drive(clock, waiting).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LeaderTimeoutError);
    expect((error as Error).message).toMatch(/within 2000 ms/);
    expect((error as Error).message).toMatch(/n2: stopped/);
    expect(clock.now()).toBeGreaterThanOrEqual(2000);
    stopAll(nodes);
  });

  it('does not resolve while the nodes name different leaders or terms (a partitioned old leader)', async () => {
    const { clock, network, nodes } = cluster();
    const first = await drive(clock, waitForLeader(nodes, { clock }));
    // Cut the leader off: the others elect a new one while it still believes it leads (until check-quorum).
    network.partition([[first.id], nodes.filter((n) => n !== first).map((n) => n.id)]);
    const others = nodes.filter((n) => n !== first);
    const next = await drive(clock, waitForLeader(others, { clock }));
    expect(next).not.toBe(first);
    network.heal();
    const all = await drive(clock, waitForLeader(nodes, { clock }));
    for (const node of nodes) expect(node.status().leaderId).toBe(all.id);
    stopAll(nodes);
  });

  it('refuses an empty list and a bad timeout at once', async () => {
    await expect(waitForLeader([])).rejects.toBeInstanceOf(InvalidRequestError);
    const { nodes } = cluster(1);
    await expect(waitForLeader(nodes, { timeout: -1 })).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(waitForLeader(nodes, { timeout: Number.NaN })).rejects.toBeInstanceOf(InvalidRequestError);
    stopAll(nodes);
  });

  it('leaves no listener and no timer behind once settled', async () => {
    const { clock, nodes } = cluster();
    let listeners = 0;
    const timers = new Set<unknown>();
    // The same nodes and clock, counting what waitForLeader subscribes and schedules.
    const watched = nodes.map((node) => ({
      id: node.id,
      get stopped() {
        return node.stopped;
      },
      status: () => node.status(),
      on: (event: 'leader' | 'role' | 'failed', listener: () => void) => {
        listeners++;
        const off = node.on(event, listener);
        return () => {
          listeners--;
          off();
        };
      },
    }));
    const counting = {
      now: () => clock.now(),
      defer: (fn: () => void) => clock.defer(fn),
      setTimeout: (fn: () => void, ms: number) => {
        const handle = clock.setTimeout(fn, ms);
        timers.add(handle);
        return handle;
      },
      clearTimeout: (handle: unknown) => {
        timers.delete(handle);
        clock.clearTimeout(handle);
      },
    };
    const leader = await drive(clock, waitForLeader(watched, { clock: counting, timeout: 5000 }));
    expect(nodes.map((n) => n.id)).toContain(leader.id);
    expect(listeners).toBe(0);
    expect(timers.size).toBe(0);
    stopAll(nodes);
  });
});
