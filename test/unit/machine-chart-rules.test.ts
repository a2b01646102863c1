/**
 * The statechart's transitions, one step each: for a (state, event) row of the chart in
 * machines/raft-node.ts, put a real actor (virtual clock) in that state, send the event once, and
 * check the state it ends in and the effects it emits. Rows the model-based walk reaches but the
 * other unit tests never take: the higher-term rule for every RPC and reply, the answers of a node
 * that is not the leader, the candidates' timers, check-quorum rounds, a leader's snapshot replies.
 * Election timeouts are fixed (100 ms) unless a row needs a range, so every deadline is exact.
 */
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { raftNodeMachine, type RaftEffect, type RaftEvent, type RaftNodeInput } from '../../machines/raft-node.js';
import { configCommand, withConfigHeader, type Configuration } from '../../src/core/configuration.js';
import type { AppendEntries, AppendEntriesResult, InstallSnapshot, InstallSnapshotResult, NodeId, Role, Term } from '../../src/core/types.js';
import { VirtualClock } from '../../src/sim/clock.js';

const ABC: Configuration = { voters: ['n1', 'n2', 'n3'], learners: [] };

function node(input: Partial<RaftNodeInput> = {}) {
  const clock = new VirtualClock();
  const actor = createActor(raftNodeMachine, {
    input: { id: 'n1', peers: ['n1', 'n2', 'n3'], electionTimeout: [100, 100], heartbeatInterval: 20, preVote: false, checkQuorum: false, ...input },
    clock,
  });
  const effects: RaftEffect[] = [];
  actor.on('*', (effect) => effects.push(effect as RaftEffect));
  actor.start();
  return {
    actor,
    clock,
    effects,
    context: () => actor.getSnapshot().context,
    role: () => actor.getSnapshot().value as Role,
    send: (event: RaftEvent) => actor.send(event),
    /** Where the effects of the next steps start. */
    mark: () => effects.length,
    emitted<T extends RaftEffect['type']>(type: T, from = 0): Extract<RaftEffect, { type: T }>[] {
      return effects.slice(from).filter((e): e is Extract<RaftEffect, { type: T }> => e.type === type);
    },
    sent(type: string, from = 0) {
      return effects.slice(from).flatMap((e) => (e.type === 'send' && e.message.type === type ? [{ to: e.to, message: e.message }] : []));
    },
  };
}
type Node = ReturnType<typeof node>;

const heartbeat = (term: Term, leaderId: NodeId = 'n2', fields: Partial<AppendEntries> = {}): AppendEntries => ({
  type: 'rpc.appendEntries',
  from: leaderId,
  term,
  leaderId,
  prevLogIndex: 0,
  prevLogTerm: 0,
  entries: [],
  leaderCommit: 0,
  seq: 0,
  ...fields,
});

/** The first chunk (of two or more) of a snapshot at index 5: not yet complete, so the follower only answers where to resume. */
const chunk = (term: Term, leaderId: NodeId = 'n2', fields: Partial<InstallSnapshot> = {}): InstallSnapshot => ({
  type: 'rpc.installSnapshot',
  from: leaderId,
  term,
  leaderId,
  lastIncludedIndex: 5,
  lastIncludedTerm: 1,
  offset: 0,
  data: 'abc',
  done: false,
  seq: 0,
  ...fields,
});

const ack = (from: NodeId, term: Term, matchIndex: number, fields: Partial<AppendEntriesResult> = {}): AppendEntriesResult => ({
  type: 'rpc.appendEntriesResult',
  from,
  term,
  requestTerm: term,
  success: true,
  matchIndex,
  rejectedIndex: 0,
  conflictTerm: 0,
  conflictIndex: 0,
  seq: 0,
  ...fields,
});

const snapshotReply = (from: NodeId, term: Term, fields: Partial<InstallSnapshotResult>): InstallSnapshotResult => ({
  type: 'rpc.installSnapshotResult',
  from,
  term,
  requestTerm: term,
  lastIncludedIndex: 1,
  offset: 0,
  installed: false,
  seq: 0,
  ...fields,
});

/** A follower of `term` (1) that follows n2. */
function follower(input: Partial<RaftNodeInput> = {}, term: Term = 1): Node {
  const n = node({ persisted: { currentTerm: term, votedFor: null, log: [] }, ...input });
  n.send(heartbeat(term));
  expect(n.context().leaderId).toBe('n2');
  return n;
}

/** A pre-candidate of term 1 (it asks about term 2): its election timer fired with pre-vote on. */
function preCandidate(input: Partial<RaftNodeInput> = {}): Node {
  const n = node({ preVote: true, persisted: { currentTerm: 1, votedFor: null, log: [] }, ...input });
  n.clock.advance(100);
  expect(n.role()).toBe('preCandidate');
  return n;
}

/** A candidate of term 2 (it was a follower of term 1 that heard from no leader). */
function candidate(input: Partial<RaftNodeInput> = {}): Node {
  const n = node({ persisted: { currentTerm: 1, votedFor: null, log: [] }, ...input });
  n.clock.advance(100);
  expect(n.role()).toBe('candidate');
  expect(n.context().currentTerm).toBe(2);
  return n;
}

