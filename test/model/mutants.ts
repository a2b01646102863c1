/**
 * The node machine with one membership rule broken, built with `raftNodeMachine.provide(...)` (the
 * real code is untouched), for the tests that must catch each one: test/unit/machine-membership
 * (direct event sequences under the per-node invariants) and, by hand, the model's membership
 * scopes. Each name says the broken rule.
 */
import { enqueueActions } from 'xstate';
import { raftNodeMachine, type RaftNodeMachine } from '../../machines/raft-node.js';
import { followerCommitIndex } from '../../src/core/commit.js';
import { historyAfterAppend } from '../../src/core/configuration.js';
import { advanceLeaderCommit, progressOf, reconfigure, replicate, withProgress } from '../../src/core/leader.js';
import { mergeEntries } from '../../src/core/log.js';
import { applyCommitted, hardState, type EffectSink } from '../../src/core/node.js';
import { progressAfterSuccess } from '../../src/core/replication.js';
import { entriesAfterSnapshot } from '../../src/core/snapshot.js';

const provide = (implementations: Parameters<typeof raftNodeMachine.provide>[0]): RaftNodeMachine => raftNodeMachine.provide(implementations) as RaftNodeMachine;
const guards = (replaced: Parameters<typeof raftNodeMachine.provide>[0]['guards']): RaftNodeMachine => provide({ guards: replaced });

export const MUTANTS = {
  /** The 2015 bug: a change is appended before the leader has committed an entry of its term. */
  'appends a change before committing in its term': guards({ hasCommittedInTerm: () => true }),
  /** Two changes in flight: a second one is taken while the first is uncommitted. */
  'takes a change while another is uncommitted': guards({ hasConfigChangeInFlight: () => false }),
  /** A (pre-)candidate counts a grant from a server that is not a voter of its configuration. */
  'counts a non-voter’s vote': guards({ isFromVoter: () => true }),
  /** A leader whose removal of itself committed keeps leading. */
  'keeps leading after removing itself': guards({ isRemovedAndCommitted: () => false }),
  /** A learner, a removed or a joining server campaigns when its election timer fires. */
  'campaigns as a non-voter': guards({ mayCampaign: () => true }),
  /** A learner (or a removed server) campaigns when a leader sends it TimeoutNow. */
  'takes TimeoutNow as a non-voter': guards({ isSelfVoter: () => true }),
  /** A leader takes proposals and changes while it hands leadership over. */
  'ignores its transfer': guards({ isTransferring: () => false }),
  /** A leader counts its learners' acknowledgements toward commit (the rest of recordReplication as the real one). */
  'counts learners toward commit': raftNodeMachine.provide({
    actions: {
      recordReplication: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'rpc.appendEntriesResult' || !context.replicas.includes(event.from)) return;
        const sink: EffectSink = { emit: (effect) => enqueue.emit(effect), isCommittable: (entryTerm, currentTerm) => entryTerm === currentTerm };
        const progressed = { ...context, ...withProgress(context, event.from, progressAfterSuccess(progressOf(context, event.from), event.matchIndex)) };
        const committed = advanceLeaderCommit({ ...progressed, peers: context.replicas }, sink);
        enqueue.assign(replicate({ ...committed, peers: context.peers }, sink, false, event.from));
      }),
    },
  }) as RaftNodeMachine,
  /** A leader that removes itself still counts its own log toward commit (the rest of recordReplication as the real one). */
  'counts itself while removing itself': raftNodeMachine.provide({
    actions: {
      recordReplication: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'rpc.appendEntriesResult' || !context.replicas.includes(event.from)) return;
        const sink: EffectSink = { emit: (effect) => enqueue.emit(effect), isCommittable: (entryTerm, currentTerm) => entryTerm === currentTerm };
        const progressed = { ...context, ...withProgress(context, event.from, progressAfterSuccess(progressOf(context, event.from), event.matchIndex)) };
        const withSelf = { ...progressed.config, voters: [...new Set([...progressed.config.voters, context.id])] };
        const committed = advanceLeaderCommit({ ...progressed, config: withSelf }, sink);
        enqueue.assign(replicate({ ...committed, config: context.config }, sink, false, event.from));
      }),
    },
  }) as RaftNodeMachine,
  /**
   * A follower that merges a leader's entries but does not undo the configuration entries it
   * truncates (the rest of acceptEntries as the real one: persist, answer, commit, apply).
   */
  'keeps a truncated configuration in force': raftNodeMachine.provide({
    actions: {
      acceptEntries: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'rpc.appendEntries') return;
        const sink: EffectSink = { emit: (effect) => enqueue.emit(effect), isCommittable: (entryTerm, currentTerm) => entryTerm === currentTerm };
        const merged = mergeEntries(context.log, entriesAfterSnapshot(context.log, event) ?? event.entries);
        const lastNewIndex = event.prevLogIndex + event.entries.length;
        if (merged.truncatedFrom !== undefined || merged.appended.length > 0) {
          sink.emit({
            type: 'persist',
            hardState: hardState(context),
            entries: merged.appended,
            ...(merged.truncatedFrom !== undefined ? { truncateFrom: merged.truncatedFrom } : {}),
          });
        }
        const reply = { type: 'rpc.appendEntriesResult', from: context.id, term: context.currentTerm, success: true, matchIndex: lastNewIndex } as const;
        sink.emit({ type: 'send', to: event.leaderId, message: { ...reply, rejectedIndex: 0, conflictTerm: 0, conflictIndex: 0, requestTerm: event.term, seq: event.seq } });
        const commitIndex = followerCommitIndex(context.commitIndex, event.leaderCommit, lastNewIndex);
        // The bug: the history is appended to, never cut back to the truncation.
        const next = reconfigure(context, { ...context, log: merged.log, commitIndex }, historyAfterAppend(context.configs, merged.appended), sink);
        enqueue.assign(applyCommitted(next, sink));
      }),
    },
  }) as RaftNodeMachine,
} as const satisfies Record<string, RaftNodeMachine>;

