/**
 * The runtime's side of membership changes and leadership transfer: the callers waiting for a
 * configuration change to commit, or for a transfer to end, and what the machine said about each.
 * A change is answered once its entry is applied (committed), with its index and term; it fails
 * with ConfigChangeInProgressError / InvalidRequestError / NotLeaderError when the machine refused
 * it (nothing changed), and with OutcomeUnknownError when the leader lost office (or the time ran
 * out) after the entry was in its log. A transfer is answered once the target leads.
 */
import type { ConfigChange } from '../core/configuration.js';
import type { LogIndex, NodeId, Term } from '../core/types.js';
import { ConfigChangeInProgressError, InvalidRequestError, LeadershipTransferError, NotLeaderError, OutcomeUnknownError, StoppedError } from '../errors.js';
import type { Clock } from './clock.js';

interface WaitingChange {
  change: ConfigChange;
  index?: LogIndex;
  term?: Term;
  timer: unknown;
  resolve(value: { index: LogIndex; term: Term }): void;
  reject(error: unknown): void;
}

interface WaitingTransfer {
  to?: NodeId;
  timer: unknown;
  resolve(value: { leaderId: NodeId; term: Term }): void;
  reject(error: unknown): void;
}

export class MembershipRequests {
  private readonly changes = new Map<string, WaitingChange>();
  private readonly transfers = new Map<string, WaitingTransfer>();
  private nextRequest = 1;

  constructor(
    private readonly clock: Clock,
    /** ms before a change not yet committed, or a transfer not yet done, gives up. */
    private readonly timeout: number,
  ) {}

  /** A new change; `send` hands it to the machine under its request id. */
  change(change: ConfigChange, send: (requestId: string) => void): Promise<{ index: LogIndex; term: Term }> {
    const requestId = `c${this.nextRequest++}`;
    const answer = new Promise<{ index: LogIndex; term: Term }>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.changes.delete(requestId);
        reject(new OutcomeUnknownError(`the configuration change was not committed within ${this.timeout} ms`));
      }, this.timeout);
      this.changes.set(requestId, { change, timer, resolve, reject });
    });
    send(requestId);
    return answer;
  }

  accepted(requestId: string, index: LogIndex, term: Term): void {
    const waiting = this.changes.get(requestId);
    if (waiting === undefined) return;
    waiting.index = index;
    waiting.term = term;
  }

  rejected(requestId: string, reason: 'not_leader' | 'in_progress' | 'invalid', detail: string, leaderId: NodeId | null): void {
    const waiting = this.changes.get(requestId);
    if (waiting === undefined) return;
    const error =
      reason === 'not_leader' ? new NotLeaderError(leaderId ?? undefined) : reason === 'in_progress' ? new ConfigChangeInProgressError(detail) : new InvalidRequestError(detail);
    this.settle(requestId, waiting, undefined, error);
  }

  /** An entry was applied: the change that put it at this index (and term) is done; one whose entry was overwritten there failed. */
  applied(index: LogIndex, term: Term): void {
    if (this.changes.size === 0) return;
    for (const [requestId, waiting] of this.changes) {
      if (waiting.index !== index) continue;
      if (waiting.term === term) this.settle(requestId, waiting, { index, term });
      else this.settle(requestId, waiting, undefined, new OutcomeUnknownError("another entry was committed at the change's index"));
    }
  }

  /**
   * The leader lost office: changes already in its log may or may not commit — except those it
   * committed before it left (a leader that removed itself leaves in the batch that commits it):
   * their apply answers them.
   */
  abandon(commitIndex: LogIndex): void {
    for (const [requestId, waiting] of this.changes) {
      if (waiting.index !== undefined && waiting.index > commitIndex)
        this.settle(requestId, waiting, undefined, new OutcomeUnknownError('the leader lost office before the configuration change was committed'));
    }
  }

  // ------------------------------------------------------------ leadership transfer

  transfer(to: NodeId | undefined, send: (requestId: string) => void): Promise<{ leaderId: NodeId; term: Term }> {
    const requestId = `t${this.nextRequest++}`;
    const answer = new Promise<{ leaderId: NodeId; term: Term }>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.transfers.delete(requestId);
        reject(new LeadershipTransferError(`leadership did not move${to !== undefined ? ` to ${to}` : ''} within ${this.timeout} ms`));
      }, this.timeout);
      this.transfers.set(requestId, { ...(to !== undefined ? { to } : {}), timer, resolve, reject });
    });
    send(requestId);
    return answer;
  }

  transferStarted(requestId: string | undefined, to: NodeId): void {
    const waiting = requestId !== undefined ? this.transfers.get(requestId) : undefined;
    if (waiting !== undefined) waiting.to = to;
  }

  transferEnded(requestId: string | undefined, outcome: 'not_leader' | 'in_progress' | 'refused' | 'abandoned', detail: string, leaderId: NodeId | null): void {
    const waiting = requestId !== undefined ? this.transfers.get(requestId) : undefined;
    if (waiting === undefined) return;
    this.transfers.delete(requestId as string);
    this.clock.clearTimeout(waiting.timer);
    waiting.reject(
      outcome === 'not_leader'
        ? new NotLeaderError(leaderId ?? undefined)
        : outcome === 'in_progress'
          ? new ConfigChangeInProgressError(detail)
          : outcome === 'refused'
            ? new InvalidRequestError(detail)
            : new LeadershipTransferError(detail),
    );
  }

  /** A leader is known: the transfers to it are done; those to another voter failed (someone else won). */
  leaderIs(leaderId: NodeId, term: Term): void {
    for (const [requestId, waiting] of this.transfers) {
      if (waiting.to === undefined) continue;
      this.transfers.delete(requestId);
      this.clock.clearTimeout(waiting.timer);
      if (waiting.to === leaderId) waiting.resolve({ leaderId, term });
      else waiting.reject(new LeadershipTransferError(`${leaderId} was elected in term ${term} instead of ${waiting.to}`));
    }
  }

  stop(): void {
    for (const [requestId, waiting] of this.changes) {
      this.settle(
        requestId,
        waiting,
        undefined,
        waiting.index !== undefined ? new OutcomeUnknownError('the node stopped after the configuration change entered its log') : new StoppedError(),
      );
    }
    for (const [requestId, waiting] of this.transfers) {
      this.transfers.delete(requestId);
      this.clock.clearTimeout(waiting.timer);
      waiting.reject(new StoppedError());
    }
  }

  private settle(requestId: string, waiting: WaitingChange, value: { index: LogIndex; term: Term } | undefined, error?: unknown): void {
    this.changes.delete(requestId);
    this.clock.clearTimeout(waiting.timer);
    if (error !== undefined) waiting.reject(error);
    else waiting.resolve(value as { index: LogIndex; term: Term });
  }
}