/** n1 elected in term 1 with n2's vote; its bootstrap configuration entry (index 1) is not yet committed. */
function leader(input: Partial<RaftNodeInput> = {}): Node {
  const n = node(input);
  n.clock.advance(input.electionTimeout?.[1] ?? 100);
  n.send({ type: 'rpc.requestVoteResult', from: 'n2', term: 1, voteGranted: true });
  expect(n.role()).toBe('leader');
  expect(n.context().log.lastIndex).toBe(1);
  return n;
}

const roles = { follower: () => follower(), preCandidate: () => preCandidate(), candidate: () => candidate() } as const;
/** The leader each role points clients at. */
const knownLeader = { follower: 'n2', preCandidate: null, candidate: null } as const;

describe('a server that is not the leader answers every client request and changes nothing', () => {
  for (const role of Object.keys(roles) as (keyof typeof roles)[]) {
    const leaderId = knownLeader[role];
    const answers: [string, RaftEvent, RaftEffect][] = [
      ['a proposal is refused', { type: 'client.propose', commands: ['x'], requestId: 'p1' }, { type: 'proposalRejected', leaderId, requestId: 'p1' }],
      ['a proposal without a requestId is refused without one', { type: 'client.propose', commands: ['x'] }, { type: 'proposalRejected', leaderId }],
      ['a read is refused', { type: 'client.read', requestIds: ['r1', 'r2'] }, { type: 'readRejected', requestIds: ['r1', 'r2'], leaderId }],
      [
        'a configuration change is refused as not_leader',
        { type: 'client.changeConfig', change: { type: 'addLearner', id: 'n4' }, requestId: 'c1' },
        { type: 'configChangeRejected', requestId: 'c1', reason: 'not_leader', detail: 'this node is not the leader', leaderId },
      ],
      [
        'a leadership transfer is refused as not_leader',
        { type: 'client.transferLeadership', to: 'n3', requestId: 't1' },
        { type: 'transferEnded', requestId: 't1', to: 'n3', outcome: 'not_leader', detail: 'this node is not the leader', leaderId },
      ],
      [
        'a leadership transfer to no one in particular is refused, naming no target',
        { type: 'client.transferLeadership' },
        { type: 'transferEnded', to: null, outcome: 'not_leader', detail: 'this node is not the leader', leaderId },
      ],
    ];
    for (const [name, event, answer] of answers) {
      it(`${role}: ${name}`, () => {
        const n = roles[role]();
        const before = n.context();
        const from = n.mark();
        n.send(event);
        expect(n.effects.slice(from)).toStrictEqual([answer]);
        expect(n.role()).toBe(role);
        expect(n.context()).toStrictEqual(before);
      });
    }
  }
});

describe('a higher term, in every role: adopt it and be a follower (Figure 2, all servers)', () => {
  /** The term was adopted and persisted with no vote, before anything else of the step. */
  function adopted(n: Node, from: number, term: Term) {
    expect(n.context().currentTerm).toBe(term);
    expect(n.context().votedFor).toBe(null);
    expect(n.effects[from]).toStrictEqual({ type: 'persist', hardState: { currentTerm: term, votedFor: null }, entries: [] });
  }

  for (const [role, make] of [
    ['follower', () => follower()],
    ['candidate', () => candidate()],
  ] as const) {
    it(`a ${role} adopts the higher term of an InstallSnapshot, then takes the chunk from its leader`, () => {
      const n = make();
      const from = n.mark();
      n.send(chunk(3, 'n3'));
      adopted(n, from, 3);
      expect(n.role()).toBe('follower');
      expect(n.context().leaderId).toBe('n3');
      expect(n.context().incomingSnapshot).toMatchObject({ leaderId: 'n3', index: 5, received: 3 });
      expect(n.sent('rpc.installSnapshotResult', from)).toStrictEqual([
        {
          to: 'n3',
          message: { type: 'rpc.installSnapshotResult', from: 'n1', term: 3, requestTerm: 3, lastIncludedIndex: 5, offset: 3, installed: false, seq: 0 },
        },
      ]);
    });
  }

  it('a follower adopts the higher term of a TimeoutNow, then campaigns at once in the term after it', () => {
    const n = follower();
    const from = n.mark();
    n.send({ type: 'rpc.timeoutNow', from: 'n3', term: 3, leaderId: 'n3' });
    expect(n.context().currentTerm).toBe(4);
    expect(n.effects[from]).toStrictEqual({ type: 'persist', hardState: { currentTerm: 3, votedFor: null }, entries: [] });
    expect(n.role()).toBe('candidate');
    expect(n.context().votedFor).toBe('n1');
    expect(n.sent('rpc.requestVote', from).map((s) => [s.to, s.message.term])).toEqual([
      ['n2', 4],
      ['n3', 4],
    ]);
  });

  it('a stale TimeoutNow is dropped: no term change, no campaign', () => {
    const n = node({ persisted: { currentTerm: 3, votedFor: null, log: [] } });
    const before = n.context();
    n.send({ type: 'rpc.timeoutNow', from: 'n2', term: 2, leaderId: 'n2' });
    expect(n.role()).toBe('follower');
    expect(n.context()).toStrictEqual(before);
  });

  for (const [name, reply] of [
    ['a RequestVote reply', { type: 'rpc.requestVoteResult', from: 'n3', term: 3, voteGranted: false }],
    ['an AppendEntries reply', ack('n3', 3, 0, { requestTerm: 1, success: false })],
    ['an InstallSnapshot reply', snapshotReply('n3', 3, { requestTerm: 1 })],
  ] as const) {
    it(`a follower adopts the higher term of ${name}`, () => {
      const n = follower();
      const from = n.mark();
      n.send(reply);
      adopted(n, from, 3);
      expect(n.role()).toBe('follower');
      expect(n.context().leaderId).toBe(null);
      expect(n.emitted('leaderChanged', from)).toStrictEqual([{ type: 'leaderChanged', leaderId: null, term: 3 }]);
    });

    it(`a candidate adopts the higher term of ${name} and becomes a follower`, () => {
      const n = candidate();
      const from = n.mark();
      n.send(reply);
      adopted(n, from, 3);
      expect(n.role()).toBe('follower');
    });

    it(`a leader adopts the higher term of ${name} and steps down`, () => {
      const n = leader();
      const from = n.mark();
      n.send(reply);
      adopted(n, from, 3);
      expect(n.role()).toBe('follower');
      expect(n.context().leaderId).toBe(null);
    });
  }

  it('a stale InstallSnapshot is refused with our term, so its sender learns it is stale; nothing else changes', () => {
    const n = follower({}, 2);
    const before = n.context();
    const from = n.mark();
    n.send(chunk(1, 'n3'));
    expect(n.effects.slice(from)).toStrictEqual([
      {
        type: 'send',
        to: 'n3',
        message: { type: 'rpc.installSnapshotResult', from: 'n1', term: 2, requestTerm: 1, lastIncludedIndex: 5, offset: 0, installed: false, seq: 0 },
      },
    ]);
    expect(n.context()).toStrictEqual(before);
  });
});

