/**
 * Membership through the RaftNode API, on the in-memory network in virtual time: the rules a
 * review of the first version found broken, each kept as a regression test named after the rule.
 */
import { describe, expect, it } from 'vitest';
import { parseRpcMessage } from '../../src/core/validate.js';
import { InvalidRequestError } from '../../src/errors.js';
import { KvStateMachine } from '../../src/kv/state-machine.js';
import { createRaftNode, type RaftNode } from '../../src/runtime/raft-node.js';
import { VirtualClock } from '../../src/sim/clock.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { MemoryNetwork } from '../../src/transport/memory.js';

function cluster() {
  const clock = new VirtualClock();
  const network = new MemoryNetwork(clock);
  const nodes = new Map<string, RaftNode>();
  const boot = (id: string, join = false) => {
    const node = createRaftNode({
      id,
      peers: ['n1', 'n2', 'n3'],
      join,
      transport: network.transport(id),
      storage: new MemoryStorage(),
      stateMachine: new KvStateMachine(),
      clock,
      random: id.charCodeAt(1) * 7919,
    });
    nodes.set(id, node);
    return node;
  };
  for (const id of ['n1', 'n2', 'n3']) boot(id);
  const leader = () => [...nodes.values()].find((n) => !n.stopped && n.status().role === 'leader');
  /** Run virtual time until `promise` settles (or `ms` pass). */
  const settle = async <T>(promise: Promise<T>, ms = 10_000): Promise<T> => {
    let outcome: { value: T } | { error: unknown } | undefined;
    promise.then(
      (value) => (outcome = { value }),
      (error: unknown) => (outcome = { error }),
    );
    for (let t = 0; t < ms && outcome === undefined; t += 10) {
      clock.advance(10);
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (outcome === undefined) throw new Error(`not settled within ${ms} virtual ms`);
    if ('error' in outcome) throw outcome.error;
    return outcome.value;
  };
  const run = (ms: number) => clock.advance(ms);
  const stop = () => {
    for (const node of nodes.values()) node.stop();
  };
  return { clock, network, nodes, boot, leader, settle, run, stop };
}

describe('membership through RaftNode', () => {
  it('a client cannot propose one of Raft’s own commands: a configuration or a no-op is refused and nothing changes', async () => {
    const c = cluster();
    c.run(3000);
    const leader = c.leader() as RaftNode;
    const before = leader.status().lastLogIndex;
    await expect(leader.propose({ type: 'raft.config', voters: ['n1'], learners: [] } as never)).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(leader.propose({ type: 'raft.noop' } as never)).rejects.toBeInstanceOf(InvalidRequestError);
    expect(() => leader.submit({ type: 'raft.config', voters: ['n1'], learners: [] } as never)).toThrow(InvalidRequestError);
    c.run(500);
    expect(leader.status().lastLogIndex).toBe(before);
    expect(leader.members().voters).toEqual(['n1', 'n2', 'n3']);
    // The machine refuses it too, whoever sends it the event.
    leader.actor.send({ type: 'client.propose', commands: [{ type: 'raft.config', voters: ['n1'], learners: [] }] });
    expect(leader.actor.getSnapshot().context.log.lastIndex).toBe(before);
    c.stop();
  });

  it('a malformed configuration entry is refused on the wire before it reaches a follower', () => {
    const message = {
      type: 'rpc.appendEntries',
      from: 'n1',
      term: 1,
      leaderId: 'n1',
      prevLogIndex: 0,
      prevLogTerm: 0,
      entries: [{ term: 1, index: 1, command: { type: 'raft.config' } }],
      leaderCommit: 0,
      seq: 0,
    };
    expect(parseRpcMessage(message).ok).toBe(false);
    const twice = { ...message, entries: [{ term: 1, index: 1, command: { type: 'raft.config', voters: ['a', 'b'], learners: ['a'] } }] };
    expect(parseRpcMessage(twice)).toMatchObject({ ok: false, error: expect.stringContaining('listed twice') });
    const good = { ...message, entries: [{ term: 1, index: 1, command: { type: 'raft.config', voters: ['a', 'b'], learners: ['c'] } }] };
    expect(parseRpcMessage(good).ok).toBe(true);
  });

  it('a server removed and added again under the same id starts from fresh progress: the new, empty machine catches up, and is not promoted before it has', async () => {
    const c = cluster();
    c.run(3000);
    const leader = c.leader() as RaftNode;
    for (let i = 0; i < 5; i++) await c.settle(leader.propose({ type: 'put', key: `k${i}`, value: i } as never));
    const gone = leader.id === 'n3' ? 'n2' : 'n3';
    c.nodes.get(gone)?.stop(); // the machine dies
    await c.settle(leader.removeServer(gone));
    const fresh = c.boot(gone, true); // a new, empty machine under the old id
    await c.settle(leader.addLearner(gone));
    // Before the leader has heard where the new log stands, promote is refused.
    await expect(c.settle(leader.promote(gone))).rejects.toThrow(/lags behind/);
    c.run(1000);
    expect(fresh.status().lastLogIndex).toBe(leader.status().lastLogIndex);
    await c.settle(leader.promote(gone));
    expect(leader.members().voters).toContain(gone);
    c.stop();
  });

  it('no leadership transfer while a configuration change is in flight (the target might be removed, or win under the old configuration)', async () => {
    const c = cluster();
    c.run(3000);
    const leader = c.leader() as RaftNode;
    const [a, b] = ['n1', 'n2', 'n3'].filter((id) => id !== leader.id) as [string, string];
    c.boot('n4', true);
    const adding = leader.addLearner('n4');
    await expect(c.settle(leader.transferLeadership(a))).rejects.toThrow(/configuration change is in flight/);
    await c.settle(adding);
    const moved = await c.settle(leader.transferLeadership(b));
    expect(moved.leaderId).toBe(b);
    c.stop();
  });

  it('a removed server receives the entry that removes it: it stops taking part (not a voter of its own configuration) and never raises its term', async () => {
    const c = cluster();
    c.run(3000);
    const leader = c.leader() as RaftNode;
    const removed = ['n1', 'n2', 'n3'].find((id) => id !== leader.id) as string;
    await c.settle(leader.removeServer(removed));
    c.run(200);
    const node = c.nodes.get(removed) as RaftNode;
    expect(node.members().voters).not.toContain(removed);
    const term = node.status().term;
    c.run(10_000); // many election timeouts
    expect(node.status().term).toBe(term);
    expect(node.status().role).toBe('follower');
    c.stop();
  });

  it('a leader that removes itself keeps serving until the change commits, then hands over with TimeoutNow at once (no election timeout waited)', async () => {
    const c = cluster();
    c.run(3000);
    const leader = c.leader() as RaftNode;
    const committed = await c.settle(leader.removeServer(leader.id));
    const handedAt = c.clock.now();
    let next: RaftNode | undefined;
    for (let t = 0; t < 1000 && next === undefined; t += 5) {
      c.run(5);
      next = c.leader();
    }
    expect(next?.id).not.toBe(leader.id);
    // Far less than the 150 ms minimum election timeout: TimeoutNow, not a timer.
    expect(c.clock.now() - handedAt).toBeLessThan(100);
    expect(next?.members()).toMatchObject({ voters: ['n1', 'n2', 'n3'].filter((id) => id !== leader.id) });
    expect(committed.index).toBeGreaterThan(0);
    c.stop();
  });
});
