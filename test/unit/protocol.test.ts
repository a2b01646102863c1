/**
 * ConsensusProtocol: the seed's class over one node actor. Each test names the rule it protects;
 * its assertions fail if that rule breaks.
 */
import { describe, expect, it } from 'vitest';
import type { LogEntry, NodeId, Role, Term } from '../../src/core/types.js';
import { InvalidRequestError, NotElectedError, NotLeaderError, RaftError, StoppedError } from '../../src/errors.js';
import { ConsensusProtocol, LocalNetwork, SEED_ALIASES, type ConsensusProtocolOptions, type ConsensusResponse, type Envelope } from '../../src/protocol.js';
import { VirtualClock } from '../../src/sim/clock.js';

// ---------------------------------------------------------------- helpers

const NOOP = { type: 'raft.noop' };
/** The first leader of a cluster writes its bootstrap configuration down as its first entry (in place of the no-op). */
const bootstrapConfig = (voters: string[]) => ({ type: 'raft.config', voters, learners: [] });

function entry(term: Term, index: number, command: unknown = `c${index}`): LogEntry {
  return { term, index, command };
}

/** A value of the wrong type, for bad-input tests. */
function bad<T>(value: unknown): T {
  return value as T;
}

/** Everything observable about a node's Raft state. */
function fingerprint(cp: ConsensusProtocol) {
  return {
    state: cp.state,
    currentTerm: cp.currentTerm,
    votedFor: cp.votedFor,
    log: cp.log,
    commitIndex: cp.commitIndex,
    lastApplied: cp.lastApplied,
    leaderId: cp.leaderId,
    votes: cp.votes,
    nextIndex: cp.nextIndex,
    matchIndex: cp.matchIndex,
  };
}

/** Call `fn`, expect it to throw `type` with a message matching `pattern`, and the node to be unchanged. */
function expectRefused(cp: ConsensusProtocol, fn: () => unknown, type: new (...args: never[]) => Error, pattern: RegExp): void {
  const before = fingerprint(cp);
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(type);
  expect((thrown as Error).message).toMatch(pattern);
  expect(fingerprint(cp)).toEqual(before);
}

interface Cluster {
  network: LocalNetwork;
  nodes: ConsensusProtocol[];
  node(id: NodeId): ConsensusProtocol;
  /** Every time any node took office: which node, in which term. */
  leadersElected: { id: NodeId; term: Term }[];
}

/** Nodes on one LocalNetwork; every leader election is recorded from the actors' own roleChanged effects. */
function cluster(ids: readonly NodeId[], options: Omit<ConsensusProtocolOptions, 'network'> = {}): Cluster {
  const network = new LocalNetwork();
  const nodes = ids.map((id) => new ConsensusProtocol(id, ids, { ...options, network }));
  const leadersElected: { id: NodeId; term: Term }[] = [];
  for (const n of nodes) {
    const id = n.nodeId;
    n.actor.on('roleChanged', (e) => {
      if (e.role === 'leader') leadersElected.push({ id, term: e.term });
    });
  }
  const node = (id: NodeId): ConsensusProtocol => {
    const found = nodes.find((n) => n.nodeId === id);
    if (found === undefined) throw new Error(`no node ${id}`);
    return found;
  };
  return { network, nodes, node, leadersElected };
}

/** Election Safety: no term has two different leaders. */
function expectOneLeaderPerTerm(leadersElected: readonly { id: NodeId; term: Term }[]): void {
  const byTerm = new Map<Term, Set<NodeId>>();
  for (const { id, term } of leadersElected) byTerm.set(term, (byTerm.get(term) ?? new Set()).add(id));
  for (const [term, leaders] of byTerm) expect({ term, leaders: [...leaders] }).toEqual({ term, leaders: [...leaders].slice(0, 1) });
}

/** Nodes without a network: messages are carried by hand with receive(). */
function manual(ids: readonly NodeId[]): Map<NodeId, ConsensusProtocol> {
  return new Map(ids.map((id) => [id, new ConsensusProtocol(id, ids)]));
}

/** Deliver envelopes, and every reply they cause, breadth first, by hand. */
function deliverAll(nodes: Map<NodeId, ConsensusProtocol>, envelopes: readonly Envelope[]): number {
  const queue = [...envelopes];
  let delivered = 0;
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    const to = nodes.get(next.to);
    if (to === undefined) throw new Error(`no node ${next.to}`);
    queue.push(...to.receive(next));
    delivered++;
  }
  return delivered;
}

function get<T>(map: Map<NodeId, T>, id: NodeId): T {
  const value = map.get(id);
  if (value === undefined) throw new Error(`no ${id}`);
  return value;
}

/** Node `a` of cluster a, b, c, with some history: term 2, log [1:t1, 2:t2], commitIndex 1, leader c. */
function seasonedFollower(): ConsensusProtocol {
  const a = new ConsensusProtocol('a', ['a', 'b', 'c']);
  a.appendEntries(1, 'b', 0, 0, [entry(1, 1)], 0);
  a.appendEntries(2, 'c', 1, 1, [entry(2, 2)], 1);
  expect(fingerprint(a)).toMatchObject({ state: 'follower', currentTerm: 2, commitIndex: 1, leaderId: 'c' });
  expect(a.log).toEqual([entry(1, 1), entry(2, 2)]);
  return a;
}

// ---------------------------------------------------------------- the seed

