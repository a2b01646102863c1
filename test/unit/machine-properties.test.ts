/**
 * Property: whatever sequence of events a node receives — elections, votes and pre-votes,
 * AppendEntries of any shape within a small range of terms and indexes, replies, proposals, reads,
 * election timeouts in every role (a leader's is its check-quorum) — every step keeps the node
 * invariants that NodeInvariantChecker checks, with pre-vote and check-quorum on or off. Events
 * are drawn as intents (a term relative to the node's, indexes and terms from a small range) and
 * made concrete against the node's current state, then passed through the wire schema, as the
 * runtime does at its edge.
 *
 * Some drawn inputs cannot happen in a correct cluster (a second leader in the node's term — also
 * to a pre-candidate, which still knows the leader it stopped hearing from —, a leader rewriting an
 * entry the node knows is committed, a reply about entries never sent). For those the node must
 * report the impossible input — and nothing else may break.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { initialContext, raftNodeMachine, type RaftEffect, type RaftEvent, type RaftNodeInput, type RaftNodeMachine } from '../../machines/raft-node.js';
import { RaftLog } from '../../src/core/log.js';
import type { LogEntry, NodeId, Term } from '../../src/core/types.js';
import { parseRpcMessage } from '../../src/core/validate.js';
import { formatViolations, NodeInvariantChecker, RULES, type NodeView } from '../../src/sim/node-invariants.js';
import { describeEvent, NODE, PEERS, type RaftSnapshot } from '../model/raft-model.js';
import { ReplayedNode } from '../model/replay.js';
import { expectedReports, judgeStep } from '../model/reports.js';

const NUM_RUNS = 200;

type Intent =
  | { kind: 'timeout.election' | 'timeout.heartbeat' | 'client.read' }
  /**
   * Time out and win: a pre-vote granted for the term above ours (with pre-vote on), then a vote
   * granted for the new term; with three voters, each is a majority.
   */
  | { kind: 'election'; from: NodeId }
  | { kind: 'client.propose'; count: number }
  /**
   * With `preVote`, termDelta is relative to the term asked about (the term above ours), so that a
   * pre-vote for a term not above ours is drawn often enough.
   */
  | { kind: 'requestVote'; termDelta: number; from: NodeId; lastLogIndex: number; lastLogTerm: number; upToDate: boolean; preVote: boolean }
  /** A pre-vote grant carries the term asked about (ours + 1 + termDelta); a denial, the voter's term (ours + termDelta). */
  | { kind: 'requestVoteResult'; termDelta: number; from: NodeId; voteGranted: boolean; preVote: boolean }
  | {
      kind: 'appendEntries';
      termDelta: number;
      from: NodeId;
      /** Where prevLogIndex lies: relative to our last index (-2..+2). */
      prevOffset: number;
      /** Use our own term at prevLogIndex (a likely match), or this term. */
      prevTerm: 'ours' | number;
      entryTerms: number[];
      leaderCommit: number;
    }
  | {
      kind: 'appendEntriesResult';
      termDelta: number;
      from: NodeId;
      success: boolean;
      matchIndex: number;
      rejectedIndex: number;
      conflictTerm: number;
      conflictIndex: number;
      seq: number;
      /** Keep indexes and rounds within what the leader sent (an honest follower). */
      honest: boolean;
    };

/** Mostly the node's own term, so roles last long enough to act; sometimes stale or newer. */
const termDelta = fc.oneof(
  { arbitrary: fc.constant(0), weight: 12 },
  { arbitrary: fc.constant(1), weight: 2 },
  { arbitrary: fc.constant(-1), weight: 1 },
  { arbitrary: fc.constant(2), weight: 1 },
);
const peer = fc.constantFrom<NodeId>('n2', 'n3');
const small = fc.integer({ min: 0, max: 5 });
const term = fc.integer({ min: 0, max: 4 });
/** Pre-votes: mostly about the term above ours (or from a voter at ours); often one term lower, sometimes further off. */
const preVoteTermDelta = fc.oneof(
  { arbitrary: fc.constant(0), weight: 6 },
  { arbitrary: fc.constant(-1), weight: 2 },
  { arbitrary: fc.constant(1), weight: 1 },
  { arbitrary: fc.constant(-2), weight: 1 },
);

