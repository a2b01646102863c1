/**
 * Whether a node really has a leader now, derived outside the machine: the machine keeps naming
 * the leader of its term until the term changes (Figure 2 has no "leader is gone" rule; a
 * follower cut off with its dead leader — pre-vote refused — may keep its term for a long time).
 * An operator asking "who leads?" wants the leader this node heard from recently, so:
 *
 * - a leader knows itself;
 * - a follower knows `leaderId` only while it heard from that leader, in the current term,
 *   within one election timeout (the longest one: the time after which it would itself start an
 *   election). "Heard" = it answered the leader's AppendEntries or InstallSnapshot of this term,
 *   or it just learned the leader (a `leader` event follows a message from it).
 */
import type { RaftEffect } from '../../machines/raft-node.js';
import type { NodeId } from '../core/types.js';
import type { NodeStatus, RaftNode } from '../runtime/raft-node.js';

export interface LeaderView {
  /** The leader this node knows and heard from within `window` ms; null otherwise. */
  leaderId: NodeId | null;
  /** Milliseconds since this node last heard from the leader it names (absent on a leader, or if never). */
  lastLeaderContactMs?: number;
}

export class LeaderContact {
  private contactAt: number | undefined;
  private contactTerm = -1;

  constructor(
    private readonly node: Pick<RaftNode, 'status' | 'on' | 'id'>,
    /** How long a contact counts: the longest election timeout, in ms. */
    readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {
    node.on('leader', ({ leaderId, term }) => {
      if (leaderId !== null) this.heard(term);
    });
  }

  /** Feed from the runtime's effect observer: a reply to the leader of this term is a contact. */
  observe(effect: RaftEffect): void {
    if (effect.type !== 'send') return;
    const message = effect.message as { type: string; term: number; requestTerm?: number };
    if (message.type !== 'rpc.appendEntriesResult' && message.type !== 'rpc.installSnapshotResult') return;
    const status = this.node.status();
    if (effect.to !== status.leaderId || (message.requestTerm ?? message.term) !== status.term) return;
    this.heard(status.term);
  }

  view(status: NodeStatus = this.node.status()): LeaderView {
    if (status.role === 'leader') return { leaderId: this.node.id };
    if (status.leaderId === null || this.contactAt === undefined || this.contactTerm !== status.term) return { leaderId: null };
    const age = Math.max(0, this.now() - this.contactAt);
    return { leaderId: age <= this.windowMs ? status.leaderId : null, lastLeaderContactMs: age };
  }

  private heard(term: number): void {
    this.contactAt = this.now();
    this.contactTerm = term;
  }
}