describe('the seed’s class', () => {
  it("the seed's example: new ConsensusProtocol('node1', ['node1','node2','node3']).state is 'follower'", () => {
    const cp = new ConsensusProtocol('node1', ['node1', 'node2', 'node3']);
    expect(cp.state).toBe('follower');
  });

  it('a new node starts at term 0, with no vote, an empty log, and nothing committed or applied', () => {
    const cp = new ConsensusProtocol('node1', ['node1', 'node2', 'node3']);
    expect(cp.nodeId).toBe('node1');
    expect(cp.currentTerm).toBe(0);
    expect(cp.votedFor).toBeNull();
    expect(cp.log).toEqual([]);
    expect(cp.commitIndex).toBe(0);
    expect(cp.lastApplied).toBe(0);
    expect(cp.leaderId).toBeNull();
    expect(cp.nextIndex).toEqual({});
    expect(cp.matchIndex).toEqual({});
  });

  it('peers may or may not include the node itself: the cluster is the set of both', () => {
    const withSelf = new ConsensusProtocol('a', ['a', 'b', 'c']);
    const withoutSelf = new ConsensusProtocol('a', ['b', 'c']);
    expect(withSelf.peers).toEqual(['a', 'b', 'c']);
    expect(withoutSelf.peers).toEqual(['b', 'c']);
    expect([...withSelf.allNodes].sort()).toEqual(['a', 'b', 'c']);
    expect([...withoutSelf.allNodes].sort()).toEqual(['a', 'b', 'c']);
    // Both are 3-node clusters: asking the other two for votes, winning with one of them.
    for (const cp of [withSelf, withoutSelf]) {
      const requests = cp.startElection();
      expect(requests.map((r) => r.to)).toEqual(['b', 'c']);
      cp.receive({ type: 'rpc.requestVoteResult', from: 'b', term: 1, voteGranted: true });
      expect(cp.state).toBe('leader');
    }
  });

  it('every snake_case name of the seed is an alias of the same camelCase member', () => {
    const proto = ConsensusProtocol.prototype;
    for (const [alias, name] of Object.entries(SEED_ALIASES)) {
      const a = Object.getOwnPropertyDescriptor(proto, alias);
      const b = Object.getOwnPropertyDescriptor(proto, name);
      expect(a, alias).toBeDefined();
      expect(a?.value ?? a?.get, alias).toBe(b?.value ?? b?.get);
    }
    expect(Object.keys(SEED_ALIASES).sort()).toEqual(
      [
        'append_entries',
        'become_leader',
        'commit_index',
        'current_term',
        'is_consensus_reached',
        'last_applied',
        'node_id',
        'replicate_log',
        'request_vote',
        'start_election',
        'voted_for',
      ].sort(),
    );
  });

  it('the snake_case methods work as the seed wrote them', () => {
    // The receivers, on a node of its own ...
    const n2 = new ConsensusProtocol('node2', ['node1', 'node2', 'node3']);
    expect(n2.request_vote(1, 'node1', 0, 0)).toMatchObject({ from: 'node2', term: 1, voteGranted: true });
    expect(n2.voted_for).toBe('node1');
    expect(n2.current_term).toBe(1);
    expect(n2.append_entries(1, 'node1', 0, 0, [entry(1, 1, 'x')], 1)).toEqual({ term: 1, success: true });
    expect(n2.commit_index).toBe(1);
    expect(n2.last_applied).toBe(1);
    expect(n2.node_id).toBe('node2');

    // ... and an election and replication in a fresh cluster.
    const nodes = manual(['node1', 'node2', 'node3']);
    const n1 = get(nodes, 'node1');
    expect(() => n1.become_leader()).toThrow(NotElectedError);
    const requests = n1.start_election();
    expect(requests).toHaveLength(2);
    deliverAll(nodes, requests);
    n1.become_leader();
    expect(n1.state).toBe('leader');
    const { entry: appended } = n1.replicate_log('set x 1');
    expect(appended).toEqual({ term: 1, index: 2, command: 'set x 1' }); // index 1 is the leader's no-op
    expect(n1.is_consensus_reached([true, true, false])).toBe(true);
  });
});

// ---------------------------------------------------------------- majority

describe('isConsensusReached: acceptances > allNodes / 2', () => {
  const cp = new ConsensusProtocol('a', ['a', 'b', 'c']);
  const four = new ConsensusProtocol('a', ['a', 'b', 'c', 'd']);

  it('a strict majority of all nodes is needed (2 of 3, 3 of 4; half is not enough)', () => {
    expect(cp.isConsensusReached([true, true])).toBe(true);
    expect(cp.isConsensusReached([true, false, false])).toBe(false);
    expect(cp.isConsensusReached([true])).toBe(false);
    expect(four.isConsensusReached([true, true, false, false])).toBe(false);
    expect(four.isConsensusReached([true, true, true])).toBe(true);
  });

  it('counts { voteGranted } and { success } replies, and a Map or object from node id to either', () => {
    expect(cp.isConsensusReached([{ voteGranted: true }, { voteGranted: true }, { voteGranted: false }])).toBe(true);
    expect(cp.isConsensusReached([{ success: true }, { success: false }])).toBe(false);
    expect(
      cp.isConsensusReached(
        new Map<NodeId, ConsensusResponse>([
          ['a', true],
          ['b', { success: true }],
        ]),
      ),
    ).toBe(true);
    expect(
      cp.isConsensusReached(
        new Map<NodeId, ConsensusResponse>([
          ['a', true],
          ['b', { success: false }],
        ]),
      ),
    ).toBe(false);
    expect(cp.isConsensusReached({ b: { voteGranted: true }, c: true })).toBe(true);
    expect(cp.isConsensusReached({ b: { voteGranted: true }, c: false })).toBe(false);
  });

  it("this node's own acceptance is not implied: only the responses given are counted", () => {
    const peerVote = { type: 'rpc.requestVoteResult', from: 'b', term: 1, voteGranted: true } as const;
    expect(cp.isConsensusReached([peerVote])).toBe(false);
    expect(cp.isConsensusReached([true, peerVote])).toBe(true);
    expect(cp.isConsensusReached(new Map<NodeId, ConsensusResponse>([['b', peerVote]]))).toBe(false);
  });

  it('a node is counted once however many replies it sent', () => {
    const fromB = { from: 'b', success: true };
    expect(cp.isConsensusReached([fromB, fromB])).toBe(false);
    expect(cp.isConsensusReached([fromB, { from: 'c', success: true }])).toBe(true);
  });

  it('responses of another shape, unknown nodes, or more responses than nodes are refused', () => {
    expect(() => cp.isConsensusReached(bad('yes'))).toThrow(/must be an array, a Map or an object/);
    expect(() => cp.isConsensusReached(bad([1]))).toThrow(InvalidRequestError);
    expect(() => cp.isConsensusReached(bad([{ ok: true }]))).toThrow(/responses\[0\] must be a boolean/);
    expect(() => cp.isConsensusReached({ z: true })).toThrow(/responses\["z"\] names "z", which is not a node of this cluster/);
    expect(() => cp.isConsensusReached([{ from: 'z', success: true }])).toThrow(/not a node of this cluster/);
    expect(() => cp.isConsensusReached(new Map<NodeId, ConsensusResponse>([['b', { from: 'c', success: true }]]))).toThrow(/reply from "c", filed under "b"/);
    expect(() => cp.isConsensusReached([true, true, true, true])).toThrow(/4 responses for a cluster of 3/);
  });
});

// ---------------------------------------------------------------- RequestVote