const intent: fc.Arbitrary<Intent> = fc.oneof(
  { arbitrary: fc.constantFrom({ kind: 'timeout.election' as const }, { kind: 'timeout.heartbeat' as const }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('election' as const), from: peer }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('client.propose' as const), count: fc.integer({ min: 1, max: 2 }) }), weight: 1 },
  { arbitrary: fc.constant({ kind: 'client.read' as const }), weight: 1 },
  {
    arbitrary: fc.record({
      kind: fc.constant('requestVote' as const),
      termDelta,
      from: peer,
      lastLogIndex: small,
      lastLogTerm: term,
      upToDate: fc.boolean(),
      preVote: fc.constant(false),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('requestVote' as const),
      termDelta: preVoteTermDelta,
      from: peer,
      lastLogIndex: small,
      lastLogTerm: term,
      upToDate: fc.boolean(),
      preVote: fc.constant(true),
    }),
    weight: 1,
  },
  { arbitrary: fc.record({ kind: fc.constant('requestVoteResult' as const), termDelta, from: peer, voteGranted: fc.boolean(), preVote: fc.constant(false) }), weight: 3 },
  {
    arbitrary: fc.record({ kind: fc.constant('requestVoteResult' as const), termDelta: preVoteTermDelta, from: peer, voteGranted: fc.boolean(), preVote: fc.constant(true) }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('appendEntries' as const),
      termDelta,
      from: peer,
      prevOffset: fc.integer({ min: -2, max: 2 }),
      prevTerm: fc.oneof(fc.constant('ours' as const), term),
      entryTerms: fc.array(term, { maxLength: 3 }),
      leaderCommit: fc.integer({ min: 0, max: 6 }),
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('appendEntriesResult' as const),
      termDelta,
      from: peer,
      success: fc.boolean(),
      matchIndex: small,
      rejectedIndex: small,
      conflictTerm: term,
      conflictIndex: small,
      seq: fc.integer({ min: 0, max: 3 }),
      honest: fc.oneof({ arbitrary: fc.constant(true), weight: 4 }, { arbitrary: fc.constant(false), weight: 1 }),
    }),
    weight: 4,
  },
);

/** Turns an intent into events, each made concrete against the node as it is when it is sent. */
function materialize(intent: Intent): ((snapshot: RaftSnapshot) => RaftEvent | undefined)[] {
  if (intent.kind === 'election') {
    return [
      () => ({ type: 'timeout.election' }),
      (s) =>
        s.value === 'preCandidate' ? wire({ type: 'rpc.requestVoteResult', from: intent.from, term: s.context.currentTerm + 1, voteGranted: true, preVote: true }) : undefined,
      (s) => wire({ type: 'rpc.requestVoteResult', from: intent.from, term: s.context.currentTerm, voteGranted: true }),
    ];
  }
  return [(snapshot) => eventFor(intent, snapshot)];
}

