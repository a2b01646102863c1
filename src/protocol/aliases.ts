/**
 * The seed's snake_case names (`node_id`, `request_vote`, …) as aliases of ConsensusProtocol's
 * own members: each alias gets the member's property descriptor, so `cp.request_vote ===
 * cp.requestVote` and `cp.current_term` is the same getter as `cp.currentTerm`. The class takes
 * their types by merging in SeedAliasMembers (src/protocol/consensus-protocol.ts).
 */
import type { LogIndex, NodeId, Term } from '../core/types.js';
import type { ConsensusProtocol } from './consensus-protocol.js';

/** The seed's snake_case names: aliases of the same members (the same functions and getters). */
export interface SeedAliasMembers {
  readonly node_id: NodeId;
  readonly current_term: Term;
  readonly voted_for: NodeId | null;
  readonly commit_index: LogIndex;
  readonly last_applied: LogIndex;
  request_vote: ConsensusProtocol['requestVote'];
  append_entries: ConsensusProtocol['appendEntries'];
  start_election: ConsensusProtocol['startElection'];
  become_leader: ConsensusProtocol['becomeLeader'];
  replicate_log: ConsensusProtocol['replicateLog'];
  is_consensus_reached: ConsensusProtocol['isConsensusReached'];
}

export const SEED_ALIASES = {
  node_id: 'nodeId',
  current_term: 'currentTerm',
  voted_for: 'votedFor',
  commit_index: 'commitIndex',
  last_applied: 'lastApplied',
  request_vote: 'requestVote',
  append_entries: 'appendEntries',
  start_election: 'startElection',
  become_leader: 'becomeLeader',
  replicate_log: 'replicateLog',
  is_consensus_reached: 'isConsensusReached',
} as const satisfies Record<string, keyof ConsensusProtocol>;

/** Define every alias of SEED_ALIASES on the class's prototype; run once, right after the class. */
export function installSeedAliases(cls: typeof ConsensusProtocol): void {
  for (const [alias, name] of Object.entries(SEED_ALIASES)) {
    const descriptor = Object.getOwnPropertyDescriptor(cls.prototype, name);
    if (descriptor === undefined) throw new Error(`internal: ConsensusProtocol has no member ${name} to alias as ${alias}`);
    Object.defineProperty(cls.prototype, alias, descriptor);
  }
}