describe('a follower hears from the leader of its term through every request the leader sends', () => {
  /**
   * Timeouts 100–300 ms, seed 1: the heartbeat at 0 draws 163 ms (so the lease, 100 ms, ends
   * first) and the next message, at 60, draws 257 ms.
   */
  const requests: [string, RaftEvent][] = [
    ['an AppendEntries that matches', heartbeat(1)],
    ['an AppendEntries that does not match (refused, but it is the leader speaking)', heartbeat(1, 'n2', { prevLogIndex: 4, prevLogTerm: 1 })],
    ['an InstallSnapshot chunk', chunk(1)],
  ];
  for (const [name, request] of requests) {
    it(`${name} restarts the election timer and the leader's lease`, () => {
      const n = follower({ electionTimeout: [100, 300], seed: 1 });
      expect(n.context().electionDelay).toBe(163);
      n.clock.advance(60);
      n.send(request);
      expect(n.context().electionDelay).toBe(257);
      n.clock.advance(99);
      expect(n.context().heardFromLeader).toBe(true); // the lease runs from 60, not 0
      n.clock.advance(1);
      expect(n.context().heardFromLeader).toBe(false); // timeout.leaderContact: the lease is over
      n.clock.advance(156);
      expect(n.role()).toBe('follower'); // not at 163: the timer restarted at 60
      n.clock.advance(1);
      expect(n.role()).toBe('candidate');
    });
  }

  it('a current-term InstallSnapshot from a leader not yet known makes it the leader, and the chunk is taken', () => {
    const n = node({ persisted: { currentTerm: 1, votedFor: null, log: [] } });
    const from = n.mark();
    n.send(chunk(1));
    expect(n.emitted('leaderChanged', from)).toStrictEqual([{ type: 'leaderChanged', leaderId: 'n2', term: 1 }]);
    expect(n.context()).toMatchObject({ leaderId: 'n2', heardFromLeader: true, currentTerm: 1 });
    expect(n.context().incomingSnapshot).toMatchObject({ leaderId: 'n2', index: 5, received: 3 });
    expect(n.sent('rpc.installSnapshotResult', from).map((s) => s.message)).toMatchObject([{ term: 1, requestTerm: 1, offset: 3, installed: false }]);
  });

  it('a TimeoutNow of its term from another server than its leader is reported (one leader per term), and it still campaigns', () => {
    const n = follower();
    const from = n.mark();
    n.send({ type: 'rpc.timeoutNow', from: 'n3', term: 1, leaderId: 'n3' });
    expect(n.emitted('invariantViolation', from)).toStrictEqual([
      {
        type: 'invariantViolation',
        rule: 'at most one leader per term',
        detail: 'n1 follows n2 in term 1 and received rpc.timeoutNow from n3 for the same term',
      },
    ]);
    expect(n.role()).toBe('candidate');
  });

  it('a TimeoutNow from its own leader is no violation', () => {
    const n = follower();
    const from = n.mark();
    n.send({ type: 'rpc.timeoutNow', from: 'n2', term: 1, leaderId: 'n2' });
    expect(n.emitted('invariantViolation', from)).toEqual([]);
    expect(n.role()).toBe('candidate');
  });
});

