/**
 * Membership and leadership transfer on the real machine (issue 11): a real actor on a virtual
 * clock, driven through its events, every step checked by a NodeInvariantChecker. Then the
 * membership invariants themselves, on hand-made views; and mutants — the machine with one rule
 * broken through `provide` (test/model/mutants.ts) — that the invariants must catch.
 */
import { describe, expect, it } from 'vitest';
import { createActor, type Actor } from 'xstate';
import { initialContext, raftNodeMachine, type RaftEffect, type RaftEvent, type RaftNodeInput, type RaftNodeMachine } from '../../machines/raft-node.js';
import { configCommand, isConfigCommand, withConfigHeader, type ConfigChange, type Configuration } from '../../src/core/configuration.js';
import { RaftLog } from '../../src/core/log.js';
import type { AppendEntriesResult, LogEntry, NodeId, Role, Term } from '../../src/core/types.js';
import { VirtualClock } from '../../src/sim/clock.js';
import { formatViolations, NodeInvariantChecker, RULES, type NodeView, type Violation } from '../../src/sim/node-invariants.js';
import { MUTANTS } from '../model/mutants.js';

const ELECTION = [100, 200] as const;
const ABC: Configuration = { voters: ['n1', 'n2', 'n3'], learners: [] };
const ABC_D: Configuration = { voters: ['n1', 'n2', 'n3'], learners: ['n4'] };

type Node = ReturnType<typeof node>;

/**
 * n1 (unless told otherwise) on a virtual clock. Every send and every clock advance is one step
 * checked by the per-node invariants; `violations` collects what they report.
 */
function node(input: Partial<RaftNodeInput> = {}, machine: RaftNodeMachine = raftNodeMachine) {
  const clock = new VirtualClock();
  const actor: Actor<RaftNodeMachine> = createActor(machine, {
    input: { id: 'n1', peers: ['n1', 'n2', 'n3'], electionTimeout: ELECTION, heartbeatInterval: 20, preVote: false, checkQuorum: false, ...input },
    clock,
  });
  const effects: RaftEffect[] = [];
  const violations: Violation[] = [];
  const checker = new NodeInvariantChecker();
  let pending: RaftEffect[] = [];
  actor.on('*', (effect) => {
    effects.push(effect as RaftEffect);
    pending.push(effect as RaftEffect);
  });
  actor.start();
  const view = (): NodeView => ({ ...actor.getSnapshot().context, role: actor.getSnapshot().value as Role });
  let last = view();
  const check = () => {
    const next = view();
    violations.push(...checker.check(last, next, pending));
    pending = [];
    last = next;
  };
  check();
  return {
    actor,
    clock,
    effects,
    violations,
    context: () => actor.getSnapshot().context,
    role: () => actor.getSnapshot().value as Role,
    send(event: RaftEvent) {
      actor.send(event);
      check();
    },
    advance(ms: number) {
      clock.advance(ms);
      check();
    },
    /** The effects of one type emitted since `from` (an index into effects). */
    emitted<T extends RaftEffect['type']>(type: T, from = 0): Extract<RaftEffect, { type: T }>[] {
      return effects.slice(from).filter((e): e is Extract<RaftEffect, { type: T }> => e.type === type);
    },
    /** Messages of one type sent since `from`, with their destination. */
    sent(type: string, from = 0) {
      return effects.slice(from).flatMap((e) => (e.type === 'send' && e.message.type === type ? [{ to: e.to, message: e.message }] : []));
    },
  };
}

function ack(from: NodeId, term: Term, matchIndex: number, seq = 0): AppendEntriesResult {
  return { type: 'rpc.appendEntriesResult', from, term, requestTerm: term, success: true, matchIndex, rejectedIndex: 0, conflictTerm: 0, conflictIndex: 0, seq };
}

const change = (c: ConfigChange, requestId = `${c.type}:${c.id}`): RaftEvent => ({ type: 'client.changeConfig', change: c, requestId });

/** A fresh n1 elected in term 1 (its first entry is the bootstrap configuration); with `commit`, n2 acknowledged it. */
function firstLeader(input: Partial<RaftNodeInput> = {}, machine?: RaftNodeMachine, commit = true): Node {
  const n = node(input, machine);
  n.advance(ELECTION[1]);
  n.send({ type: 'rpc.requestVoteResult', from: 'n2', term: 1, voteGranted: true });
  expect(n.role()).toBe('leader');
  expect(isConfigCommand(n.context().log.entry(1)?.command)).toBe(true);
  if (commit) {
    n.send(ack('n2', 1, 1));
    expect(n.context().commitIndex).toBe(1);
  }
  return n;
}

/**
 * n1 restarted from a snapshot (index 1, term 1) that carries `config`, elected in term 2: its
 * first entry of term 2 is a no-op at index 2, not yet committed.
 */
function leaderOfTermTwo(config: Configuration = ABC_D, machine?: RaftNodeMachine): Node {
  const n = node({ persisted: { currentTerm: 1, votedFor: null, log: [], snapshot: { index: 1, term: 1, data: withConfigHeader(config, 'j:0') } } }, machine);
  n.advance(ELECTION[1]);
  n.send({ type: 'rpc.requestVoteResult', from: 'n2', term: 2, voteGranted: true });
  expect(n.role()).toBe('leader');
  expect(n.context().log.lastIndex).toBe(2);
  expect(n.context().commitIndex).toBe(1);
  return n;
}

