/**
 * The RaftNode runtime, driven in virtual time: the durability order, forwarding, answers given
 * exactly once, ReadIndex reads, and the edge that keeps bad messages away from the machine.
 */
import { describe, expect, it } from 'vitest';
import { NotLeaderError, OutcomeUnknownError } from '../../src/errors.js';
import { createRaftNode } from '../../src/runtime/raft-node.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { MemoryNetwork } from '../../src/transport/memory.js';
import { VirtualClock } from '../../src/sim/clock.js';
import { awaitLeader, cluster, others } from './harness.js';

/** Let promise callbacks run between virtual-time steps. */
async function settle(sim: ReturnType<typeof cluster>, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 5) {
    sim.run(5);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('RaftNode runtime', () => {
  it('answers a proposal with its index, term and the state machine result once it is applied', async () => {
    const sim = cluster(3, 41, { stateMachine: () => ({ apply: (c) => `applied:${String(c)}`, query: () => null }) });
    const leader = awaitLeader(sim);
    const answer = sim.node(leader)?.propose('x');
    await settle(sim, 100);
    await expect(answer).resolves.toMatchObject({ result: 'applied:x', term: sim.status(leader)?.term });
  });

  it('forwards a proposal from a follower to the leader it knows', async () => {
    const sim = cluster(3, 42);
    const leader = awaitLeader(sim);
    await settle(sim, 100); // the followers hear from the new leader
    const [follower] = others(sim, leader);
    const forwarded = sim.node(follower as string)?.propose('via-follower');
    await settle(sim, 200);
    const result = await forwarded;
    expect(result?.index).toBeGreaterThan(0);
    expect(sim.nCommitted(result?.index as number).command).toBe('via-follower');
  });

  it('rejects a proposal whose leader loses office before commit with an outcome-unknown error, exactly once', async () => {
    const sim = cluster(3, 43);
    const leader = awaitLeader(sim);
    sim.disconnect(leader);
    const outcomes: string[] = [];
    const pending = sim.node(leader)?.propose('doomed');
    pending?.then(
      () => outcomes.push('resolved'),
      (error) => outcomes.push(error instanceof OutcomeUnknownError ? 'unknown' : String(error)),
    );
    await settle(sim, 50);
    // Someone else leads a higher term; when the old leader hears of it, it steps down.
    awaitLeader(sim);
    sim.connect(leader);
    await settle(sim, 500);
    expect(outcomes).toEqual(['unknown']);
  });

  it('with forwardToLeader: false, a follower refuses a proposal with NotLeaderError naming the leader', async () => {
    const clock = new VirtualClock();
    const network = new MemoryNetwork(clock);
    const ids = ['n1', 'n2', 'n3'];
    const nodes = ids.map((id, i) =>
      createRaftNode({
        id,
        peers: ids,
        transport: network.transport(id),
        storage: new MemoryStorage(),
        stateMachine: { apply: (c) => c, query: () => undefined },
        clock,
        random: i + 1,
        forwardToLeader: false,
      }),
    );
    for (let t = 0; t < 100 && !nodes.every((n) => n.status().leaderId !== null); t++) {
      clock.advance(20);
      await new Promise((resolve) => setImmediate(resolve));
    }
    const leader = nodes.find((n) => n.status().role === 'leader');
    const follower = nodes.find((n) => n.status().role === 'follower');
    const error = await follower?.propose('x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotLeaderError);
    expect((error as NotLeaderError).leaderId).toBe(leader?.id);
    for (const n of nodes) n.stop();
  });

  it('tells a caller with no known leader to retry: NotLeaderError without a leader id', async () => {
    const sim = cluster(3, 44);
    // Before any election nobody leads.
    const error = await sim
      .node('n1')
      ?.propose('early')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotLeaderError);
    expect((error as NotLeaderError).leaderId).toBeUndefined();
  });

  it('serves linearizable reads (ReadIndex) after the write they follow, on the leader and via a follower', async () => {
    let value = 0;
    const sim = cluster(3, 45, {
      stateMachine: () => {
        let local = 0;
        return {
          apply: (c) => {
            local = c as number;
            value = local;
            return local;
          },
          query: () => local,
        };
      },
    });
    const leader = awaitLeader(sim);
    const write = sim.node(leader)?.propose(7);
    await settle(sim, 100);
    await write;
    const read = sim.node(leader)?.read(null);
    const [follower] = others(sim, leader);
    const viaFollower = sim.node(follower as string)?.read(null);
    await settle(sim, 200);
    await expect(read).resolves.toBe(7);
    await expect(viaFollower).resolves.toBe(7);
    expect(value).toBe(7);
  });

  it('refuses a read on a leader cut off from the majority instead of answering stale data', async () => {
    const sim = cluster(3, 46);
    const leader = awaitLeader(sim);
    await settle(sim, 100);
    sim.disconnect(leader);
    const outcome: string[] = [];
    sim
      .node(leader)
      ?.read(null)
      .then(
        () => outcome.push('answered'),
        () => outcome.push('refused'),
      );
    await settle(sim, 300);
    expect(outcome).not.toContain('answered');
    awaitLeader(sim);
    sim.connect(leader);
    await settle(sim, 500);
    expect(outcome).toEqual(['refused']);
  });

  it('keeps a throwing listener from hurting the node, and reports it', async () => {
    const sim = cluster(1, 47);
    const node = sim.node('n1');
    const errors: string[] = [];
    node?.on('error', ({ context }) => errors.push(context));
    node?.on('applied', () => {
      throw new Error('listener bug');
    });
    awaitLeader(sim);
    const answer = node?.propose('still works');
    await settle(sim, 50);
    await expect(answer).resolves.toMatchObject({ result: 'still works' });
    expect(errors.some((c) => c.includes("listener for 'applied'"))).toBe(true);
  });

  it('rejects malformed messages, its own id as sender and nonsensical terms at the edge, leaving the log unchanged', () => {
    const clock = new VirtualClock();
    const network = new MemoryNetwork(clock);
    const errors: string[] = [];
    const storage = new MemoryStorage();
    let deliver: (m: unknown) => void = () => {};
    const node = createRaftNode({
      id: 'n1',
      peers: ['n1', 'n2', 'n3'],
      transport: {
        start: (h) => {
          deliver = h.onMessage;
        },
        send: () => {},
        request: () => Promise.reject(new Error('no')),
        stop: () => {},
      },
      storage,
      stateMachine: { apply: (c) => c, query: () => undefined },
      clock,
      onError: (error) => errors.push((error as Error).message),
    });
    void network;
    const good = {
      type: 'rpc.appendEntries',
      from: 'n2',
      term: 1,
      leaderId: 'n2',
      prevLogIndex: 0,
      prevLogTerm: 0,
      entries: [{ term: 1, index: 1, command: 'ok' }],
      leaderCommit: 0,
      seq: 0,
    };
    deliver({ ...good, from: 'n1', leaderId: 'n1' });
    deliver({ ...good, term: -1 });
    deliver({ ...good, entries: [{ term: 1, index: 5, command: 'gap' }] });
    deliver({ ...good, entries: 'not an array' });
    deliver({ type: 'rpc.nonsense' });
    deliver(null);
    clock.advance(1);
    expect(errors).toHaveLength(6);
    expect(node.log()).toEqual([]);
    expect(storage.load().entries).toEqual([]);
    deliver(good);
    clock.advance(1);
    expect(node.log()).toHaveLength(1);
    // A leader outside this node's configuration is still heard (thesis §4.1): a server added
    // after this node last heard may lead by now. Who may send at all is the transport's to check.
    deliver({ ...good, from: 'n4', leaderId: 'n4', term: 2, prevLogIndex: 1, prevLogTerm: 1, entries: [{ term: 2, index: 2, command: 'n4 leads' }] });
    clock.advance(1);
    expect(node.log()).toHaveLength(2);
    expect(node.status().leaderId).toBe('n4');
    node.stop();
  });

  it('stops and reports "failed" when storage refuses a write, and sends nothing that depended on it', () => {
    const clock = new VirtualClock();
    const storage = new MemoryStorage();
    storage.write = () => {
      throw new Error('disk full');
    };
    const sent: string[] = [];
    let deliver: (m: unknown) => void = () => {};
    const node = createRaftNode({
      id: 'n1',
      peers: ['n1', 'n2', 'n3'],
      transport: {
        start: (h) => {
          deliver = h.onMessage;
        },
        send: (_to, m) => sent.push(m.type),
        request: () => Promise.reject(new Error('no')),
        stop: () => {},
      },
      storage,
      stateMachine: { apply: (c) => c, query: () => undefined },
      clock,
    });
    const failures: string[] = [];
    node.on('failed', ({ reason }) => failures.push(reason));
    deliver({ type: 'rpc.requestVote', from: 'n2', term: 3, candidateId: 'n2', lastLogIndex: 0, lastLogTerm: 0 });
    clock.advance(0);
    expect(failures).toEqual(['storage write failed; the node stops']);
    expect(sent).toEqual([]); // the vote was not durable, so it never left
    expect(node.stopped).toBe(true);
  });

  it('writes to storage before any message that depends on it leaves', () => {
    const clock = new VirtualClock();
    const order: string[] = [];
    const storage = new MemoryStorage();
    const write = storage.write.bind(storage);
    storage.write = (batch) => {
      order.push(`persist term=${batch.hardState?.currentTerm} votedFor=${batch.hardState?.votedFor}`);
      write(batch);
    };
    let deliver: (m: unknown) => void = () => {};
    const node = createRaftNode({
      id: 'n1',
      peers: ['n1', 'n2', 'n3'],
      transport: {
        start: (h) => {
          deliver = h.onMessage;
        },
        send: (to, m) => order.push(`send ${m.type} to ${to}${'voteGranted' in m ? ` granted=${m.voteGranted}` : ''}`),
        request: () => Promise.reject(new Error('no')),
        stop: () => {},
      },
      storage,
      stateMachine: { apply: (c) => c, query: () => undefined },
      clock,
    });
    deliver({ type: 'rpc.requestVote', from: 'n2', term: 3, candidateId: 'n2', lastLogIndex: 0, lastLogTerm: 0 });
    expect(order).toEqual([]); // nothing before the end of the batch
    clock.advance(0);
    expect(order).toEqual(['persist term=3 votedFor=n2', 'send rpc.requestVoteResult to n2 granted=true']);
    node.stop();
  });
});