describe('log compaction (§7), in every role', () => {
  function followerWithApplied() {
    const n = follower();
    n.send(
      heartbeat(1, 'n2', {
        entries: [
          { term: 1, index: 1, command: 'x' },
          { term: 1, index: 2, command: 'y' },
        ],
        leaderCommit: 2,
      }),
    );
    expect(n.context().lastApplied).toBe(2);
    return n;
  }

  it('a snapshot of applied entries compacts the log behind it and is persisted', () => {
    const n = followerWithApplied();
    const from = n.mark();
    n.send({ type: 'snapshot.taken', index: 1, data: 's1' });
    expect(n.effects.slice(from)).toStrictEqual([{ type: 'persist', hardState: { currentTerm: 1, votedFor: null }, snapshot: { index: 1, term: 1, data: 's1' }, entries: [] }]);
    expect(n.context().snapshot).toStrictEqual({ index: 1, term: 1, data: 's1' });
    expect(n.context().log.snapshotIndex).toBe(1);
    expect(n.context().log.lastIndex).toBe(2);
  });

  it('a snapshot beyond what is applied, or not newer than the one held, changes nothing', () => {
    const n = followerWithApplied();
    n.send({ type: 'snapshot.taken', index: 2, data: 's2' });
    const before = n.context();
    const from = n.mark();
    n.send({ type: 'snapshot.taken', index: 3, data: 's3' });
    n.send({ type: 'snapshot.taken', index: 2, data: 's2 again' });
    n.send({ type: 'snapshot.taken', index: 1, data: 's1' });
    expect(n.effects.slice(from)).toEqual([]);
    expect(n.context()).toStrictEqual(before);
  });
});

describe('pre-candidates and candidates', () => {
  it('a pre-candidate that gathers no pre-votes asks again after another election timeout, still in its term', () => {
    const n = preCandidate();
    const from = n.mark();
    n.clock.advance(99);
    expect(n.effects.slice(from)).toEqual([]);
    n.clock.advance(1);
    expect(n.role()).toBe('preCandidate');
    expect(n.emitted('roleChanged', from)).toStrictEqual([{ type: 'roleChanged', role: 'preCandidate', term: 1 }]);
    expect(n.sent('rpc.requestVote', from).map((s) => [s.to, s.message.term, s.message.type === 'rpc.requestVote' && s.message.preVote])).toEqual([
      ['n2', 2, true],
      ['n3', 2, true],
    ]);
    expect(n.context().currentTerm).toBe(1);
  });

  it('a candidate that wins no election starts another, in the next term, after an election timeout', () => {
    const n = candidate();
    const from = n.mark();
    n.clock.advance(99);
    expect(n.context().currentTerm).toBe(2);
    n.clock.advance(1);
    expect(n.role()).toBe('candidate');
    expect(n.context().currentTerm).toBe(3);
    expect(n.sent('rpc.requestVote', from).map((s) => [s.to, s.message.term])).toEqual([
      ['n2', 3],
      ['n3', 3],
    ]);
  });

  it('with pre-vote, a candidate that wins no election pre-votes again before raising its term once more', () => {
    const n = preCandidate();
    n.send({ type: 'rpc.requestVoteResult', from: 'n2', term: 2, voteGranted: true, preVote: true });
    expect(n.role()).toBe('candidate');
    expect(n.context().currentTerm).toBe(2);
    const from = n.mark();
    n.clock.advance(100);
    expect(n.role()).toBe('preCandidate');
    expect(n.context().currentTerm).toBe(2);
    expect(n.sent('rpc.requestVote', from).map((s) => [s.message.term, s.message.type === 'rpc.requestVote' && s.message.preVote])).toEqual([
      [3, true],
      [3, true],
    ]);
  });

  const fromLeader: [string, (term: Term) => RaftEvent, string, object][] = [
    ['an AppendEntries', (term) => heartbeat(term), 'rpc.appendEntriesResult', { success: true }],
    ['an InstallSnapshot', (term) => chunk(term), 'rpc.installSnapshotResult', { offset: 3, installed: false }],
  ];
  for (const [role, make, term] of [
    ['pre-candidate', () => preCandidate(), 1],
    ['candidate', () => candidate(), 2],
  ] as const) {
    for (const [name, request, answer, fields] of fromLeader) {
      it(`a ${role} that receives ${name} of its term follows its sender and answers it as a follower`, () => {
        const n = make();
        const from = n.mark();
        n.send(request(term));
        expect(n.role()).toBe('follower');
        expect(n.context()).toMatchObject({ currentTerm: term, leaderId: 'n2', heardFromLeader: true });
        expect(n.emitted('leaderChanged', from)).toStrictEqual([{ type: 'leaderChanged', leaderId: 'n2', term }]);
        expect(n.sent(answer, from)).toMatchObject([{ to: 'n2', message: { term, requestTerm: term, ...fields } }]);
      });
    }

    it(`a ${role} refuses a stale AppendEntries and goes on campaigning`, () => {
      const n = make();
      const from = n.mark();
      n.send(heartbeat(term - 1, 'n3'));
      expect(n.role()).toBe(role === 'candidate' ? 'candidate' : 'preCandidate');
      expect(n.sent('rpc.appendEntriesResult', from)).toMatchObject([{ to: 'n3', message: { term, requestTerm: term - 1, success: false } }]);
    });

    it(`a ${role} refuses a stale InstallSnapshot and goes on campaigning`, () => {
      const n = make();
      const from = n.mark();
      n.send(chunk(term - 1, 'n3'));
      expect(n.role()).toBe(role === 'candidate' ? 'candidate' : 'preCandidate');
      expect(n.context().leaderId).toBe(null);
      expect(n.effects.slice(from)).toMatchObject([{ type: 'send', to: 'n3', message: { term, requestTerm: term - 1, offset: 0, installed: false } }]);
    });
  }
});