describe('learners replicate but never count', () => {
  it('a learner never counts toward commit: with voters n1, n2, n3 and learner n4, n4’s acknowledgements alone commit nothing', () => {
    const n = leaderOfTermTwo(ABC_D);
    // n4 is sent the log like any follower ...
    expect(n.sent('rpc.appendEntries').map((s) => s.to)).toContain('n4');
    for (let i = 0; i < 3; i++) n.send(ack('n4', 2, 2));
    // ... but its acknowledgement is not a vote for commit: n1 + n4 would be 2 of 3 if it counted.
    expect(n.context().commitIndex).toBe(1);
    n.send(ack('n2', 2, 2));
    expect(n.context().commitIndex).toBe(2);
    expect(n.violations).toEqual([]);
  });

  it('a learner’s vote does not elect a candidate', () => {
    const n = node({ persisted: { currentTerm: 1, votedFor: null, log: [], snapshot: { index: 1, term: 1, data: withConfigHeader(ABC_D, 'j:0') } } });
    n.advance(ELECTION[1]);
    expect(n.role()).toBe('candidate');
    expect(n.sent('rpc.requestVote').map((s) => s.to)).toEqual(['n2', 'n3']);
    n.send({ type: 'rpc.requestVoteResult', from: 'n4', term: 2, voteGranted: true });
    expect(n.role()).toBe('candidate');
    expect(n.context().votes).toEqual(['n1']);
    expect(n.violations).toEqual([]);
  });

  it('promote is refused while the learner has not answered, and accepted once it has caught up', () => {
    const n = leaderOfTermTwo(ABC_D);
    n.send(ack('n2', 2, 2));
    const from = n.effects.length;
    n.send(change({ type: 'promote', id: 'n4' }));
    expect(n.emitted('configChangeRejected', from)).toMatchObject([{ reason: 'invalid', detail: expect.stringMatching(/not yet heard/) }]);
    n.send(ack('n4', 2, 2));
    n.send(change({ type: 'promote', id: 'n4' }));
    expect(n.emitted('configChangeAccepted', from)).toMatchObject([{ index: 3, term: 2 }]);
    expect(n.context().config.voters).toEqual(['n1', 'n2', 'n3', 'n4']);
    expect(n.violations).toEqual([]);
  });
});

