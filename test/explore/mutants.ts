/**
 * The rules the simulator's mutant tests break (test/sim/mutants.test.ts), each built from the
 * real machine with `raftNodeMachine.provide(...)`, for the exploration to catch. Each name says
 * the broken rule.
 */
import { enqueueActions } from 'xstate';
import { raftNodeMachine, type RaftNodeMachine } from '../../machines/raft-node.js';

const provide = (implementations: Parameters<typeof raftNodeMachine.provide>[0]): RaftNodeMachine => raftNodeMachine.provide(implementations) as RaftNodeMachine;

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