describe('check-quorum: a leader that cannot hear from a majority within an election timeout steps down', () => {
  it('a new leader gets a full election timeout before its first check, counted from its election', () => {
    const n = node({ checkQuorum: true });
    n.clock.advance(100); // candidate; its election timer would fire at 200
    n.clock.advance(50);
    n.send({ type: 'rpc.requestVoteResult', from: 'n2', term: 1, voteGranted: true });
    expect(n.role()).toBe('leader');
    n.clock.advance(99);
    expect(n.role()).toBe('leader');
    n.clock.advance(1);
    expect(n.role()).toBe('follower');
  });

  it('each check starts a new round: a leader heard from in one round but not the next steps down at the second check', () => {
    const n = leader({ checkQuorum: true }); // at 100; checks at 200, 300, ...
    n.clock.advance(50);
    n.send(ack('n2', 1, 1));
    expect(n.context().recentlyActive).toEqual(['n2']);
    n.clock.advance(50);
    expect(n.role()).toBe('leader');
    expect(n.context().recentlyActive).toEqual([]);
    const from = n.mark();
    n.clock.advance(100);
    expect(n.role()).toBe('follower');
    expect(n.emitted('leaderChanged', from)).toStrictEqual([{ type: 'leaderChanged', leaderId: null, term: 1 }]);
    expect(n.context().leaderId).toBe(null);
    expect(n.context().currentTerm).toBe(1);
  });

  it('a leader that stepped down for lack of a quorum does not count itself as a live leader: it grants pre-votes at once', () => {
    const n = leader({ checkQuorum: true });
    n.clock.advance(100);
    expect(n.role()).toBe('follower');
    expect(n.context().heardFromLeader).toBe(false);
    const from = n.mark();
    n.send({ type: 'rpc.requestVote', from: 'n3', term: 2, candidateId: 'n3', lastLogIndex: 1, lastLogTerm: 1, preVote: true });
    expect(n.sent('rpc.requestVoteResult', from).map((s) => s.message)).toStrictEqual([{ type: 'rpc.requestVoteResult', from: 'n1', term: 2, voteGranted: true, preVote: true }]);
  });

  it('a new leader starts its first round with no answer counted', () => {
    const n = leader({ checkQuorum: true });
    expect(n.context().recentlyActive).toEqual([]);
  });
});

describe('a leader leaving office', () => {
  it('rejects the reads it could not confirm and the configuration change it held back, and forgets its followers', () => {
    const n = leader();
    n.send({ type: 'client.read', requestIds: ['r1'] }); // waits: nothing of term 1 is committed yet
    n.send({ type: 'client.read', requestIds: ['r2', 'r3'] });
    expect(n.context().reads).toStrictEqual([
      { requestIds: ['r1'], index: 0, seq: 0 },
      { requestIds: ['r2', 'r3'], index: 0, seq: 0 },
    ]);
    n.send({ type: 'client.changeConfig', change: { type: 'addLearner', id: 'n4' }, requestId: 'c1' });
    expect(n.context().heldConfigChange).toStrictEqual({ change: { type: 'addLearner', id: 'n4' }, requestId: 'c1' });
    n.send(ack('n2', 1, 0, { success: false, rejectedIndex: 1, conflictIndex: 1 })); // n2 answered: counted as active
    const from = n.mark();
    n.send(heartbeat(2, 'n3'));
    expect(n.role()).toBe('follower');
    expect(n.emitted('readRejected', from)).toStrictEqual([{ type: 'readRejected', requestIds: ['r1', 'r2', 'r3'], leaderId: null }]);
    expect(n.emitted('configChangeRejected', from)).toStrictEqual([
      { type: 'configChangeRejected', requestId: 'c1', reason: 'not_leader', detail: 'the leader lost office before it could append the change', leaderId: null },
    ]);
    expect(n.context()).toMatchObject({
      leaderId: 'n3',
      nextIndex: {},
      matchIndex: {},
      replication: {},
      recentlyActive: [],
      ackedSeq: {},
      reads: [],
      heldConfigChange: undefined,
      transfer: undefined,
    });
  });

  it('with no read waiting, it rejects none', () => {
    const n = leader();
    const from = n.mark();
    n.send(heartbeat(2, 'n3'));
    expect(n.role()).toBe('follower');
    expect(n.emitted('readRejected', from)).toEqual([]);
    expect(n.emitted('configChangeRejected', from)).toEqual([]);
  });

  it('a leader whose removal commits steps down and no longer names itself the leader', () => {
    const n = leader();
    n.send(ack('n2', 1, 1));
    n.send({ type: 'client.changeConfig', change: { type: 'removeServer', id: 'n1' }, requestId: 'c1' });
    const from = n.mark();
    n.send(ack('n2', 1, 2));
    n.send(ack('n3', 1, 2));
    expect(n.role()).toBe('follower');
    expect(n.context().leaderId).toBe(null);
    expect(n.emitted('leaderChanged', from)).toStrictEqual([{ type: 'leaderChanged', leaderId: null, term: 1 }]);
    expect(n.sent('rpc.timeoutNow', from).map((s) => s.to)).toEqual(['n2']);
  });

  it('a removed leader hands over with TimeoutNow only to a voter that holds its whole log', () => {
    const n = leader();
    n.send(ack('n2', 1, 1));
    n.send({ type: 'client.changeConfig', change: { type: 'removeServer', id: 'n1' }, requestId: 'c1' });
    n.send({ type: 'client.propose', commands: ['x'] }); // index 3, after the removal at 2
    const from = n.mark();
    n.send(ack('n2', 1, 2));
    n.send(ack('n3', 1, 2));
    expect(n.context().commitIndex).toBe(2);
    expect(n.role()).toBe('follower');
    expect(n.sent('rpc.timeoutNow', from)).toEqual([]);
  });
});