describe('single-server changes (§4.1): one at a time, after the leader commits in its term', () => {
  it('a change is in force as soon as it is appended: the new learner is sent the log at once', () => {
    const n = firstLeader();
    const from = n.effects.length;
    n.send(change({ type: 'addLearner', id: 'n4' }, 'c1'));
    expect(n.emitted('configChangeAccepted', from)).toEqual([{ type: 'configChangeAccepted', requestId: 'c1', index: 2, term: 1 }]);
    expect(n.emitted('configChanged', from)).toEqual([{ type: 'configChanged', config: ABC_D, index: 2 }]);
    expect(n.context().config).toEqual(ABC_D);
    expect(n.sent('rpc.appendEntries', from).map((s) => s.to)).toContain('n4');
    expect(n.violations).toEqual([]);
  });

  it('a config change before the leader has committed an entry of its term is held back, and appended once it has (the 2015 bug)', () => {
    const n = leaderOfTermTwo(ABC);
    const from = n.effects.length;
    n.send(change({ type: 'addLearner', id: 'n5' }, 'c1'));
    // Not appended: the no-op of term 2 (index 2) is not committed, only the snapshot (index 1, term 1) is.
    expect(n.emitted('configChangeAccepted', from)).toEqual([]);
    expect(n.emitted('configChangeRejected', from)).toEqual([]);
    expect(n.context().heldConfigChange).toEqual({ change: { type: 'addLearner', id: 'n5' }, requestId: 'c1' });
    expect(n.context().log.lastIndex).toBe(2);
    expect(n.context().config).toEqual(ABC);
    // The no-op commits: the held change goes into the log in the same step.
    n.send(ack('n2', 2, 2));
    expect(n.context().commitIndex).toBe(2);
    expect(n.emitted('configChangeAccepted', from)).toEqual([{ type: 'configChangeAccepted', requestId: 'c1', index: 3, term: 2 }]);
    expect(n.context().log.entry(3)?.command).toEqual(configCommand({ voters: ['n1', 'n2', 'n3'], learners: ['n5'] }));
    expect(n.context().heldConfigChange).toBeUndefined();
    expect(n.violations).toEqual([]);
  });

  it('a held change is refused with not_leader if the leader loses office before it could append it', () => {
    const n = leaderOfTermTwo(ABC);
    n.send(change({ type: 'addLearner', id: 'n5' }, 'c1'));
    const from = n.effects.length;
    n.send({ type: 'rpc.requestVote', from: 'n3', term: 3, candidateId: 'n3', lastLogIndex: 2, lastLogTerm: 2 });
    expect(n.role()).toBe('follower');
    expect(n.emitted('configChangeRejected', from)).toMatchObject([{ requestId: 'c1', reason: 'not_leader' }]);
    expect(n.violations).toEqual([]);
  });

  it('a second change while one is uncommitted is refused with reason in_progress (and while one is held back)', () => {
    const n = firstLeader();
    n.send(change({ type: 'addLearner', id: 'n4' }, 'c1'));
    const from = n.effects.length;
    n.send(change({ type: 'addLearner', id: 'n5' }, 'c2'));
    expect(n.emitted('configChangeRejected', from)).toMatchObject([{ requestId: 'c2', reason: 'in_progress', leaderId: 'n1' }]);
    expect(n.context().log.lastIndex).toBe(2);
    // Once the first commits, the next one is taken.
    n.send(ack('n2', 1, 2));
    n.send(change({ type: 'addLearner', id: 'n5' }, 'c3'));
    expect(n.emitted('configChangeAccepted', from)).toMatchObject([{ requestId: 'c3', index: 3 }]);

    const held = leaderOfTermTwo(ABC);
    held.send(change({ type: 'addLearner', id: 'n5' }, 'c1'));
    const later = held.effects.length;
    held.send(change({ type: 'removeServer', id: 'n3' }, 'c2'));
    expect(held.emitted('configChangeRejected', later)).toMatchObject([{ requestId: 'c2', reason: 'in_progress' }]);
    expect(n.violations).toEqual([]);
    expect(held.violations).toEqual([]);
  });

  it('a change asked before the first leader’s bootstrap entry commits is held back, and appended once it has', () => {
    const n = firstLeader({}, undefined, false);
    const from = n.effects.length;
    n.send(change({ type: 'addLearner', id: 'n4' }, 'c1'));
    expect(n.context().heldConfigChange?.requestId).toBe('c1');
    expect(n.context().log.lastIndex).toBe(1);
    n.send(ack('n2', 1, 1));
    expect(n.emitted('configChangeAccepted', from)).toMatchObject([{ requestId: 'c1', index: 2, term: 1 }]);
    expect(n.violations).toEqual([]);
  });

  it('an invalid change and a change asked of a follower are refused, nothing changes', () => {
    const n = firstLeader();
    const from = n.effects.length;
    n.send(change({ type: 'removeServer', id: 'n9' }, 'c1'));
    n.send(change({ type: 'addLearner', id: 'n2' }, 'c2'));
    expect(n.emitted('configChangeRejected', from).map((e) => [e.requestId, e.reason])).toEqual([
      ['c1', 'invalid'],
      ['c2', 'invalid'],
    ]);
    const follower = node();
    follower.send({ type: 'rpc.appendEntries', from: 'n2', term: 1, leaderId: 'n2', prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0, seq: 0 });
    follower.send(change({ type: 'addLearner', id: 'n4' }, 'c3'));
    expect(follower.emitted('configChangeRejected')).toMatchObject([{ requestId: 'c3', reason: 'not_leader', leaderId: 'n2' }]);
  });

  it('a client cannot propose a configuration entry behind the rules', () => {
    const n = firstLeader();
    const from = n.effects.length;
    n.send({ type: 'client.propose', commands: [configCommand({ voters: ['n1'], learners: [] })], requestId: 'p1' });
    expect(n.emitted('proposalRejected', from)).toMatchObject([{ requestId: 'p1' }]);
    expect(n.context().log.lastIndex).toBe(1);
    expect(n.context().config).toEqual(ABC);
  });

  it('a configuration entry truncated away on a follower is undone', () => {
    const n = node({ persisted: { currentTerm: 1, votedFor: null, log: [{ term: 1, index: 1, command: configCommand(ABC) }] } });
    const entry = (term: Term, index: number, command: unknown): LogEntry<unknown> => ({ term, index, command });
    n.send({
      type: 'rpc.appendEntries',
      from: 'n2',
      term: 1,
      leaderId: 'n2',
      prevLogIndex: 1,
      prevLogTerm: 1,
      entries: [entry(1, 2, configCommand(ABC_D))],
      leaderCommit: 1,
      seq: 0,
    });
    expect(n.context().config).toEqual(ABC_D);
    // A leader of term 2 never had that entry: it replaces it.
    const from = n.effects.length;
    n.send({ type: 'rpc.appendEntries', from: 'n3', term: 2, leaderId: 'n3', prevLogIndex: 1, prevLogTerm: 1, entries: [entry(2, 2, 'x')], leaderCommit: 1, seq: 0 });
    expect(n.context().config).toEqual(ABC);
    expect(n.emitted('configChanged', from)).toEqual([{ type: 'configChanged', config: ABC, index: 1 }]);
    expect(n.violations).toEqual([]);
  });
});

describe('a leader that removes itself (§4.2.2)', () => {
  it('stops counting its own log, and once the change commits steps down, handing over with TimeoutNow to an up-to-date voter', () => {
    const n = firstLeader();
    n.send(change({ type: 'removeServer', id: 'n1' }, 'c1'));
    expect(n.context().config).toEqual({ voters: ['n2', 'n3'], learners: [] });
    expect(n.role()).toBe('leader');
    // n1 + n2 would be 2 of 3: but n1 no longer counts, and n2 alone is 1 of 2.
    n.send(ack('n2', 1, 2));
    expect(n.context().commitIndex).toBe(1);
    expect(n.role()).toBe('leader');
    const from = n.effects.length;
    n.send(ack('n3', 1, 2));
    expect(n.context().commitIndex).toBe(2);
    expect(n.role()).toBe('follower');
    expect(n.sent('rpc.timeoutNow', from)).toEqual([{ to: 'n2', message: { type: 'rpc.timeoutNow', from: 'n1', term: 1, leaderId: 'n1' } }]);
    expect(n.emitted('leaderChanged', from)).toEqual([{ type: 'leaderChanged', leaderId: null, term: 1 }]);
    // Not a voter any more: it never campaigns again.
    n.advance(20 * ELECTION[1]);
    expect(n.role()).toBe('follower');
    expect(n.sent('rpc.requestVote', from)).toEqual([]);
    expect(n.violations).toEqual([]);
  });
});