describe('RequestVote receiver', () => {
  it('grants a vote to a candidate of a new term with an up-to-date log, and remembers it', () => {
    const a = new ConsensusProtocol('a', ['a', 'b', 'c']);
    expect(a.requestVote(1, 'b', 0, 0)).toMatchObject({ from: 'a', term: 1, voteGranted: true });
    expect(a.currentTerm).toBe(1);
    expect(a.votedFor).toBe('b');
    expect(a.state).toBe('follower');
  });

  it('a request with a stale term is rejected with the current term, and the vote is kept', () => {
    const a = new ConsensusProtocol('a', ['a', 'b', 'c']);
    a.requestVote(3, 'b', 0, 0);
    expect(a.requestVote(2, 'c', 0, 0)).toMatchObject({ from: 'a', term: 3, voteGranted: false });
    expect(a.currentTerm).toBe(3);
    expect(a.votedFor).toBe('b');
  });

  it('one vote per term: a second candidate in the same term is refused', () => {
    const a = new ConsensusProtocol('a', ['a', 'b', 'c']);
    expect(a.requestVote(1, 'b', 0, 0).voteGranted).toBe(true);
    expect(a.requestVote(1, 'c', 5, 1)).toMatchObject({ from: 'a', term: 1, voteGranted: false });
    expect(a.votedFor).toBe('b');
  });

  it('a retried request from the candidate already voted for is granted again', () => {
    const a = new ConsensusProtocol('a', ['a', 'b', 'c']);
    a.requestVote(1, 'b', 0, 0);
    expect(a.requestVote(1, 'b', 0, 0)).toMatchObject({ from: 'a', term: 1, voteGranted: true });
  });

  it('a higher term is adopted and the old vote forgotten before deciding', () => {
    const a = new ConsensusProtocol('a', ['a', 'b', 'c']);
    a.requestVote(1, 'b', 0, 0);
    expect(a.requestVote(2, 'c', 0, 0)).toMatchObject({ from: 'a', term: 2, voteGranted: true });
    expect(a.votedFor).toBe('c');
  });

  it('up-to-date check: a candidate whose last log term is lower is refused, however long its log', () => {
    const a = seasonedFollower(); // last entry: index 2, term 2
    expect(a.requestVote(3, 'b', 10, 1)).toMatchObject({ from: 'a', term: 3, voteGranted: false });
    expect(a.votedFor).toBeNull(); // a refused vote is not a vote
    expect(a.requestVote(3, 'c', 1, 3)).toMatchObject({ from: 'a', term: 3, voteGranted: true }); // higher last term wins, even if shorter
  });

  it('up-to-date check: with equal last terms, a shorter log is refused and an equal or longer one granted', () => {
    const a = seasonedFollower();
    expect(a.requestVote(3, 'b', 1, 2).voteGranted).toBe(false);
    expect(a.requestVote(3, 'b', 2, 2).voteGranted).toBe(true);
    const a2 = seasonedFollower();
    expect(a2.requestVote(3, 'b', 3, 2).voteGranted).toBe(true);
  });

  it('a leader that sees a higher-term RequestVote steps down to follower in that term', () => {
    const nodes = manual(['a', 'b', 'c']);
    const a = get(nodes, 'a');
    deliverAll(nodes, a.startElection());
    expect(a.state).toBe('leader');
    // b's log [noop@1 t1] is as up to date as a's: the vote is granted and a leader no more.
    expect(a.requestVote(2, 'b', 1, 1)).toMatchObject({ from: 'a', term: 2, voteGranted: true });
    expect(a.state).toBe('follower');
    expect(a.nextIndex).toEqual({});
  });
});

// ---------------------------------------------------------------- AppendEntries

describe('AppendEntries receiver', () => {
  it('appends entries from the leader and recognises it as leader', () => {
    const a = new ConsensusProtocol('a', ['a', 'b', 'c']);
    expect(a.appendEntries(1, 'b', 0, 0, [entry(1, 1), entry(1, 2)], 0)).toEqual({ term: 1, success: true });
    expect(a.log).toEqual([entry(1, 1), entry(1, 2)]);
    expect(a.leaderId).toBe('b');
    expect(a.currentTerm).toBe(1);
  });

  it('a request with a stale term is rejected with the current term, and the log is unchanged', () => {
    const a = seasonedFollower();
    expect(a.appendEntries(1, 'b', 1, 1, [entry(1, 2, 'stale')], 3)).toEqual({ term: 2, success: false });
    expect(a.log).toEqual([entry(1, 1), entry(2, 2)]);
    expect(a.commitIndex).toBe(1);
    expect(a.leaderId).toBe('c');
  });

  it('rejects when the log has no entry at prevLogIndex', () => {
    const a = seasonedFollower();
    expect(a.appendEntries(2, 'c', 3, 2, [entry(2, 4)], 0)).toEqual({ term: 2, success: false });
    expect(a.log).toEqual([entry(1, 1), entry(2, 2)]);
  });

  it('rejects when the entry at prevLogIndex has another term', () => {
    const a = seasonedFollower();
    expect(a.appendEntries(3, 'b', 2, 3, [entry(3, 3)], 0)).toEqual({ term: 3, success: false });
    expect(a.log).toEqual([entry(1, 1), entry(2, 2)]);
  });

  it('a conflicting entry and every entry after it are deleted, then the new entries appended', () => {
    const a = new ConsensusProtocol('a', ['a', 'b', 'c']);
    a.appendEntries(1, 'b', 0, 0, [entry(1, 1), entry(1, 2), entry(1, 3)], 0);
    expect(a.appendEntries(2, 'c', 1, 1, [entry(2, 2, 'new')], 0)).toEqual({ term: 2, success: true });
    expect(a.log).toEqual([entry(1, 1), entry(2, 2, 'new')]);
  });

  it('entries that already match are kept: no truncation without a real conflict', () => {
    const a = new ConsensusProtocol('a', ['a', 'b', 'c']);
    a.appendEntries(1, 'b', 0, 0, [entry(1, 1), entry(1, 2), entry(1, 3)], 0);
    expect(a.appendEntries(1, 'b', 1, 1, [entry(1, 2)], 0).success).toBe(true);
    expect(a.log).toEqual([entry(1, 1), entry(1, 2), entry(1, 3)]);
  });

  it('a duplicate or delayed request never shortens the log', () => {
    const a = new ConsensusProtocol('a', ['a', 'b', 'c']);
    a.appendEntries(1, 'b', 0, 0, [entry(1, 1)], 0);
    a.appendEntries(1, 'b', 1, 1, [entry(1, 2), entry(1, 3)], 0);
    // The first request again (a duplicate arriving late) and an empty heartbeat for an old point.
    expect(a.appendEntries(1, 'b', 0, 0, [entry(1, 1)], 0).success).toBe(true);
    expect(a.appendEntries(1, 'b', 1, 1, [], 0).success).toBe(true);
    expect(a.log).toEqual([entry(1, 1), entry(1, 2), entry(1, 3)]);
  });

  it('commitIndex = min(leaderCommit, index of the last new entry), and never goes down', () => {
    const a = new ConsensusProtocol('a', ['a', 'b', 'c']);
    a.appendEntries(1, 'b', 0, 0, [entry(1, 1), entry(1, 2), entry(1, 3)], 0);
    expect(a.commitIndex).toBe(0);
    // The leader has committed 3, but this heartbeat proves only that index 1 matches.
    a.appendEntries(1, 'b', 1, 1, [], 3);
    expect(a.commitIndex).toBe(1);
    a.appendEntries(1, 'b', 0, 0, [entry(1, 1), entry(1, 2)], 10);
    expect(a.commitIndex).toBe(2);
    a.appendEntries(1, 'b', 2, 1, [entry(1, 3)], 2);
    expect(a.commitIndex).toBe(2); // min(2, 3)
    a.appendEntries(1, 'b', 0, 0, [], 3);
    expect(a.commitIndex).toBe(2); // min(3, 0) would be 0: commitIndex never decreases
    a.appendEntries(1, 'b', 3, 1, [], 3);
    expect(a.commitIndex).toBe(3);
    expect(a.lastApplied).toBe(3);
  });

  it('a candidate that hears from a leader of its own term becomes that leader’s follower', () => {
    const a = new ConsensusProtocol('a', ['a', 'b', 'c']);
    a.startElection();
    expect(a.state).toBe('candidate');
    expect(a.appendEntries(1, 'b', 0, 0, [entry(1, 1)], 0)).toEqual({ term: 1, success: true });
    expect(a.state).toBe('follower');
    expect(a.leaderId).toBe('b');
    expect(a.votedFor).toBe('a'); // the vote of term 1 stays cast
  });

  it('a leader that hears from a leader of a higher term steps down and follows it', () => {
    const nodes = manual(['a', 'b', 'c']);
    const a = get(nodes, 'a');
    deliverAll(nodes, a.startElection());
    expect(a.state).toBe('leader');
    expect(a.appendEntries(2, 'b', 1, 1, [entry(2, 2)], 0)).toEqual({ term: 2, success: true });
    expect(a.state).toBe('follower');
    expect(a.leaderId).toBe('b');
    expect(a.currentTerm).toBe(2);
  });
});

