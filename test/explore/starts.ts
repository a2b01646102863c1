/**
 * Disks a cluster can start from, each one a state a correct cluster reaches (what led there is
 * said beside it), so that a schedule deep in a cluster's life is a short one from here.
 */
import { configCommand } from '../../src/core/configuration.js';
import type { LogEntry, NodeId } from '../../src/core/types.js';
import type { PersistedState } from '../../src/storage/storage.js';
import { NODES } from './cluster.js';

/** The entry the first leader writes at index 1: the bootstrap configuration (machines/raft-node.ts, appendNoop). */
const BOOTSTRAP: LogEntry<unknown> = { index: 1, term: 1, command: configCommand({ voters: [...NODES], learners: [] }) };

const disk = (currentTerm: number, votedFor: NodeId | null, ...entries: LogEntry<unknown>[]): PersistedState => ({ hardState: { currentTerm, votedFor }, entries });

/** n1 led term 1 and every node holds its first entry; no one knows it is committed. */
export const AFTER_FIRST_TERM: Readonly<Record<NodeId, PersistedState>> = {
  n1: disk(1, 'n1', BOOTSTRAP),
  n2: disk(1, 'n1', BOOTSTRAP),
  n3: disk(1, 'n1', BOOTSTRAP),
};

/**
 * Figure 8 of the Raft paper, on three nodes, at (b): n1 led term 2 and appended `a` at index 2,
 * which reached no one; n3 was elected in term 3 by n2 and appended `b` at index 2, which reached
 * no one either; n1 learned of term 3 (it refused n3's vote: its log is the longer one).
 */
export const FIGURE_8: Readonly<Record<NodeId, PersistedState>> = {
  n1: disk(3, null, BOOTSTRAP, { index: 2, term: 2, command: 'a' }),
  n2: disk(3, 'n3', BOOTSTRAP),
  n3: disk(3, 'n3', BOOTSTRAP, { index: 2, term: 3, command: 'b' }),
};

/** Figure 8's start, explored with pre-vote and check-quorum off (shorter elections), terms up to 6. */
export const FIGURE_8_SCOPE = { disks: FIGURE_8, input: { preVote: false, checkQuorum: false }, bounds: { maxTerm: 6 } } as const;