describe('TimeoutNow (§3.10)', () => {
  const heartbeat = { type: 'rpc.appendEntries', from: 'n2', term: 1, leaderId: 'n2', prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0, seq: 0 } as const;

  it('a follower receiving rpc.timeoutNow of its term campaigns at once, without a pre-vote', () => {
    const n = node({ preVote: true, persisted: { currentTerm: 1, votedFor: null, log: [] } });
    n.send(heartbeat);
    const from = n.effects.length;
    n.send({ type: 'rpc.timeoutNow', from: 'n2', term: 1, leaderId: 'n2' });
    expect(n.role()).toBe('candidate');
    expect(n.context().currentTerm).toBe(2);
    const asked = n.sent('rpc.requestVote', from).map((s) => s.message);
    expect(asked).toHaveLength(2);
    expect(asked.every((m) => m.type === 'rpc.requestVote' && m.term === 2 && m.preVote === undefined)).toBe(true);
    expect(n.violations).toEqual([]);
  });

  it('a stale TimeoutNow is dropped, and a non-voter ignores one', () => {
    const stale = node({ preVote: true, persisted: { currentTerm: 2, votedFor: null, log: [] } });
    stale.send({ type: 'rpc.timeoutNow', from: 'n2', term: 1, leaderId: 'n2' });
    expect(stale.role()).toBe('follower');
    expect(stale.context().currentTerm).toBe(2);

    const learner = node({
      id: 'n4',
      preVote: true,
      persisted: { currentTerm: 1, votedFor: null, log: [], snapshot: { index: 1, term: 1, data: withConfigHeader(ABC_D, 'j:0') } },
    });
    learner.send({ type: 'rpc.timeoutNow', from: 'n2', term: 1, leaderId: 'n2' });
    expect(learner.role()).toBe('follower');
    expect(learner.context().currentTerm).toBe(1);
  });
});

describe('leadership transfer (§3.10)', () => {
  /** The first leader, with a command at index 2 that n2 has not acknowledged yet. */
  function leaderWithUnackedEntry() {
    const n = firstLeader();
    n.send({ type: 'client.propose', commands: ['x'], requestId: 'p0' });
    expect(n.context().log.lastIndex).toBe(2);
    return n;
  }

  it('proposals are refused with leaderId = the target while transferring', () => {
    const n = leaderWithUnackedEntry();
    const from = n.effects.length;
    n.send({ type: 'client.transferLeadership', to: 'n2', requestId: 't1' });
    expect(n.emitted('transferStarted', from)).toEqual([{ type: 'transferStarted', to: 'n2', requestId: 't1' }]);
    n.send({ type: 'client.propose', commands: ['y'], requestId: 'p1' });
    expect(n.emitted('proposalRejected', from)).toEqual([{ type: 'proposalRejected', requestId: 'p1', leaderId: 'n2' }]);
    expect(n.context().log.lastIndex).toBe(2);
    n.send(change({ type: 'addLearner', id: 'n4' }, 'c1'));
    expect(n.emitted('configChangeRejected', from)).toMatchObject([{ requestId: 'c1', reason: 'in_progress', detail: expect.stringMatching(/transferred to n2/) }]);
    expect(n.violations).toEqual([]);
  });

  it('TimeoutNow is sent once the target’s matchIndex reaches lastIndex, and only once', () => {
    const n = leaderWithUnackedEntry();
    const from = n.effects.length;
    n.send({ type: 'client.transferLeadership', to: 'n2', requestId: 't1' });
    // n2 has not acknowledged index 2 yet ...
    n.send(ack('n2', 1, 1));
    expect(n.sent('rpc.timeoutNow', from)).toEqual([]);
    n.send(ack('n2', 1, 2));
    expect(n.sent('rpc.timeoutNow', from)).toEqual([{ to: 'n2', message: { type: 'rpc.timeoutNow', from: 'n1', term: 1, leaderId: 'n1' } }]);
    n.send(ack('n2', 1, 2));
    expect(n.sent('rpc.timeoutNow', from)).toHaveLength(1);
    // The target wins term 2: the transfer is over, n1 follows.
    n.send({ type: 'rpc.requestVote', from: 'n2', term: 2, candidateId: 'n2', lastLogIndex: 2, lastLogTerm: 1 });
    expect(n.role()).toBe('follower');
    expect(n.violations).toEqual([]);
  });

  it('a target already up to date is sent TimeoutNow at once', () => {
    const n = firstLeader();
    const from = n.effects.length;
    n.send({ type: 'client.transferLeadership', requestId: 't1' });
    // No `to`: the most up-to-date voter (n2 acknowledged index 1).
    expect(n.emitted('transferStarted', from)).toMatchObject([{ to: 'n2' }]);
    expect(n.sent('rpc.timeoutNow', from).map((s) => s.to)).toEqual(['n2']);
  });

  it('a transfer is abandoned with transferEnded outcome abandoned after electionTimeout[1], and the leader serves again', () => {
    const n = leaderWithUnackedEntry();
    n.send({ type: 'client.transferLeadership', to: 'n2', requestId: 't1' });
    const from = n.effects.length;
    n.advance(ELECTION[1] - 1);
    expect(n.emitted('transferEnded', from)).toEqual([]);
    expect(n.context().transfer?.to).toBe('n2');
    n.advance(1);
    expect(n.emitted('transferEnded', from)).toMatchObject([{ requestId: 't1', to: 'n2', outcome: 'abandoned', leaderId: 'n1' }]);
    expect(n.context().transfer).toBeUndefined();
    expect(n.role()).toBe('leader');
    n.send({ type: 'client.propose', commands: ['y'], requestId: 'p1' });
    expect(n.emitted('proposalAccepted', from)).toMatchObject([{ requestId: 'p1' }]);
    expect(n.violations).toEqual([]);
  });

  it('a transfer is refused to a stranger, to itself, while another is under way, or while a change is in flight', () => {
    const n = firstLeader();
    const from = n.effects.length;
    n.send({ type: 'client.transferLeadership', to: 'n9', requestId: 't1' });
    n.send({ type: 'client.transferLeadership', to: 'n1', requestId: 't2' });
    n.send(change({ type: 'addLearner', id: 'n4' }, 'c1'));
    n.send({ type: 'client.transferLeadership', to: 'n2', requestId: 't3' });
    expect(n.emitted('transferEnded', from).map((e) => [e.requestId, e.outcome])).toEqual([
      ['t1', 'refused'],
      ['t2', 'refused'],
      ['t3', 'in_progress'],
    ]);
    n.send(ack('n2', 1, 2));
    n.send({ type: 'client.transferLeadership', to: 'n3', requestId: 't4' });
    n.send({ type: 'client.transferLeadership', to: 'n2', requestId: 't5' });
    expect(n.emitted('transferStarted', from).map((e) => e.requestId)).toEqual(['t4']);
    expect(n.emitted('transferEnded', from).at(-1)).toMatchObject({ requestId: 't5', outcome: 'in_progress', detail: expect.stringMatching(/already being transferred to n3/) });
    expect(node().actor.getSnapshot().value).toBe('follower');
  });
});