// ---------------------------------------------------------------- elections

describe('elections', () => {
  it('startElection: candidate, term + 1, a vote for itself, and RequestVote to every other node', () => {
    const a = seasonedFollower(); // term 2, log ends at index 2 term 2
    const requests = a.startElection();
    expect(a.state).toBe('candidate');
    expect(a.currentTerm).toBe(3);
    expect(a.votedFor).toBe('a');
    expect(a.votes).toEqual(['a']);
    expect(a.leaderId).toBeNull();
    expect(requests).toEqual([
      { to: 'b', message: { type: 'rpc.requestVote', from: 'a', term: 3, candidateId: 'a', lastLogIndex: 2, lastLogTerm: 2 } },
      { to: 'c', message: { type: 'rpc.requestVote', from: 'a', term: 3, candidateId: 'a', lastLogIndex: 2, lastLogTerm: 2 } },
    ]);
  });

  it('a candidate that calls startElection again starts a new term', () => {
    const a = new ConsensusProtocol('a', ['a', 'b', 'c']);
    a.startElection();
    const again = a.startElection();
    expect(a.currentTerm).toBe(2);
    expect(a.state).toBe('candidate');
    expect(again.every((r) => r.message.term === 2)).toBe(true);
  });

  it('a candidate becomes leader only when the votes it holds are a majority (5 nodes: 3 votes)', () => {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const a = new ConsensusProtocol('a', ids);
    a.startElection();
    a.receive({ type: 'rpc.requestVoteResult', from: 'b', term: 1, voteGranted: true });
    expect(a.state).toBe('candidate');
    expect(() => a.becomeLeader()).toThrow(/candidate in term 1 holding 2 of 5 votes .*majority, 3/);
    expect(a.state).toBe('candidate');
    a.receive({ type: 'rpc.requestVoteResult', from: 'b', term: 1, voteGranted: true }); // the same voter again
    expect(a.state).toBe('candidate');
    const sent = a.receive({ type: 'rpc.requestVoteResult', from: 'c', term: 1, voteGranted: true });
    expect(a.state).toBe('leader');
    expect(() => a.becomeLeader()).not.toThrow();
    expect(sent.map((s) => s.to)).toEqual(['b', 'c', 'd', 'e']); // the new leader's first AppendEntries
  });

  it('denied votes and votes of another term do not count', () => {
    const a = new ConsensusProtocol('a', ['a', 'b', 'c']);
    a.startElection();
    a.startElection(); // term 2
    a.receive({ type: 'rpc.requestVoteResult', from: 'b', term: 2, voteGranted: false });
    a.receive({ type: 'rpc.requestVoteResult', from: 'c', term: 1, voteGranted: true }); // stale
    expect(a.state).toBe('candidate');
    expect(a.votes).toEqual(['a']);
    expect(() => a.becomeLeader()).toThrow(NotElectedError);
  });

  it('becomeLeader never fakes an election: a follower throws NotElectedError and changes nothing', () => {
    const a = seasonedFollower();
    expectRefused(a, () => a.becomeLeader(), NotElectedError, /a is a follower in term 2 .*startElection\(\)/);
  });

  it('on taking office the leader sets nextIndex = its last index + 1 and matchIndex = 0 for every follower', () => {
    const nodes = manual(['a', 'b', 'c']);
    const a = get(nodes, 'a');
    a.appendEntries(1, 'b', 0, 0, [entry(1, 1), entry(1, 2)], 0);
    a.startElection();
    const sent = a.receive({ type: 'rpc.requestVoteResult', from: 'c', term: 2, voteGranted: true });
    a.becomeLeader();
    expect(a.state).toBe('leader');
    expect(a.leaderId).toBe('a');
    expect(a.nextIndex).toEqual({ b: 3, c: 3 });
    expect(a.matchIndex).toEqual({ b: 0, c: 0 });
    // Its first entry of the term (the first leader's: the configuration written down), sent from nextIndex: prevLogIndex 2.
    expect(a.log).toEqual([entry(1, 1), entry(1, 2), { term: 2, index: 3, command: bootstrapConfig(['a', 'b', 'c']) }]);
    expect(sent.map((s) => [s.to, s.message.type, 'prevLogIndex' in s.message ? s.message.prevLogIndex : -1])).toEqual([
      ['b', 'rpc.appendEntries', 2],
      ['c', 'rpc.appendEntries', 2],
    ]);
  });

  it('startElection on a leader changes nothing (a leader does not time out)', () => {
    const nodes = manual(['a', 'b', 'c']);
    const a = get(nodes, 'a');
    deliverAll(nodes, a.startElection());
    const before = fingerprint(a);
    expect(a.startElection()).toEqual([]);
    expect(fingerprint(a)).toEqual(before);
  });

  it('a lone node elects itself at once (1 of 1 is a majority)', () => {
    const solo = new ConsensusProtocol('solo', []);
    expect(solo.startElection()).toEqual([]);
    expect(solo.state).toBe('leader');
    expect(solo.replicateLog('x').committed).toBe(true);
  });

  it('split vote by hand: two candidates of one term, one vote each to give, at most one leader', () => {
    const nodes = manual(['a', 'b', 'c']);
    const [a, b, c] = [get(nodes, 'a'), get(nodes, 'b'), get(nodes, 'c')];
    const fromA = a.startElection();
    const fromB = b.startElection();
    const to = (reqs: Envelope[], id: NodeId) => reqs.find((r) => r.to === id) as Envelope;
    const cToA = c.receive(to(fromA, 'c')); // c votes for a first ...
    const cToB = c.receive(to(fromB, 'c')); // ... so b is refused in the same term
    const bToA = b.receive(to(fromA, 'b')); // each candidate voted for itself
    const aToB = a.receive(to(fromB, 'a'));
    expect([cToA, cToB, bToA, aToB].map((r) => (r[0]?.message as { voteGranted: boolean }).voteGranted)).toEqual([true, false, false, false]);
    deliverAll(nodes, [...cToA, ...bToA]);
    deliverAll(nodes, [...cToB, ...aToB]);
    expect(a.state).toBe('leader');
    expect(b.state).not.toBe('leader');
    expect(() => b.becomeLeader()).toThrow(NotElectedError);
  });

  it.each([3, 5])('LocalNetwork of %i: startElection collects the votes and the candidate leads; everyone follows it', (size) => {
    const ids = ['a', 'b', 'c', 'd', 'e'].slice(0, size);
    const { node, nodes, leadersElected, network } = cluster(ids);
    const requests = node('a').startElection();
    expect(requests).toHaveLength(size - 1);
    expect(node('a').state).toBe('leader');
    expect(node('a').currentTerm).toBe(1);
    for (const n of nodes.slice(1)) {
      expect(n.state).toBe('follower');
      expect(n.currentTerm).toBe(1);
      expect(n.votedFor).toBe('a');
      expect(n.leaderId).toBe('a');
      expect(n.log).toEqual([{ term: 1, index: 1, command: bootstrapConfig(ids) }]);
    }
    expect(node('a').commitIndex).toBe(1); // the no-op is on a majority
    expect(leadersElected).toEqual([{ id: 'a', term: 1 }]);
    expect(network.refused).toEqual([]);
  });

  it('LocalNetwork of 5: successive elections under partitions have one leader per term', () => {
    const { node, nodes, network, leadersElected } = cluster(['a', 'b', 'c', 'd', 'e']);
    node('a').startElection();
    network.disconnect('a');
    node('b').startElection();
    network.connect('a');
    node('b').heartbeat();
    network.disconnect('b');
    network.disconnect('c');
    node('d').startElection(); // d, a, e: 3 of 5
    network.connect('b');
    network.connect('c');
    node('d').heartbeat();
    node('e').startElection();
    expect(leadersElected.map((l) => `${l.id}@${l.term}`)).toEqual(['a@1', 'b@2', 'd@3', 'e@4']);
    expectOneLeaderPerTerm(leadersElected);
    expect(nodes.filter((n) => n.state === 'leader').map((n) => n.nodeId)).toEqual(['e']);
    expect(nodes.every((n) => n.currentTerm === 4 && n.leaderId === 'e')).toBe(true);
    expect(network.refused).toEqual([]);
  });

  it('LocalNetwork: a candidate cut off from the majority stays candidate and becomeLeader throws', () => {
    const { node, network } = cluster(['a', 'b', 'c']);
    network.disconnect('b');
    network.disconnect('c');
    node('a').startElection();
    expect(node('a').state).toBe('candidate');
    expect(() => node('a').becomeLeader()).toThrow(NotElectedError);
    expect(node('b').currentTerm).toBe(0);
  });

  it('LocalNetwork: a candidate whose log lacks committed entries cannot win (leader completeness)', () => {
    const { node, network, leadersElected } = cluster(['a', 'b', 'c']);
    network.disconnect('c');
    node('a').startElection();
    expect(node('a').replicateLog('x').committed).toBe(true); // on a and b
    network.connect('c');
    node('c').startElection(); // term 1: a and b already voted in term 1
    node('c').startElection(); // term 2: a and b adopt the term but refuse: c's log is behind
    expect(node('c').state).toBe('candidate');
    expect(node('a').state).toBe('follower');
    expect(node('a').votedFor).toBeNull();
    expect(node('b').votedFor).toBeNull();
    node('b').startElection(); // term 3
    expect(node('b').state).toBe('leader');
    node('b').heartbeat();
    expect(node('c').log.map((e) => e.command)).toContain('x');
    expectOneLeaderPerTerm(leadersElected);
    expect(leadersElected.map((l) => `${l.id}@${l.term}`)).toEqual(['a@1', 'b@3']);
  });
});