/**
 * The core rules the simulator's mutant tests break (test/sim/mutants.test.ts) and the
 * exploration catches (test/explore/mutants.test.ts), one definition for both. Each name says the
 * broken rule.
 */
export const RULE_MUTANTS = {
  /** RequestVote receiver rule 1 and the vote of the term forgotten: any candidate of a term not below ours is granted. */
  'grants a second vote in a term': provide({ guards: { canGrantVote: ({ context, event }) => 'term' in event && event.term >= context.currentTerm } }),
  /** Figure 8: replicas counted for an entry of an earlier term (and no no-op, the other way old entries commit). */
  'commits an entry of an earlier term by counting replicas': provide({ guards: { isCommittableIndex: () => true }, actions: { appendNoop: () => {} } }),
  /** AppendEntries receiver rule 2 skipped: entries taken whatever the log holds at prevLogIndex. */
  'accepts entries without the log matching check': provide({ guards: { logMatchesPrev: ({ context, event }) => 'term' in event && event.term === context.currentTerm } }),
  /** §5.4.1 skipped: a vote (and a pre-vote) granted to a candidate whose log is behind. */
  'votes for a candidate whose log is behind': provide({
    guards: {
      canGrantVote: ({ context, event }) => event.type === 'rpc.requestVote' && (context.votedFor === null || context.votedFor === event.candidateId),
      canGrantPreVote: ({ context, event }) => 'term' in event && event.term > context.currentTerm && !context.heardFromLeader,
    },
  }),
  /** Issue 8, hole 1: a reply of our term to another term's request taken as an answer to ours (it confirms reads, moves progress). */
  "takes a reply to another term's request for an answer to its own": provide({
    guards: { answersCurrentTermRequest: ({ context, event }) => event.type === 'rpc.appendEntriesResult' && event.term === context.currentTerm },
  }),
  /** ReadIndex skipped: a read served at once at the commit index, without confirming leadership. */
  'serves reads without confirming it still leads': provide({
    actions: {
      admitReads: enqueueActions(({ context, event, enqueue }) => {
        const committedInTerm = context.log.termAt(context.commitIndex) === context.currentTerm;
        if (event.type === 'client.read' && committedInTerm) enqueue.emit({ type: 'readReady', requestIds: event.requestIds, index: context.commitIndex });
      }),
    },
  }),
} as const satisfies Record<string, RaftNodeMachine>;