describe('a non-voter never campaigns', () => {
  it('a new, empty server (join: true) never campaigns, however long it hears nothing', () => {
    const n = node({ id: 'n9', join: true, preVote: true });
    n.advance(50 * ELECTION[1]);
    expect(n.role()).toBe('follower');
    expect(n.context().config).toEqual({ voters: [], learners: [] });
    expect(n.sent('rpc.requestVote')).toEqual([]);
    expect(n.violations).toEqual([]);
  });

  it('a learner never campaigns; promoted by a configuration entry, it does', () => {
    const n = node({ id: 'n4', join: true });
    const entry = (index: number, config: Configuration): LogEntry<unknown> => ({ term: 1, index, command: configCommand(config) });
    n.send({ type: 'rpc.appendEntries', from: 'n1', term: 1, leaderId: 'n1', prevLogIndex: 0, prevLogTerm: 0, entries: [entry(1, ABC_D)], leaderCommit: 1, seq: 0 });
    expect(n.context().config).toEqual(ABC_D);
    n.advance(50 * ELECTION[1]);
    expect(n.role()).toBe('follower');
    expect(n.sent('rpc.requestVote')).toEqual([]);
    n.send({
      type: 'rpc.appendEntries',
      from: 'n1',
      term: 1,
      leaderId: 'n1',
      prevLogIndex: 1,
      prevLogTerm: 1,
      entries: [entry(2, { voters: ['n1', 'n2', 'n3', 'n4'], learners: [] })],
      leaderCommit: 2,
      seq: 0,
    });
    n.advance(ELECTION[1]);
    expect(n.role()).toBe('candidate');
    expect(n.sent('rpc.requestVote').map((s) => s.to)).toEqual(['n1', 'n2', 'n3']);
    expect(n.violations).toEqual([]);
  });

  // If the leader dies after a promotion reached the others but not the promoted learner, the
  // others count that learner as a voter: were it to deny their pre-votes forever (its timeout never
  // takes it to preCandidate, where a voter forgets its leader), no leader could be elected.
  it('a non-voter that stopped hearing from its leader for an election timeout grants pre-votes again', () => {
    const n = node({ id: 'n4', join: true, preVote: true });
    n.send({
      type: 'rpc.appendEntries',
      from: 'n1',
      term: 1,
      leaderId: 'n1',
      prevLogIndex: 0,
      prevLogTerm: 0,
      entries: [{ term: 1, index: 1, command: configCommand(ABC_D) }],
      leaderCommit: 1,
      seq: 0,
    });
    n.advance(10 * ELECTION[1]); // n1 is gone
    const from = n.effects.length;
    n.send({ type: 'rpc.requestVote', from: 'n2', term: 2, candidateId: 'n2', lastLogIndex: 1, lastLogTerm: 1, preVote: true });
    expect(n.sent('rpc.requestVoteResult', from).map((s) => s.message)).toMatchObject([{ voteGranted: true, preVote: true }]);
  });
});