function eventFor(intent: Exclude<Intent, { kind: 'election' }>, snapshot: RaftSnapshot): RaftEvent | undefined {
  const c = snapshot.context;
  const t = Math.max(1, c.currentTerm + ('termDelta' in intent ? intent.termDelta : 0));
  switch (intent.kind) {
    case 'timeout.election':
    case 'timeout.heartbeat':
      return { type: intent.kind };
    case 'client.propose':
      return { type: 'client.propose', commands: Array.from({ length: intent.count }, (_, i) => `cmd-${i}`), requestId: 'p' };
    case 'client.read':
      return { type: 'client.read', requestIds: ['r'] };
    case 'requestVote': {
      const asked = intent.preVote ? Math.max(1, c.currentTerm + 1 + intent.termDelta) : t;
      const [lastLogIndex, lastLogTerm] = intent.upToDate ? [c.log.lastIndex, c.log.lastTerm] : [intent.lastLogIndex, Math.min(intent.lastLogTerm, asked)];
      return wire({
        type: 'rpc.requestVote',
        from: intent.from,
        term: asked,
        candidateId: intent.from,
        lastLogIndex,
        lastLogTerm,
        ...(intent.preVote ? { preVote: true } : {}),
      });
    }
    case 'requestVoteResult': {
      if (!intent.preVote) return wire({ type: 'rpc.requestVoteResult', from: intent.from, term: t, voteGranted: intent.voteGranted });
      const replyTerm = intent.voteGranted ? Math.max(1, c.currentTerm + 1 + intent.termDelta) : t;
      return wire({ type: 'rpc.requestVoteResult', from: intent.from, term: replyTerm, voteGranted: intent.voteGranted, preVote: true });
    }
    case 'appendEntries': {
      const prevLogIndex = Math.max(0, c.log.lastIndex + intent.prevOffset);
      const prevLogTerm = prevLogIndex === 0 ? 0 : Math.max(1, Math.min(t, intent.prevTerm === 'ours' ? (c.log.termAt(prevLogIndex) ?? t) : intent.prevTerm));
      // Entry terms never decrease, never fall below prevLogTerm, never exceed the message's term.
      let previous = prevLogTerm;
      const entries: LogEntry<unknown>[] = [...intent.entryTerms]
        .sort((a, b) => a - b)
        .map((raw, i) => {
          previous = Math.min(t, Math.max(previous, raw, 1));
          return { term: previous, index: prevLogIndex + 1 + i, command: `e${previous}` };
        });
      return wire({ type: 'rpc.appendEntries', from: intent.from, term: t, leaderId: intent.from, prevLogIndex, prevLogTerm, entries, leaderCommit: intent.leaderCommit, seq: 0 });
    }
    case 'appendEntriesResult': {
      const bound = (n: number) => (intent.honest ? Math.min(n, c.log.lastIndex) : n);
      return wire({
        type: 'rpc.appendEntriesResult',
        from: intent.from,
        term: t,
        requestTerm: t,
        success: intent.success,
        matchIndex: intent.success ? bound(intent.matchIndex) : 0,
        rejectedIndex: intent.success ? 0 : bound(intent.rejectedIndex),
        conflictTerm: Math.min(intent.conflictTerm, t),
        conflictIndex: intent.conflictIndex,
        seq: intent.honest ? Math.min(intent.seq, c.readSeq) : intent.seq,
      });
    }
  }
}

/** What the runtime would let through its edge: a message that fails the wire schema never reaches the machine. */
function wire(message: RaftEvent): RaftEvent | undefined {
  const parsed = parseRpcMessage(message);
  return parsed.ok ? message : undefined;
}

interface NodeSetup {
  readonly maxEntriesPerMessage: number;
  /** Pre-vote and check-quorum: on by default, off as ConsensusProtocol runs a node. */
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  /** Restart from storage (a log whose terms never decrease, up to the stored term), or start empty. */
  readonly persisted?: { currentTerm: Term; votedFor: NodeId | null; logTerms: number[] } | undefined;
}

const nodeSetup: fc.Arbitrary<NodeSetup> = fc.record({
  maxEntriesPerMessage: fc.integer({ min: 1, max: 3 }),
  preVote: fc.boolean(),
  checkQuorum: fc.boolean(),
  persisted: fc.option(
    fc.record({
      currentTerm: fc.integer({ min: 1, max: 3 }),
      votedFor: fc.constantFrom<NodeId | null>(null, 'n1', 'n2'),
      logTerms: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 3 }),
    }),
    { nil: undefined },
  ),
});

function inputOf(setup: NodeSetup): RaftNodeInput<unknown> {
  const p = setup.persisted;
  const persisted = p && {
    currentTerm: p.currentTerm,
    votedFor: p.votedFor,
    log: [...p.logTerms].sort((a, b) => a - b).map((t, i) => ({ term: Math.min(t, p.currentTerm), index: i + 1, command: `s${i}` })),
  };
  return {
    id: NODE,
    peers: PEERS,
    maxEntriesPerMessage: setup.maxEntriesPerMessage,
    preVote: setup.preVote,
    checkQuorum: setup.checkQuorum,
    ...(persisted ? { persisted } : {}),
  };
}