describe('a leader refuses a stale request of a former leader, and goes on leading', () => {
  for (const [request, answer] of [
    [heartbeat(0, 'n3'), { type: 'rpc.appendEntriesResult', success: false }],
    [chunk(0, 'n3'), { type: 'rpc.installSnapshotResult', offset: 0, installed: false }],
  ] as const) {
    it(`a stale ${request.type} is refused with the leader's term; no violation is reported`, () => {
      const n = leader();
      const from = n.mark();
      n.send(request);
      expect(n.effects.slice(from)).toMatchObject([{ type: 'send', to: 'n3', message: { ...answer, term: 1, requestTerm: 0 } }]);
      expect(n.role()).toBe('leader');
    });
  }
});

describe('a leader meets a second leader of its term (Election Safety broken elsewhere): it reports, and does not act', () => {
  for (const [name, request] of [
    ['an AppendEntries', heartbeat(1, 'n3')],
    ['an InstallSnapshot', chunk(1, 'n3')],
  ] as const) {
    it(`${name} of its term from another leader`, () => {
      const n = leader();
      const before = n.context();
      const from = n.mark();
      n.send(request);
      expect(n.effects.slice(from)).toStrictEqual([
        {
          type: 'invariantViolation',
          rule: 'at most one leader per term',
          detail: `n1 leads term 1 and received ${request.type} from n3 for the same term`,
        },
      ]);
      expect(n.role()).toBe('leader');
      expect(n.context()).toStrictEqual(before);
    });
  }
});

describe("a leader's answers to clients", () => {
  it('a proposal without a requestId is accepted without one', () => {
    const n = leader();
    const from = n.mark();
    n.send({ type: 'client.propose', commands: ['x'] });
    expect(n.emitted('proposalAccepted', from)).toStrictEqual([{ type: 'proposalAccepted', entries: [{ term: 1, index: 2, command: 'x' }] }]);
  });

  it("a proposal of one of Raft's own commands is refused as reserved, with or without a requestId, and nothing is appended", () => {
    const n = leader();
    const from = n.mark();
    n.send({ type: 'client.propose', commands: ['x', configCommand(ABC)], requestId: 'p1' });
    n.send({ type: 'client.propose', commands: [configCommand(ABC)] });
    expect(n.effects.slice(from)).toStrictEqual([
      { type: 'proposalRejected', leaderId: 'n1', reserved: true, requestId: 'p1' },
      { type: 'proposalRejected', leaderId: 'n1', reserved: true },
    ]);
    expect(n.context().log.lastIndex).toBe(1);
  });

  it('a read asked before the leader committed in its term waits, and is admitted and confirmed once it has', () => {
    const n = leader();
    n.send({ type: 'client.read', requestIds: ['r1'] });
    expect(n.context().reads).toStrictEqual([{ requestIds: ['r1'], index: 0, seq: 0 }]);
    n.send(ack('n2', 1, 1));
    expect(n.context().commitIndex).toBe(1);
    expect(n.context().reads).toStrictEqual([{ requestIds: ['r1'], index: 1, seq: 1 }]);
    const from = n.mark();
    n.send(ack('n2', 1, 1, { seq: 1 }));
    expect(n.emitted('readReady', from)).toStrictEqual([{ type: 'readReady', requestIds: ['r1'], index: 1 }]);
  });

  it('a read asked once the leader has committed in its term starts a confirmation round at once: a heartbeat to every follower', () => {
    const n = leader();
    n.send(ack('n2', 1, 1));
    n.send(ack('n3', 1, 1));
    const from = n.mark();
    n.send({ type: 'client.read', requestIds: ['r1'] });
    expect(n.context().reads).toStrictEqual([{ requestIds: ['r1'], index: 1, seq: 1 }]);
    expect(n.sent('rpc.appendEntries', from).map((s) => [s.to, s.message.type === 'rpc.appendEntries' && s.message.seq])).toEqual([
      ['n2', 1],
      ['n3', 1],
    ]);
  });
});