// ---------------------------------------------------------------- the membership invariants themselves

/** A view of n1 (voters n1, n2, n3 unless told otherwise); `log` lists each entry's term, or [term, configuration] for a configuration entry. */
function view(fields: Partial<Omit<NodeView, 'log'>> & { log?: NodeView['log'] | readonly (Term | [Term, Configuration])[] }): NodeView {
  const { log = [], ...rest } = fields;
  const entries = (terms: readonly (Term | [Term, Configuration])[]): LogEntry<unknown>[] =>
    terms.map((e, i) => (Array.isArray(e) ? { term: e[0], index: i + 1, command: configCommand(e[1]) } : { term: e, index: i + 1, command: `c${i + 1}` }));
  return { ...initialContext({ id: 'n1', peers: ['n1', 'n2', 'n3'] }), log: log instanceof RaftLog ? log : RaftLog.from(entries(log)), ...rest };
}

function persistOf(next: NodeView, from: number): RaftEffect {
  return { type: 'persist', hardState: { currentTerm: next.currentTerm, votedFor: next.votedFor }, entries: next.log.slice(from) };
}

/** The rules a step from `prev` to `next` breaks, each named once (the checker has seen `prev` already). */
function rulesBroken(prev: NodeView, next: NodeView, effects: RaftEffect[]): string[] {
  const checker = new NodeInvariantChecker();
  checker.check(prev, prev, []);
  return [...new Set(checker.check(prev, next, effects).map((v) => v.rule))];
}