/** Runs the intents against a node; returns the first broken rule with the events that led to it. */
function firstFailure(machine: RaftNodeMachine, setup: NodeSetup, intents: readonly Intent[]): string | undefined {
  const node = new ReplayedNode(inputOf(setup), { machine });
  const sent: RaftEvent[] = [];
  try {
    if (node.started.violations.length > 0) return formatViolations(node.started.violations);
    for (const build of intents.flatMap(materialize)) {
      const event = build(node.snapshot);
      if (event === undefined) continue;
      sent.push(event);
      const step = node.send(event);
      const { unexpected, missing } = judgeStep(step.violations, expectedReports(step.prev, event));
      const problems = [...(unexpected.length > 0 ? [formatViolations(unexpected)] : []), ...missing.map((m) => `the node did not report: ${m}`)];
      if (problems.length > 0) return `${problems.join('\n')}\nevents:\n${sent.map((e, n) => `  ${n + 1}. ${describeEvent(e)}`).join('\n')}`;
    }
    return undefined;
  } finally {
    node.stop();
  }
}

const intents = fc.array(intent, { minLength: 1, maxLength: 50, size: 'max' });

describe('raftNodeMachine under random event sequences (fast-check)', () => {
  it('no sequence of events breaks a node invariant: terms, one vote per term, durable votes, leader append-only, truncation only on conflict, commit and apply order', () => {
    fc.assert(
      fc.property(nodeSetup, intents, (setup, xs) => {
        const failure = firstFailure(raftNodeMachine, setup, xs);
        expect(failure).toBeUndefined();
      }),
      { numRuns: NUM_RUNS },
    );
  });

  // The property has teeth: the same generator finds machines that break a rule.
  it.each([
    [
      'a node that votes twice in one term',
      raftNodeMachine.provide({
        guards: { canGrantVote: ({ context, event }) => event.type === 'rpc.requestVote' && event.term >= context.currentTerm },
      }),
    ],
    ['a leader that counts replicas of an older-term entry (Figure 8)', raftNodeMachine.provide({ guards: { isCommittableIndex: () => true } })],
    // A granted pre-vote echoes the term asked about, which must be above the voter's.
    ['a node that grants every pre-vote (stale terms too)', raftNodeMachine.provide({ guards: { canGrantPreVote: () => true } })],
  ])('the same sequences expose %s', (_name, mutant) => {
    const result = fc.check(
      fc.property(nodeSetup, intents, (setup, xs) => firstFailure(mutant, setup, xs) === undefined),
      // Measured over 30 seeds (1–30): each mutant is exposed within 40 runs.
      { numRuns: NUM_RUNS, endOnFailure: true },
    );
    expect(result.failed).toBe(true);
  });
});

// ---------------------------------------------------------------- the checker itself

function view(fields: Partial<Omit<NodeView, 'log'>> & { log?: readonly Term[] }): NodeView {
  const { log = [], ...rest } = fields;
  return {
    ...initialContext({ id: NODE, peers: PEERS }),
    log: RaftLog.from(log.map((term, i) => ({ term, index: i + 1, command: `c${i + 1}` }))),
    ...rest,
  };
}

const entry = (index: number, term: Term): LogEntry<unknown> => ({ term, index, command: `c${index}` });
const persist = (currentTerm: Term, votedFor: NodeId | null, entries: LogEntry<unknown>[] = [], truncateFrom?: number): RaftEffect => ({
  type: 'persist',
  hardState: { currentTerm, votedFor },
  entries,
  ...(truncateFrom !== undefined ? { truncateFrom } : {}),
});
const granted = (to: NodeId, term: Term): RaftEffect => ({
  type: 'send',
  to,
  message: { type: 'rpc.requestVoteResult', from: NODE, term, voteGranted: true },
});