// ---------------------------------------------------------------- replication

describe('log replication', () => {
  it('replicateLog on the leader appends { term, index, command } and sends it to each follower that answered', () => {
    const nodes = manual(['a', 'b', 'c']);
    const a = get(nodes, 'a');
    deliverAll(nodes, a.startElection()); // also delivers the no-op and the acknowledgements
    const result = a.replicateLog({ op: 'set', key: 'x', value: 1 });
    expect(result.entry).toEqual({ term: 1, index: 2, command: { op: 'set', key: 'x', value: 1 } });
    expect(a.log.at(-1)).toEqual(result.entry);
    expect(result.requests.map((r) => r.to)).toEqual(['b', 'c']);
    for (const r of result.requests) {
      expect(r.message).toMatchObject({ type: 'rpc.appendEntries', term: 1, leaderId: 'a', prevLogIndex: 1, prevLogTerm: 1, entries: [result.entry] });
    }
    expect(result.committed).toBe(false); // nobody has answered yet
    deliverAll(nodes, result.requests);
    expect(a.commitIndex).toBe(2);
    expect(get(nodes, 'b').log).toEqual(a.log);
  });

  it('a passed entry must carry the next index and the current term', () => {
    const nodes = manual(['a', 'b', 'c']);
    const a = get(nodes, 'a');
    deliverAll(nodes, a.startElection());
    expectRefused(a, () => a.replicateLog(entry(1, 5, 'x')), InvalidRequestError, /index 5.*next entry is term 1, index 2/);
    expectRefused(a, () => a.replicateLog(entry(7, 2, 'x')), InvalidRequestError, /term 7.*next entry is term 1, index 2/);
    expectRefused(a, () => a.replicateLog({ term: -1, index: 2, command: 'x' }), InvalidRequestError, /term = -1/);
    expectRefused(a, () => a.replicateLog(undefined), InvalidRequestError, /command is undefined/);
    expect(a.replicateLog(entry(1, 2, 'x')).entry).toEqual(entry(1, 2, 'x'));
  });

  it('replicateLog on a follower throws NotLeaderError naming the leader; with no leader known, none', () => {
    const { node } = cluster(['a', 'b', 'c']);
    const lonely = new ConsensusProtocol('a', ['a', 'b']);
    expectRefused(lonely, () => lonely.replicateLog('x'), NotLeaderError, /no leader is known/);
    expect(() => lonely.replicateLog('x')).toThrow(expect.objectContaining({ leaderId: undefined }));
    node('a').startElection();
    const b = node('b');
    expectRefused(b, () => b.replicateLog('x'), NotLeaderError, /send the request to a/);
    expectRefused(b, () => b.replicateLog(entry(1, 2)), NotLeaderError, /send the request to a/);
    expect(() => b.replicateLog('x')).toThrow(expect.objectContaining({ leaderId: 'a' }));
    expect(() => b.heartbeat()).toThrow(NotLeaderError);
  });

  it('LocalNetwork: an entry is committed once a majority holds it; followers learn it with the next AppendEntries', () => {
    const { node, network } = cluster(['a', 'b', 'c']);
    const [a, b, c] = [node('a'), node('b'), node('c')];
    a.startElection();
    network.disconnect('c');
    const result = a.replicateLog('x');
    expect(result.committed).toBe(true);
    expect(a.commitIndex).toBe(2);
    expect(a.lastApplied).toBe(2);
    expect(b.log).toEqual(a.log);
    expect(c.log.map((e) => e.command)).not.toContain('x');
    expect(b.commitIndex).toBe(1); // not told yet
    a.heartbeat();
    expect(b.commitIndex).toBe(2);
    expect(b.lastApplied).toBe(2);
    expect(a.matchIndex.b).toBe(2);
    expect(a.nextIndex.b).toBe(3);
  });

  it('LocalNetwork: nothing is committed while a majority is disconnected (3 nodes and 5 nodes)', () => {
    const three = cluster(['a', 'b', 'c']);
    three.node('a').startElection();
    three.network.disconnect('b');
    three.network.disconnect('c');
    expect(three.node('a').replicateLog('x').committed).toBe(false);
    expect(three.node('a').commitIndex).toBe(1);
    expect(three.node('a').log.at(-1)?.command).toBe('x'); // appended, not committed

    const five = cluster(['a', 'b', 'c', 'd', 'e']);
    five.node('a').startElection();
    for (const id of ['c', 'd', 'e']) five.network.disconnect(id);
    expect(five.node('a').replicateLog('x').committed).toBe(false);
    expect(five.node('b').log.at(-1)?.command).toBe('x'); // 2 of 5 hold it
    expect(five.node('a').commitIndex).toBe(1);
    five.network.connect('c');
    five.node('a').heartbeat(); // c catches up: 3 of 5
    expect(five.node('a').commitIndex).toBe(2);
  });

  it('LocalNetwork: a disconnected old leader rejoins, steps down, and its uncommitted entry is overwritten', () => {
    const { node, network, leadersElected } = cluster(['a', 'b', 'c']);
    const [a, b, c] = [node('a'), node('b'), node('c')];
    a.startElection();
    a.replicateLog('x');
    network.disconnect('a');
    expect(a.replicateLog('lost').committed).toBe(false);
    expect(a.log.at(-1)).toEqual({ term: 1, index: 3, command: 'lost' });

    b.startElection();
    expect(b.state).toBe('leader');
    expect(b.replicateLog('y').committed).toBe(true);
    expect(a.state).toBe('leader'); // still thinks so: it heard nothing
    expect(a.currentTerm).toBe(1);

    network.connect('a');
    b.heartbeat();
    expect(a.state).toBe('follower');
    expect(a.currentTerm).toBe(2);
    expect(a.leaderId).toBe('b');
    expect(a.log).toEqual(b.log);
    expect(a.log.map((e) => e.command)).toEqual([bootstrapConfig(['a', 'b', 'c']), 'x', NOOP, 'y']);
    expect(a.commitIndex).toBe(4);
    expect(c.log).toEqual(b.log);
    expectOneLeaderPerTerm(leadersElected);
  });

  it('a lagging follower is caught up from where its log meets the leader’s', () => {
    const { node, network } = cluster(['a', 'b', 'c']);
    node('a').startElection();
    network.disconnect('c');
    for (const command of ['x', 'y', 'z']) node('a').replicateLog(command);
    network.connect('c');
    node('a').heartbeat();
    expect(node('c').log).toEqual(node('a').log);
    expect(node('a').matchIndex.c).toBe(4);
  });

  it('without a network, requests are returned with their recipient and carried by hand', () => {
    const nodes = manual(['a', 'b', 'c']);
    const a = get(nodes, 'a');
    const requests = a.startElection();
    expect(requests.map((r) => r.to)).toEqual(['b', 'c']);
    expect(get(nodes, 'b').currentTerm).toBe(0); // nothing delivered by itself
    const replies = get(nodes, 'b').receive(requests[0] as Envelope);
    expect(replies).toEqual([{ to: 'a', message: { type: 'rpc.requestVoteResult', from: 'b', term: 1, voteGranted: true } }]);
    a.receive(replies[0] as Envelope);
    expect(a.state).toBe('leader');
  });
});