describe('the membership invariants report each broken rule', () => {
  const base = [{ index: 0, config: ABC }];
  const leader = { role: 'leader' as const, leaderId: 'n1', currentTerm: 2, votedFor: 'n1' };

  it(`reports "${RULES.configChangesWaitForCommit}": a change before the leader committed in its term`, () => {
    const prev = view({ ...leader, log: [1, 2], commitIndex: 1, lastApplied: 1 });
    const next = view({
      ...leader,
      log: [1, 2, [2, ABC_D]],
      commitIndex: 1,
      lastApplied: 1,
      configs: [...base, { index: 3, config: ABC_D }],
      config: ABC_D,
      replicas: ['n2', 'n3', 'n4'],
    });
    expect(rulesBroken(prev, next, [persistOf(next, 3)])).toEqual([RULES.configChangesWaitForCommit]);
    // The same once index 2 (of term 2) is committed: fine.
    const committed = { commitIndex: 2, lastApplied: 2 };
    expect(rulesBroken(view({ ...prev, ...committed, log: [1, 2] }), view({ ...next, ...committed, log: [1, 2, [2, ABC_D]] }), [persistOf(next, 3)])).toEqual([]);
  });

  it(`reports "${RULES.configChangesWaitForCommit}": a second change while the first is uncommitted; the bootstrap entry is exempt`, () => {
    const abcde = { voters: ['n1', 'n2', 'n3'], learners: ['n4', 'n5'] };
    const configs = [...base, { index: 2, config: ABC_D }];
    const prev = view({ ...leader, log: [2, [2, ABC_D]], commitIndex: 1, lastApplied: 1, configs, config: ABC_D, replicas: ['n2', 'n3', 'n4'] });
    const next = view({ ...prev, log: [2, [2, ABC_D], [2, abcde]], configs: [...configs, { index: 3, config: abcde }], config: abcde, replicas: ['n2', 'n3', 'n4', 'n5'] });
    expect(rulesBroken(prev, next, [persistOf(next, 3)])).toEqual([RULES.configChangesWaitForCommit]);
    // The first leader writes the bootstrap configuration before it has committed anything.
    const first = view({ ...leader, currentTerm: 1, log: [[1, ABC]], configs: [...base, { index: 1, config: ABC }] });
    expect(rulesBroken(view({ ...leader, currentTerm: 1 }), first, [persistOf(first, 1)])).toEqual([]);
  });

  it(`reports "${RULES.countsOnlyVoters}": a commit backed by a learner, by a leader that is not a voter, and a learner's vote`, () => {
    const configs = [{ index: 0, config: ABC_D }];
    const prev = view({ ...leader, log: [1, 2], commitIndex: 1, lastApplied: 1, configs, config: ABC_D, replicas: ['n2', 'n3', 'n4'] });
    const byLearner = view({ ...prev, commitIndex: 2, lastApplied: 2, matchIndex: { n4: 2 } });
    const applied: RaftEffect = { type: 'apply', entries: [byLearner.log.entry(2) as LogEntry<unknown>] };
    expect(rulesBroken(prev, byLearner, [applied])).toEqual([RULES.countsOnlyVoters]);
    expect(rulesBroken(prev, view({ ...byLearner, matchIndex: { n2: 2 } }), [applied])).toEqual([]);
    // n1 is removing itself (voters n2, n3, at index 3, not committed): its own log no longer counts.
    const removed = { voters: ['n2', 'n3'], learners: [] };
    const removing = [...base, { index: 3, config: removed }];
    const notVoter = view({
      ...leader,
      log: [1, 2, [2, removed]],
      commitIndex: 1,
      lastApplied: 1,
      configs: removing,
      config: removed,
      peers: ['n2', 'n3'],
      replicas: ['n2', 'n3'],
    });
    const committed = view({ ...notVoter, commitIndex: 2, lastApplied: 2, matchIndex: { n2: 2 } });
    expect(rulesBroken(notVoter, committed, [{ type: 'apply', entries: [committed.log.entry(2) as LogEntry<unknown>] }])).toEqual([RULES.countsOnlyVoters]);
    // A candidate that counts the learner's vote.
    const candidate = view({ role: 'candidate', currentTerm: 2, votedFor: 'n1', configs, config: ABC_D, replicas: ['n2', 'n3', 'n4'], votes: ['n1'] });
    expect(rulesBroken(candidate, view({ ...candidate, votes: ['n1', 'n4'] }), [])).toEqual([RULES.countsOnlyVoters]);
  });

  it(`reports "${RULES.configInForceIsLastInLog}": a configuration entry truncated away but still in force, or one appended but not in force`, () => {
    const configs = [...base, { index: 2, config: ABC_D }];
    const prev = view({ currentTerm: 2, log: [1, [1, ABC_D]], configs, config: ABC_D, replicas: ['n2', 'n3', 'n4'] });
    // The leader of term 2 replaced index 2; the node kept the configuration it set.
    const stale = view({ ...prev, log: [1, 2] });
    const truncate: RaftEffect = { type: 'persist', hardState: { currentTerm: 2, votedFor: null }, truncateFrom: 2, entries: stale.log.slice(2) };
    expect(rulesBroken(prev, stale, [truncate])).toContain(RULES.configInForceIsLastInLog);
    expect(rulesBroken(prev, view({ currentTerm: 2, log: [1, 2] }), [truncate])).toEqual([]);
    // An appended configuration entry that the node did not put in force.
    const before = view({ currentTerm: 2, log: [1] });
    const ignored = view({ currentTerm: 2, log: [1, [2, ABC_D]] });
    expect(rulesBroken(before, ignored, [persistOf(ignored, 2)])).toEqual([RULES.configInForceIsLastInLog]);
    // Peers that do not follow from the configuration in force.
    expect(rulesBroken(before, view({ currentTerm: 2, log: [1], peers: ['n2', 'n3', 'n4'] }), [])).toEqual([RULES.configInForceIsLastInLog]);
  });

  it(`reports "${RULES.onlyVotersCampaign}", and lets a server its uncommitted entry removes campaign (§4.2.2)`, () => {
    const removed = { voters: ['n2', 'n3'], learners: [] };
    const campaign: RaftEffect = { type: 'roleChanged', role: 'preCandidate', term: 2 };
    const committed = view({
      currentTerm: 2,
      log: [1, [2, removed]],
      commitIndex: 2,
      lastApplied: 2,
      configs: [...base, { index: 2, config: removed }],
      config: removed,
      peers: ['n2', 'n3'],
      replicas: ['n2', 'n3'],
    });
    expect(rulesBroken(committed, view({ ...committed, role: 'preCandidate' }), [campaign])).toEqual([RULES.onlyVotersCampaign]);
    const uncommitted = view({ ...committed, commitIndex: 1, lastApplied: 1 });
    expect(rulesBroken(uncommitted, view({ ...uncommitted, role: 'preCandidate' }), [campaign])).toEqual([]);
  });

  it(`reports "${RULES.removedLeaderStepsDown}"`, () => {
    const removed = { voters: ['n2', 'n3'], learners: [] };
    const still = view({
      ...leader,
      log: [1, [2, removed]],
      commitIndex: 2,
      lastApplied: 2,
      configs: [...base, { index: 2, config: removed }],
      config: removed,
      peers: ['n2', 'n3'],
      replicas: ['n2', 'n3'],
      matchIndex: { n2: 2, n3: 2 },
    });
    expect(rulesBroken(still, view({ ...still }), [])).toEqual([RULES.removedLeaderStepsDown]);
    expect(rulesBroken(still, view({ ...still, role: 'follower', leaderId: null }), [])).toEqual([]);
  });

  it(`reports "${RULES.transferFreezesTheLog}"`, () => {
    const transferring = view({ ...leader, log: [1, 2], commitIndex: 2, lastApplied: 2, transfer: { to: 'n2', requestId: 't', timeoutNowSent: false } });
    const grown = view({ ...transferring, log: [1, 2, 2] });
    expect(rulesBroken(transferring, grown, [persistOf(grown, 3)])).toEqual([RULES.transferFreezesTheLog]);
    expect(rulesBroken(view({ ...transferring, transfer: undefined }), view({ ...grown, transfer: undefined }), [persistOf(grown, 3)])).toEqual([]);
  });
});

// ---------------------------------------------------------------- mutants: the rules have teeth