describe('leadership transfer (§3.10): the answers', () => {
  it('a transfer without a requestId starts, and is abandoned after an election timeout, without one', () => {
    const n = leader({ electionTimeout: [100, 200] });
    n.send({ type: 'client.propose', commands: ['x'] }); // n2 lacks index 2: no TimeoutNow yet
    const from = n.mark();
    n.send({ type: 'client.transferLeadership', to: 'n2' });
    expect(n.emitted('transferStarted', from)).toStrictEqual([{ type: 'transferStarted', to: 'n2' }]);
    n.send({ type: 'client.propose', commands: ['y'] });
    expect(n.emitted('proposalRejected', from)).toStrictEqual([{ type: 'proposalRejected', leaderId: 'n2' }]);
    n.clock.advance(199);
    expect(n.emitted('transferEnded', from)).toEqual([]);
    n.clock.advance(1);
    expect(n.emitted('transferEnded', from)).toStrictEqual([
      { type: 'transferEnded', to: 'n2', outcome: 'abandoned', detail: 'n2 did not take over within an election timeout', leaderId: 'n1' },
    ]);
    expect(n.role()).toBe('leader');
  });

  it('a configuration change asked during a transfer is refused, naming the target', () => {
    const n = leader();
    n.send({ type: 'client.transferLeadership', to: 'n2' });
    const from = n.mark();
    n.send({ type: 'client.changeConfig', change: { type: 'addLearner', id: 'n4' }, requestId: 'c1' });
    expect(n.effects.slice(from)).toStrictEqual([
      { type: 'configChangeRejected', requestId: 'c1', reason: 'in_progress', detail: 'leadership is being transferred to n2', leaderId: 'n1' },
    ]);
  });

  it('starting a transfer to a follower whose probe is unanswered sends it no second probe', () => {
    const n = leader();
    const from = n.mark();
    n.send({ type: 'client.transferLeadership', to: 'n3' });
    expect(n.sent('rpc.appendEntries', from)).toEqual([]);
  });

  const refusals: [string, () => Node, RaftEvent, RaftEffect][] = [
    [
      'to a server that is not another voter',
      () => leader(),
      { type: 'client.transferLeadership', to: 'n9', requestId: 't1' },
      { type: 'transferEnded', to: 'n9', outcome: 'refused', detail: 'n9 is not another voter of this cluster', leaderId: 'n1', requestId: 't1' },
    ],
    [
      'with no other voter to hand leadership to',
      () => {
        const n = node({ peers: ['n1'] });
        n.clock.advance(100);
        expect(n.role()).toBe('leader');
        return n;
      },
      { type: 'client.transferLeadership' },
      { type: 'transferEnded', to: null, outcome: 'refused', detail: 'there is no other voter to hand leadership to', leaderId: 'n1' },
    ],
    [
      'while a configuration change is in flight',
      () => {
        const n = leader();
        n.send(ack('n2', 1, 1));
        n.send({ type: 'client.changeConfig', change: { type: 'addLearner', id: 'n4' }, requestId: 'c1' });
        return n;
      },
      { type: 'client.transferLeadership', to: 'n2' },
      { type: 'transferEnded', to: 'n2', outcome: 'in_progress', detail: 'a configuration change is in flight: transfer once it has committed', leaderId: 'n1' },
    ],
    [
      'while another is under way',
      () => {
        const n = leader();
        n.send({ type: 'client.transferLeadership', to: 'n3' });
        return n;
      },
      { type: 'client.transferLeadership', to: 'n2' },
      { type: 'transferEnded', to: 'n2', outcome: 'in_progress', detail: 'leadership is already being transferred to n3', leaderId: 'n1' },
    ],
  ];
  for (const [name, make, event, answer] of refusals) {
    it(`a transfer is refused ${name}`, () => {
      const n = make();
      const from = n.mark();
      n.send(event);
      expect(n.effects.slice(from)).toStrictEqual([answer]);
    });
  }
});