// ---------------------------------------------------------------- bad input

describe('bad input is refused with InvalidRequestError and changes nothing', () => {
  const requestVoteCases: [string, () => [number, string, number, number], RegExp][] = [
    ['a negative term', () => [-1, 'b', 2, 2], /term = -1/],
    ['a non-integer term', () => [2.5, 'b', 2, 2], /term = 2.5.*expected int/],
    ['a term that is not a number', () => [bad('3'), 'b', 2, 2], /term = "3"/],
    ['NaN as term', () => [NaN, 'b', 2, 2], /term = NaN/],
    ['term 0 (no candidate has term 0)', () => [0, 'b', 2, 2], /term = 0/],
    ['a negative lastLogIndex', () => [3, 'b', -1, 2], /lastLogIndex = -1/],
    ['a non-integer lastLogTerm', () => [3, 'b', 2, 1.5], /lastLogTerm = 1.5/],
    ['an unknown candidate id', () => [3, 'z', 2, 2], /candidateId = "z" is not a node of this cluster/],
    ['a candidate id that is not a string', () => [3, bad(7), 2, 2], /candidateId = 7 is not a node/],
    ['this node as candidate', () => [3, 'a', 2, 2], /candidateId is this node itself/],
  ];
  it.each(requestVoteCases)('requestVote with %s', (_name, args, pattern) => {
    const a = seasonedFollower();
    expectRefused(a, () => a.requestVote(...args()), InvalidRequestError, pattern);
  });

  const appendCases: [string, () => Parameters<ConsensusProtocol['appendEntries']>, RegExp][] = [
    ['a negative term', () => [-1, 'c', 2, 2, [], 2], /term = -1/],
    ['a non-integer term', () => [2.5, 'c', 2, 2, [], 2], /term = 2.5/],
    ['entries that is not an array (a string)', () => [2, 'c', 2, 2, bad('x'), 2], /entries = "x".*expected array/],
    ['entries that is not an array (null)', () => [2, 'c', 2, 2, bad(null), 2], /entries = null/],
    ['entries that is not an array (one entry)', () => [2, 'c', 2, 2, bad(entry(2, 3)), 2], /entries: .*expected array, received object/],
    ['an entry with the wrong index', () => [2, 'c', 2, 2, [entry(2, 4)], 2], /entries\.0\.index = 4: expected index 3, got 4/],
    ['entries with a gap', () => [2, 'c', 2, 2, [entry(2, 3), entry(2, 5)], 2], /entries\.1\.index = 5/],
    ['an entry of a later term than the message', () => [2, 'c', 2, 2, [entry(3, 3)], 2], /entries\.0\.term = 3/],
    ['entries whose terms go down', () => [3, 'c', 2, 2, [entry(3, 3), entry(2, 4)], 2], /entries\.1\.term = 2/],
    ['an entry with a negative term', () => [2, 'c', 2, 2, [entry(-1, 3)], 2], /entries\.0\.term = -1/],
    ['prevLogTerm 0 with prevLogIndex > 0', () => [2, 'c', 2, 0, [], 2], /prevLogTerm must be 0 exactly when prevLogIndex is 0/],
    ['a negative prevLogIndex', () => [2, 'c', -1, 0, [], 2], /prevLogIndex = -1/],
    ['a negative leaderCommit', () => [2, 'c', 2, 2, [], -3], /leaderCommit = -3/],
    ['an unknown leader id', () => [2, 'z', 2, 2, [], 2], /leaderId = "z" is not a node of this cluster/],
    ['this node as leader', () => [2, 'a', 2, 2, [], 2], /leaderId is this node itself/],
  ];
  it.each(appendCases)('appendEntries with %s', (_name, args, pattern) => {
    const a = seasonedFollower();
    expectRefused(a, () => a.appendEntries(...args()), InvalidRequestError, pattern);
  });

  it('appendEntries from a second leader of the term this node leads is refused (Election Safety)', () => {
    const nodes = manual(['a', 'b', 'c']);
    const a = get(nodes, 'a');
    deliverAll(nodes, a.startElection());
    expectRefused(a, () => a.appendEntries(1, 'b', 1, 1, [entry(1, 2)], 0), InvalidRequestError, /at most one leader per term/);
  });

  it('receive refuses malformed messages, unknown or self senders, and envelopes for another node', () => {
    const a = seasonedFollower();
    const vote = { type: 'rpc.requestVoteResult', from: 'b', term: 2, voteGranted: true } as const;
    expectRefused(a, () => a.receive(bad({ type: 'rpc.gossip', from: 'b' })), InvalidRequestError, /unknown message type/);
    expectRefused(a, () => a.receive(bad({ ...vote, term: -2 })), InvalidRequestError, /term/);
    expectRefused(a, () => a.receive(bad({ ...vote, voteGranted: 'yes' })), InvalidRequestError, /voteGranted/);
    expectRefused(a, () => a.receive({ ...vote, from: 'z' }), InvalidRequestError, /from = "z" is not a node/);
    expectRefused(a, () => a.receive({ ...vote, from: 'a' }), InvalidRequestError, /this node itself/);
    expectRefused(a, () => a.receive({ to: 'b', message: vote }), InvalidRequestError, /addressed to "b", not to a/);
    expectRefused(
      a,
      () => a.receive({ type: 'rpc.requestVote', from: 'b', term: 3, candidateId: 'c', lastLogIndex: 2, lastLogTerm: 2 }),
      InvalidRequestError,
      /candidateId must be the sender/,
    );
  });

  it('a leader refuses a reply that speaks of indexes past its own log (it would count a replica that does not exist)', () => {
    const nodes = manual(['a', 'b', 'c']);
    const a = get(nodes, 'a');
    a.startElection();
    a.receive({ type: 'rpc.requestVoteResult', from: 'b', term: 1, voteGranted: true }); // leader, log [noop@1], nothing acknowledged
    const reply = {
      type: 'rpc.appendEntriesResult',
      from: 'c',
      term: 1,
      requestTerm: 1,
      success: true,
      matchIndex: 1,
      rejectedIndex: 0,
      conflictTerm: 0,
      conflictIndex: 0,
      seq: 0,
    } as const;
    expectRefused(a, () => a.receive({ ...reply, matchIndex: 100 }), InvalidRequestError, /index 100, but this leader's log ends at 1/);
    expectRefused(a, () => a.receive({ ...reply, success: false, matchIndex: 0, rejectedIndex: 7 }), InvalidRequestError, /index 7/);
    a.receive(reply); // the honest reply commits the no-op
    expect(a.commitIndex).toBe(1);
  });

  it('the constructor refuses a bad id, non-array peers and bad options', () => {
    expect(() => new ConsensusProtocol('', ['a'])).toThrow(/nodeId = "": Too small/);
    expect(() => new ConsensusProtocol(bad(1), ['a'])).toThrow(InvalidRequestError);
    expect(() => new ConsensusProtocol('a', bad('b,c'))).toThrow(/peers = "b,c".*expected array/);
    expect(() => new ConsensusProtocol('a', ['b', bad(2)])).toThrow(/peers\.1 = 2/);
    expect(() => new ConsensusProtocol('a', ['b'], { electionTimeout: [300, 150] })).toThrow(/min ≤ max/);
    expect(() => new ConsensusProtocol('a', ['b'], { heartbeatInterval: 0 })).toThrow(/heartbeatInterval = 0/);
    expect(() => new ConsensusProtocol('a', ['b'], { heartbeatInterval: 200 })).toThrow(/below the minimum election timeout/);
    expect(() => new ConsensusProtocol('a', ['b'], bad({ netwrok: new LocalNetwork() }))).toThrow(/Unrecognized key.*netwrok/);
    expect(() => new ConsensusProtocol('a', ['b'], bad({ clock: {} }))).toThrow(/clock needs setTimeout/);
  });

  it('two nodes with one id cannot join the same network', () => {
    const network = new LocalNetwork();
    new ConsensusProtocol('a', ['a', 'b'], { network });
    expect(() => new ConsensusProtocol('a', ['a', 'b'], { network })).toThrow(/already attached/);
    expect(() => network.disconnect('zz')).toThrow(/no node "zz" is attached/);
  });
});

// ---------------------------------------------------------------- fields, timers, network, lifecycle

describe('fields, timers and lifecycle', () => {
  it('log is a copy: changing it does not change the node', () => {
    const a = seasonedFollower();
    const log = a.log;
    log.pop();
    (log[0] as { term: number }).term = 99;
    expect(a.log).toEqual([entry(1, 1), entry(2, 2)]);
  });

  it('appendEntries keeps its own copy of the entries it was given', () => {
    const a = new ConsensusProtocol('a', ['a', 'b', 'c']);
    const entries = [entry(1, 1, 'x')];
    a.appendEntries(1, 'b', 0, 0, entries, 0);
    (entries[0] as { term: number }).term = 5;
    expect(a.log).toEqual([entry(1, 1, 'x')]);
  });

  it('fields are read from the actor snapshot (the machine is the truth)', () => {
    const { node } = cluster(['a', 'b', 'c']);
    node('a').startElection();
    const { context, value } = node('a').actor.getSnapshot();
    expect(node('a').state).toBe(value as Role);
    expect(node('a').currentTerm).toBe(context.currentTerm);
    expect(node('a').log).toEqual(context.log.toArray());
    expect(node('a').nextIndex).toEqual(context.nextIndex);
  });

  it('the default clock is virtual: no timer fires by itself, however long we wait', async () => {
    const a = new ConsensusProtocol('a', ['a', 'b', 'c'], { electionTimeout: [2, 4], heartbeatInterval: 1 });
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(a.state).toBe('follower');
    expect(a.currentTerm).toBe(0);
    expect(a.clock).toBeInstanceOf(VirtualClock);
  });

  it('advancing the clock fires the election timeout; without a network its requests wait in the outbox', () => {
    const clock = new VirtualClock();
    const a = new ConsensusProtocol('a', ['a', 'b', 'c'], { clock });
    expect(a.clock).toBe(clock);
    clock.advance(300); // the election timeout is drawn from [150, 300]
    expect(a.state).toBe('candidate');
    const outbox = a.drainOutbox();
    expect(outbox.map((e) => [e.to, e.message.type])).toEqual([
      ['b', 'rpc.requestVote'],
      ['c', 'rpc.requestVote'],
    ]);
    expect(a.drainOutbox()).toEqual([]);
  });

  it('with a network, timer-driven messages are queued until network.flush()', () => {
    const { node, network } = cluster(['a', 'b', 'c']);
    (node('a').clock as VirtualClock).advance(300);
    expect(node('a').state).toBe('candidate');
    expect(network.pending).toBe(2);
    expect(node('b').currentTerm).toBe(0);
    expect(network.flush()).toBeGreaterThan(0);
    expect(node('a').state).toBe('leader');
    expect(node('b').leaderId).toBe('a');
  });

  it('the same calls on a LocalNetwork always give the same run (deterministic delivery)', () => {
    const run = () => {
      const { node, network, nodes } = cluster(['a', 'b', 'c', 'd', 'e']);
      node('c').startElection();
      network.disconnect('a');
      node('c').replicateLog('x');
      network.connect('a');
      node('c').replicateLog('y');
      node('c').heartbeat();
      return { logs: nodes.map((n) => n.log), commits: nodes.map((n) => n.commitIndex), stats: { ...network.stats } };
    };
    const first = run();
    expect(run()).toEqual(first);
    expect(first.commits).toEqual([3, 3, 3, 3, 3]);
  });

  it('a message from a node outside the receiver’s cluster is refused and recorded by the network', () => {
    const network = new LocalNetwork();
    const a = new ConsensusProtocol('a', ['a', 'b'], { network });
    new ConsensusProtocol('b', ['a', 'b'], { network });
    const stranger = new ConsensusProtocol('x', ['x', 'a'], { network }); // thinks a is its peer
    stranger.startElection();
    expect(a.currentTerm).toBe(0);
    expect(network.refused.map((r) => [r.from, r.to, r.error.code])).toEqual([['x', 'a', 'invalid_request']]);
  });

  it('a livelocked exchange fails loudly instead of hanging', () => {
    const network = new LocalNetwork({ maxDeliveriesPerFlush: 1 });
    const ids = ['a', 'b', 'c'];
    const [a] = ids.map((id) => new ConsensusProtocol(id, ids, { network }));
    expect(() => a?.startElection()).toThrow(RaftError);
  });

  it('stop(): methods then throw StoppedError, fields keep their last values, and the node leaves the network', () => {
    const { node, network } = cluster(['a', 'b', 'c']);
    node('a').startElection();
    const c = node('c');
    const before = fingerprint(c);
    c.stop();
    c.stop(); // idempotent
    expect(c.stopped).toBe(true);
    expect(fingerprint(c)).toEqual(before);
    expect(() => c.startElection()).toThrow(StoppedError);
    expect(() => c.requestVote(2, 'a', 1, 1)).toThrow(StoppedError);
    expect(() => c.receive({ type: 'rpc.requestVoteResult', from: 'a', term: 1, voteGranted: true })).toThrow(StoppedError);
    expect(network.nodes).toEqual(['a', 'b']);
    expect(node('a').replicateLog('x').committed).toBe(true); // a and b are still a majority
    expect(c.log).toEqual(before.log);
  });
});