describe('NodeInvariantChecker reports each broken rule', () => {
  const cases: [rule: string, prev: NodeView, next: NodeView, effects: RaftEffect[]][] = [
    [RULES.termNeverDecreases, view({ currentTerm: 2 }), view({ currentTerm: 1 }), [persist(1, null)]],
    [RULES.atMostOneVotePerTerm, view({ currentTerm: 1, votedFor: 'n2' }), view({ currentTerm: 1, votedFor: 'n3' }), [persist(1, 'n3'), granted('n3', 1)]],
    [RULES.grantedVotesAreDurable, view({ currentTerm: 1 }), view({ currentTerm: 1, votedFor: 'n2' }), [granted('n2', 1)]],
    [RULES.hardStateChangesArePersisted, view({ currentTerm: 1 }), view({ currentTerm: 2 }), []],
    [RULES.logChangesArePersisted, view({ currentTerm: 1 }), view({ currentTerm: 1, log: [1] }), []],
    [
      RULES.leaderNeverOverwritesItsEntries,
      view({ currentTerm: 2, role: 'leader', leaderId: NODE, log: [1, 2] }),
      view({ currentTerm: 2, role: 'leader', leaderId: NODE, log: [1] }),
      [persist(2, NODE, [], 2)],
    ],
    [RULES.truncateOnlyOnConflict, view({ currentTerm: 2, log: [1, 2] }), view({ currentTerm: 2, log: [1, 2] }), [persist(2, null, [entry(2, 2)], 2)]],
    [RULES.commitIndexNeverDecreases, view({ currentTerm: 1, log: [1], commitIndex: 1, lastApplied: 1 }), view({ currentTerm: 1, log: [1] }), []],
    [
      RULES.leaderCommitsOnlyCurrentTermEntries,
      view({ currentTerm: 2, role: 'leader', leaderId: NODE, log: [1, 2] }),
      view({ currentTerm: 2, role: 'leader', leaderId: NODE, log: [1, 2], commitIndex: 1, lastApplied: 1, matchIndex: { n2: 1 } }),
      [{ type: 'apply', entries: [entry(1, 1)] }],
    ],
    [
      RULES.appliesOnceInIndexOrder,
      view({ currentTerm: 1, log: [1, 1], commitIndex: 2 }),
      view({ currentTerm: 1, log: [1, 1], commitIndex: 2, lastApplied: 2 }),
      [{ type: 'apply', entries: [entry(2, 1)] }],
    ],
    [RULES.logIsWellFormed, view({ currentTerm: 1 }), view({ currentTerm: 1, log: [2] }), [persist(1, null, [entry(1, 2)])]],
    [
      RULES.messagesCarryCurrentTerm,
      view({ currentTerm: 2 }),
      view({ currentTerm: 2 }),
      [{ type: 'send', to: 'n2', message: { type: 'rpc.requestVoteResult', from: NODE, term: 1, voteGranted: false } }],
    ],
    [RULES.noReportedViolation, view({ currentTerm: 1 }), view({ currentTerm: 1 }), [{ type: 'invariantViolation', rule: 'x', detail: 'y' }]],
  ];

  it.each(cases)('reports "%s"', (rule, prev, next, effects) => {
    expect(new NodeInvariantChecker().check(prev, next, effects).map((v) => v.rule)).toContain(rule);
  });

  it('reports nothing for a vote granted, persisted and remembered', () => {
    const prev = view({ currentTerm: 1 });
    const next = view({ currentTerm: 2, votedFor: 'n2' });
    expect(new NodeInvariantChecker().check(prev, next, [persist(2, null), persist(2, 'n2'), granted('n2', 2)])).toEqual([]);
  });

  it('remembers the term across a restart: a node restarted at an older term is reported', () => {
    const checker = new NodeInvariantChecker();
    expect(checker.check(view({ currentTerm: 1 }), view({ currentTerm: 3 }), [persist(3, null)])).toEqual([]);
    checker.restarted();
    expect(checker.check(view({ currentTerm: 2 }), view({ currentTerm: 2 }), []).map((v) => v.rule)).toContain(RULES.termNeverDecreases);
  });

  it('remembers votes across a restart: a second vote in the same term is reported', () => {
    const checker = new NodeInvariantChecker();
    expect(checker.check(view({ currentTerm: 1 }), view({ currentTerm: 1, votedFor: 'n2' }), [persist(1, 'n2'), granted('n2', 1)])).toEqual([]);
    checker.restarted();
    // Storage lost the vote: the restarted node votes again in term 1.
    const again = checker.check(view({ currentTerm: 1 }), view({ currentTerm: 1, votedFor: 'n3' }), [persist(1, 'n3'), granted('n3', 1)]);
    expect(again.map((v) => v.rule)).toContain(RULES.atMostOneVotePerTerm);
  });
});