describe("a leader's snapshot replies (§7)", () => {
  const data = withConfigHeader(ABC, 'state at 1');

  /** n1 restarted from a snapshot at index 1 and elected in term 2 (no-op at 2); n2 refused the probe, so it is sent the snapshot. */
  function leaderSendingSnapshot(snapshotChunkBytes: number) {
    const n = node({ snapshotChunkBytes, persisted: { currentTerm: 1, votedFor: null, log: [], snapshot: { index: 1, term: 1, data } } });
    n.clock.advance(100);
    n.send({ type: 'rpc.requestVoteResult', from: 'n2', term: 2, voteGranted: true });
    expect(n.role()).toBe('leader');
    const from = n.mark();
    n.send(ack('n2', 2, 0, { success: false, rejectedIndex: 1, conflictIndex: 1 }));
    expect(n.sent('rpc.installSnapshot', from).map((s) => s.message)).toMatchObject([{ offset: 0, data: data.slice(0, snapshotChunkBytes) }]);
    return n;
  }

  it('each answer brings the chunk at the offset it names; once installed, the follower is sent the entries after the snapshot', () => {
    const n = leaderSendingSnapshot(10);
    let from = n.mark();
    n.send(snapshotReply('n2', 2, { offset: 10 }));
    expect(n.sent('rpc.installSnapshot', from).map((s) => s.message)).toMatchObject([{ offset: 10, data: data.slice(10, 20), lastIncludedIndex: 1 }]);
    from = n.mark();
    n.send(snapshotReply('n2', 2, { offset: data.length, installed: true }));
    expect(n.context().matchIndex.n2).toBe(1);
    expect(n.context().replication.n2?.mode).toBe('replicate');
    expect(n.sent('rpc.appendEntries', from)).toMatchObject([{ to: 'n2', message: { prevLogIndex: 1, prevLogTerm: 1, entries: [{ index: 2, term: 2 }] } }]);
    n.send(ack('n2', 2, 2));
    expect(n.context().commitIndex).toBe(2);
  });

  it('an answer about a snapshot beyond its log is reported, and changes nothing', () => {
    const n = leaderSendingSnapshot(10);
    const before = n.context();
    const from = n.mark();
    n.send(snapshotReply('n2', 2, { lastIncludedIndex: 9, offset: data.length, installed: true }));
    expect(n.effects.slice(from)).toMatchObject([{ type: 'invariantViolation', rule: 'a follower answers only snapshots the leader sent' }]);
    expect(n.effects.slice(from)).toHaveLength(1);
    expect(n.context()).toStrictEqual(before);
  });

  it('a late answer about the snapshot, once the follower replicates, sends nothing: a removed server hears of its removal only on heartbeats', () => {
    const n = leaderSendingSnapshot(data.length);
    n.send(ack('n3', 2, 2));
    expect(n.context().commitIndex).toBe(2);
    n.send({ type: 'client.changeConfig', change: { type: 'removeServer', id: 'n3' }, requestId: 'c1' }); // index 3
    n.send(snapshotReply('n2', 2, { offset: data.length, installed: true }));
    n.send(ack('n2', 2, 3));
    n.send(ack('n3', 2, 3));
    expect(n.context().commitIndex).toBe(3);
    expect(n.context().replication.n2?.mode).toBe('replicate');
    const from = n.mark();
    n.send(snapshotReply('n2', 2, { offset: 10 })); // a duplicate of an earlier answer, delivered late
    expect(n.effects.slice(from)).toEqual([]);
  });

  it('an answer to an earlier term’s InstallSnapshot counts for nothing', () => {
    const n = leaderSendingSnapshot(10);
    const before = n.context();
    const from = n.mark();
    n.send(snapshotReply('n2', 2, { requestTerm: 1, offset: data.length, installed: true }));
    expect(n.effects.slice(from)).toEqual([]);
    expect(n.context()).toStrictEqual(before);
  });
});

describe('a refusal of AppendEntries', () => {
  it('a stale refusal (of an index already known to match) changes nothing and sends nothing', () => {
    const n = leader({ maxEntriesPerMessage: 1 });
    n.send(ack('n2', 1, 1)); // n2 replicates from index 2 on
    n.send({ type: 'client.propose', commands: ['a', 'b'] }); // index 2 goes out now, index 3 after n2's next answer
    expect(n.context().nextIndex.n2).toBe(3);
    const progress = { nextIndex: n.context().nextIndex, matchIndex: n.context().matchIndex, replication: n.context().replication };
    const from = n.mark();
    n.send(ack('n2', 1, 0, { success: false, rejectedIndex: 1, conflictIndex: 1 }));
    expect(n.effects.slice(from)).toEqual([]);
    expect({ nextIndex: n.context().nextIndex, matchIndex: n.context().matchIndex, replication: n.context().replication }).toStrictEqual(progress);
  });

  it('a refusal that moves a follower back probes that follower only: a removed server is told of its removal only on heartbeats', () => {
    const n = leader();
    n.send(ack('n2', 1, 1));
    n.send(ack('n3', 1, 1));
    n.send({ type: 'client.changeConfig', change: { type: 'removeServer', id: 'n3' }, requestId: 'c1' });
    n.send(ack('n2', 1, 2));
    n.send(ack('n3', 1, 2));
    expect(n.context().commitIndex).toBe(2);
    expect(n.context().config.voters).toEqual(['n1', 'n2']);
    n.send({ type: 'client.propose', commands: ['x'] }); // index 3, sent to n2 (and lost)
    n.send({ type: 'client.propose', commands: ['y'] }); // index 4, sent to n2 after it
    const from = n.mark();
    n.send(ack('n2', 1, 0, { success: false, rejectedIndex: 3, conflictTerm: 0, conflictIndex: 3 }));
    expect(n.context().nextIndex.n2).toBe(3);
    expect(n.context().replication.n2).toStrictEqual({ mode: 'probe', probeSent: true });
    expect(n.sent('rpc.appendEntries', from).map((s) => s.to)).toEqual(['n2']);
    // The next heartbeat does tell n3.
    n.clock.advance(20);
    expect(n.sent('rpc.appendEntries', from).map((s) => s.to)).toEqual(['n2', 'n3', 'n2']);
  });
});

describe("a leader's answers to configuration changes", () => {
  it('a second change while one is uncommitted is refused, saying so', () => {
    const n = leader();
    n.send(ack('n2', 1, 1));
    n.send({ type: 'client.changeConfig', change: { type: 'addLearner', id: 'n4' }, requestId: 'c1' });
    const from = n.mark();
    n.send({ type: 'client.changeConfig', change: { type: 'addLearner', id: 'n5' }, requestId: 'c2' });
    expect(n.effects.slice(from)).toStrictEqual([
      { type: 'configChangeRejected', requestId: 'c2', reason: 'in_progress', detail: 'another configuration change is not yet committed', leaderId: 'n1' },
    ]);
  });
});