describe('a broken membership rule is caught (mutants from test/model/mutants.ts)', () => {
  const broken = (n: Node) => [...new Set(n.violations.map((v) => v.rule))];

  it('a leader that appends a change before it committed in its term (the 2015 bug) is caught', () => {
    const n = leaderOfTermTwo(ABC, MUTANTS['appends a change before committing in its term']);
    n.send(change({ type: 'addLearner', id: 'n5' }, 'c1'));
    expect(n.context().heldConfigChange).toBeUndefined(); // not held back: appended at once
    expect(broken(n)).toEqual([RULES.configChangesWaitForCommit]);
  });

  it('a leader that takes a second change while one is uncommitted is caught', () => {
    const n = firstLeader({}, MUTANTS['takes a change while another is uncommitted']);
    n.send(change({ type: 'addLearner', id: 'n4' }, 'c1'));
    n.send(change({ type: 'addLearner', id: 'n5' }, 'c2'));
    expect(formatViolations(n.violations)).toMatch(/configuration entry at 2 is not committed/);
    expect(broken(n)).toEqual([RULES.configChangesWaitForCommit]);
  });

  it('a candidate that counts a learner’s vote is caught', () => {
    // Five voters: the learner's grant does not yet elect n1, and is seen among its votes. (A grant
    // that completes a majority is gone with the votes when the node becomes leader: one node's
    // steps cannot tell it from a voter's; the simulator's SafetyChecker checks elections cluster-wide.)
    const five = { voters: ['n1', 'n2', 'n3', 'n5', 'n6'], learners: ['n4'] };
    const n = node(
      { persisted: { currentTerm: 1, votedFor: null, log: [], snapshot: { index: 1, term: 1, data: withConfigHeader(five, 'j:0') } } },
      MUTANTS['counts a non-voter’s vote'],
    );
    n.advance(ELECTION[1]);
    n.send({ type: 'rpc.requestVoteResult', from: 'n4', term: 2, voteGranted: true });
    expect(n.context().votes).toEqual(['n1', 'n4']);
    expect(broken(n)).toEqual([RULES.countsOnlyVoters]);
  });

  it('a leader that counts its learners’ acknowledgements toward commit is caught', () => {
    // Voters n1, n2, n3 and learners n4, n5: n1 + n4 + n5 would be "3 of 5".
    const n = leaderOfTermTwo({ voters: ['n1', 'n2', 'n3'], learners: ['n4', 'n5'] }, MUTANTS['counts learners toward commit']);
    n.send(ack('n4', 2, 2));
    n.send(ack('n5', 2, 2));
    expect(n.context().commitIndex).toBe(2);
    expect(broken(n)).toEqual([RULES.countsOnlyVoters]);
  });

  it('a follower that keeps a truncated configuration entry in force is caught', () => {
    const n = node(
      { persisted: { currentTerm: 1, votedFor: null, log: [{ term: 1, index: 1, command: configCommand(ABC) }] } },
      MUTANTS['keeps a truncated configuration in force'],
    );
    n.send({
      type: 'rpc.appendEntries',
      from: 'n2',
      term: 1,
      leaderId: 'n2',
      prevLogIndex: 1,
      prevLogTerm: 1,
      entries: [{ term: 1, index: 2, command: configCommand(ABC_D) }],
      leaderCommit: 1,
      seq: 0,
    });
    expect(n.violations).toEqual([]);
    n.send({
      type: 'rpc.appendEntries',
      from: 'n3',
      term: 2,
      leaderId: 'n3',
      prevLogIndex: 1,
      prevLogTerm: 1,
      entries: [{ term: 2, index: 2, command: 'x' }],
      leaderCommit: 1,
      seq: 0,
    });
    expect(n.context().config).toEqual(ABC_D);
    expect(broken(n)).toEqual([RULES.configInForceIsLastInLog]);
  });

  it('a leader that removed itself and keeps leading once that commits is caught', () => {
    const n = firstLeader({}, MUTANTS['keeps leading after removing itself']);
    n.send(change({ type: 'removeServer', id: 'n1' }, 'c1'));
    n.send(ack('n2', 1, 2));
    n.send(ack('n3', 1, 2));
    expect(n.role()).toBe('leader');
    expect(n.sent('rpc.timeoutNow')).toEqual([]);
    expect(broken(n)).toEqual([RULES.removedLeaderStepsDown]);
  });

  it('a joining server that campaigns when its timer fires, or a learner that takes TimeoutNow, is caught', () => {
    const joining = node({ id: 'n9', join: true }, MUTANTS['campaigns as a non-voter']);
    joining.advance(ELECTION[1]);
    expect(broken(joining)).toContain(RULES.onlyVotersCampaign);

    const learner = node(
      { id: 'n4', persisted: { currentTerm: 1, votedFor: null, log: [], snapshot: { index: 1, term: 1, data: withConfigHeader(ABC_D, 'j:0') } } },
      MUTANTS['takes TimeoutNow as a non-voter'],
    );
    learner.send({ type: 'rpc.timeoutNow', from: 'n1', term: 1, leaderId: 'n1' });
    expect(learner.role()).toBe('candidate');
    expect(broken(learner)).toEqual([RULES.onlyVotersCampaign]);
  });

  it('a leader that keeps taking proposals while it transfers is caught', () => {
    const n = firstLeader({}, MUTANTS['ignores its transfer']);
    n.send({ type: 'client.transferLeadership', to: 'n3', requestId: 't1' });
    n.send({ type: 'client.propose', commands: ['y'], requestId: 'p1' });
    expect(n.emitted('proposalAccepted').map((e) => e.requestId)).toContain('p1');
    expect(broken(n)).toEqual([RULES.transferFreezesTheLog]);
  });
});
