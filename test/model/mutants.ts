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

const guards = (replaced: Parameters<typeof raftNodeMachine.provide>[0]['guards']): RaftNodeMachine => raftNodeMachine.provide({ guards: replaced }) as RaftNodeMachine;

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
