/**
 * Property: whatever sequence of events a node receives — elections, votes, AppendEntries of any
 * shape within a small range of terms and indexes, replies, proposals, reads — every step keeps the
 * node invariants that NodeInvariantChecker checks. Events are drawn as intents (a term relative to
 * the node's, indexes and terms from a small range) and made concrete against the node's current
 * state, then passed through the wire schema, as the runtime does at its edge.
 *
 * Some drawn inputs cannot happen in a correct cluster (a second leader in the node's term, a
 * leader rewriting an entry the node knows is committed, a reply about entries never sent). For
 * those the node must report the impossible input — and nothing else may break.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { raftNodeMachine, type RaftEvent, type RaftNodeMachine } from '../../machines/raft-node.js';
import type { LogEntry, NodeId, Term } from '../../src/core/types.js';
import { parseRpcMessage } from '../../src/core/validate.js';
import { formatViolations } from '../../src/sim/node-invariants.js';
import { describeEvent, NODE, PEERS, type RaftSnapshot } from '../model/raft-model.js';
import { ReplayedNode } from '../model/replay.js';
import { expectedReports, judgeStep } from '../model/reports.js';

const NUM_RUNS = 200;

type Intent =
  | { kind: 'timeout.election' | 'timeout.heartbeat' | 'client.read' }
  | { kind: 'client.propose'; count: number }
  | { kind: 'requestVote'; termDelta: number; from: NodeId; lastLogIndex: number; lastLogTerm: number; upToDate: boolean }
  | { kind: 'requestVoteResult'; termDelta: number; from: NodeId; voteGranted: boolean }
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
  { arbitrary: fc.constant(0), weight: 6 },
  { arbitrary: fc.constant(1), weight: 2 },
  { arbitrary: fc.constant(-1), weight: 1 },
  { arbitrary: fc.constant(2), weight: 1 },
);
const peer = fc.constantFrom<NodeId>('n2', 'n3');
const small = fc.integer({ min: 0, max: 5 });
const term = fc.integer({ min: 0, max: 4 });

const intent: fc.Arbitrary<Intent> = fc.oneof(
  { arbitrary: fc.constantFrom({ kind: 'timeout.election' as const }, { kind: 'timeout.heartbeat' as const }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('client.propose' as const), count: fc.integer({ min: 1, max: 2 }) }), weight: 1 },
  { arbitrary: fc.constant({ kind: 'client.read' as const }), weight: 1 },
  {
    arbitrary: fc.record({ kind: fc.constant('requestVote' as const), termDelta, from: peer, lastLogIndex: small, lastLogTerm: term, upToDate: fc.boolean() }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant('requestVoteResult' as const), termDelta, from: peer, voteGranted: fc.boolean() }), weight: 3 },
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
      honest: fc.boolean(),
    }),
    weight: 4,
  },
);

/** Turns an intent into an event for the node as it is now. */
function materialize(intent: Intent, snapshot: RaftSnapshot): RaftEvent | undefined {
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
      const [lastLogIndex, lastLogTerm] = intent.upToDate ? [c.log.lastIndex, c.log.lastTerm] : [intent.lastLogIndex, Math.min(intent.lastLogTerm, t)];
      return wire({ type: 'rpc.requestVote', from: intent.from, term: t, candidateId: intent.from, lastLogIndex, lastLogTerm });
    }
    case 'requestVoteResult':
      return wire({ type: 'rpc.requestVoteResult', from: intent.from, term: t, voteGranted: intent.voteGranted });
    case 'appendEntries': {
      const prevLogIndex = Math.max(0, c.log.lastIndex + intent.prevOffset);
      const prevLogTerm = prevLogIndex === 0 ? 0 : Math.max(1, Math.min(t, intent.prevTerm === 'ours' ? (c.log.termAt(prevLogIndex) ?? t) : intent.prevTerm));
      // Entry terms never decrease, never fall below prevLogTerm, never exceed the message's term.
      let previous = prevLogTerm;
      const entries: LogEntry<unknown>[] = [...intent.entryTerms].sort((a, b) => a - b).map((raw, i) => {
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

/** Runs the intents against a fresh node; returns the first broken rule with the events that led to it. */
function firstFailure(machine: RaftNodeMachine, intents: readonly Intent[], persisted?: { currentTerm: Term; votedFor: NodeId | null; log: LogEntry<unknown>[] }): string | undefined {
  const node = new ReplayedNode({ id: NODE, peers: PEERS, ...(persisted ? { persisted } : {}) }, { machine });
  const sent: RaftEvent[] = [];
  try {
    if (node.started.violations.length > 0) return formatViolations(node.started.violations);
    for (const i of intents) {
      const event = materialize(i, node.snapshot);
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

const intents = fc.array(intent, { minLength: 1, maxLength: 40 });
const persistedState = fc.option(
  fc.record({
    currentTerm: fc.integer({ min: 1, max: 3 }),
    votedFor: fc.constantFrom<NodeId | null>(null, 'n1', 'n2'),
    logTerms: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 3 }),
  }),
  { nil: undefined },
);

function toPersisted(p: { currentTerm: Term; votedFor: NodeId | null; logTerms: number[] } | undefined) {
  if (p === undefined) return undefined;
  const log = [...p.logTerms].sort((a, b) => a - b).map((t, i) => ({ term: Math.min(t, p.currentTerm), index: i + 1, command: `s${i}` }));
  return { currentTerm: p.currentTerm, votedFor: p.votedFor, log };
}

describe('raftNodeMachine under random event sequences (fast-check)', () => {
  it('no sequence of events breaks a node invariant: terms, one vote per term, durable votes, leader append-only, truncation only on conflict, commit and apply order', () => {
    fc.assert(
      fc.property(intents, persistedState, (xs, p) => {
        const failure = firstFailure(raftNodeMachine, xs, toPersisted(p));
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
  ])('the same sequences expose %s', (_name, mutant) => {
    const result = fc.check(
      fc.property(intents, persistedState, (xs, p) => firstFailure(mutant, xs, toPersisted(p)) === undefined),
      { numRuns: NUM_RUNS },
    );
    expect(result.failed).toBe(true);
  });
});
