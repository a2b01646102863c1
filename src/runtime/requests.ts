/**
 * The leader's waiting client requests: proposals and reads from the moment they are made until
 * they are answered. Requests queue during a turn and enter the machine as one batch; the machine
 * then names them by request id (accepted/rejected, readReady/readRejected) and proposals become
 * known by log index until applied. Each is settled exactly once: by its result, by its timer,
 * when the leader loses office (OutcomeUnknownError), or when the node stops (StoppedError for
 * what never reached the log, OutcomeUnknownError for proposals already in it).
 */
import type { LogEntry, LogIndex, NodeId, Term } from '../core/types.js';
import { InvalidRequestError, NotLeaderError, OutcomeUnknownError, ReadTimeoutError, StoppedError } from '../errors.js';
import type { Clock } from './clock.js';
import type { ProposeResult } from './raft-node.js';

interface Deferred<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

export interface WaitingProposal<R> extends Deferred<ProposeResult<R>> {
  command: unknown;
  index?: LogIndex;
  term?: Term;
  timer?: unknown;
}

interface WaitingRead<QR> extends Deferred<QR> {
  query: unknown;
}

export interface RequestTimeouts {
  /** ms before a proposal is rejected with OutcomeUnknownError. Default 10 000. */
  proposalTimeout?: number;
  /** ms before a read is rejected with ReadTimeoutError. Default 10 000. */
  readTimeout?: number;
}

export class WaitingRequests<R, QR> {
  private queuedProposals: WaitingProposal<R>[] = [];
  private readonly proposalsByRequest = new Map<string, WaitingProposal<R>[]>();
  private readonly proposalsByIndex = new Map<LogIndex, WaitingProposal<R>>();
  private queuedReads: WaitingRead<QR>[] = [];
  private readonly readsByRequest = new Map<string, WaitingRead<QR>>();
  private readonly readsReady: { index: LogIndex; reads: WaitingRead<QR>[] }[] = [];
  private nextRequest = 1;

  constructor(
    private readonly clock: Clock,
    private readonly timeouts: RequestTimeouts,
  ) {}

  // ------------------------------------------------------------ new requests

  /** Queue a proposal for the next batch; its timer starts now. */
  propose(command: unknown): Promise<ProposeResult<R>> {
    return new Promise<ProposeResult<R>>((resolve, reject) => {
      const waiting: WaitingProposal<R> = { command, resolve, reject };
      const timeout = this.timeouts.proposalTimeout ?? 10_000;
      waiting.timer = this.clock.setTimeout(() => {
        this.forgetProposal(waiting);
        reject(new OutcomeUnknownError(`the proposal was not applied within ${timeout} ms`));
      }, timeout);
      this.queuedProposals.push(waiting);
    });
  }

  /** Queue a read for the next batch; its timer starts now. */
  read(query: unknown): Promise<QR> {
    return new Promise<QR>((resolve, reject) => {
      const timeout = this.timeouts.readTimeout ?? 10_000;
      const timer = this.clock.setTimeout(() => {
        this.forgetRead(waiting);
        reject(new ReadTimeoutError(timeout));
      }, timeout);
      const settle = () => this.clock.clearTimeout(timer);
      const waiting: WaitingRead<QR> = {
        query,
        resolve: (value) => (settle(), resolve(value)),
        reject: (error) => (settle(), reject(error)),
      };
      this.queuedReads.push(waiting);
    });
  }

  // ------------------------------------------------------------ into the machine

  /** The proposals queued this turn, under one new request id (undefined if none). */
  takeQueuedProposals(): { requestId: string; commands: unknown[] } | undefined {
    if (this.queuedProposals.length === 0) return undefined;
    const proposals = this.queuedProposals;
    this.queuedProposals = [];
    const requestId = `p${this.nextRequest++}`;
    this.proposalsByRequest.set(requestId, proposals);
    return { requestId, commands: proposals.map((p) => p.command) };
  }

  /** The reads queued this turn, one new request id each (undefined if none). */
  takeQueuedReads(): string[] | undefined {
    if (this.queuedReads.length === 0) return undefined;
    const reads = this.queuedReads;
    this.queuedReads = [];
    return reads.map((read) => {
      const requestId = `r${this.nextRequest++}`;
      this.readsByRequest.set(requestId, read);
      return requestId;
    });
  }

  // ------------------------------------------------------------ what the machine said

  /** The machine appended a batch: its proposals now wait by log index. */
  proposalsAccepted(requestId: string | undefined, entries: readonly { index: LogIndex; term: Term }[]): void {
    const proposals = requestId !== undefined ? this.proposalsByRequest.get(requestId) : undefined;
    if (proposals === undefined) return;
    this.proposalsByRequest.delete(requestId as string);
    entries.forEach((entry, i) => {
      const p = proposals[i];
      if (p === undefined) return;
      p.index = entry.index;
      p.term = entry.term;
      this.proposalsByIndex.set(entry.index, p);
    });
  }

  /** The machine refused a batch (not the leader): nothing reached the log. */
  proposalsRejected(requestId: string | undefined, leaderId: NodeId | null, reserved = false): void {
    const proposals = requestId !== undefined ? this.proposalsByRequest.get(requestId) : undefined;
    if (proposals === undefined) return;
    this.proposalsByRequest.delete(requestId as string);
    const error = reserved ? new InvalidRequestError("commands of type raft.config and raft.noop are Raft's own") : new NotLeaderError(leaderId ?? undefined);
    for (const p of proposals) this.settleProposal(p, undefined, error);
  }

  /** These reads may be served once the state machine has applied `index`. */
  readsReadyAt(requestIds: readonly string[], index: LogIndex): void {
    const reads = requestIds.flatMap((id) => this.takeRead(id));
    if (reads.length > 0) this.readsReady.push({ index, reads });
  }

  readsRejected(requestIds: readonly string[], leaderId: NodeId | null): void {
    const error = new NotLeaderError(leaderId ?? undefined);
    for (const read of requestIds.flatMap((id) => this.takeRead(id))) read.reject(error);
  }

  /**
   * Leadership lost before commit: we cannot know whether the entries will survive — except those
   * committed before it left (in the batch that, say, commits the leader's own removal): their
   * apply answers them.
   */
  abandonProposals(commitIndex: LogIndex): void {
    const error = new OutcomeUnknownError('the leader lost office before the proposal was committed');
    for (const p of this.allWaitingProposals()) if (p.index === undefined || p.index > commitIndex) this.settleProposal(p, undefined, error);
  }

  // ------------------------------------------------------------ apply

  /** The proposal waiting for the entry at `index`, no longer waiting. */
  takeProposalAt(index: LogIndex): WaitingProposal<R> | undefined {
    const waiting = this.proposalsByIndex.get(index);
    if (waiting !== undefined) this.proposalsByIndex.delete(index);
    return waiting;
  }

  /** Answer `p` with the applied entry's result, unless another entry (another term's) took its index. */
  answerApplied(p: WaitingProposal<R>, entry: LogEntry<unknown>, result: R): void {
    if (p.term === entry.term) this.settleProposal(p, { index: entry.index, term: entry.term, result });
    else this.answerSuperseded(p);
  }

  /** Another entry was committed at the proposal's index. */
  answerSuperseded(p: WaitingProposal<R>): void {
    this.settleProposal(p, undefined, new OutcomeUnknownError("another entry was committed at the proposal's index"));
  }

  /** Serve, in order, every read whose index the state machine has reached. */
  serveReadyReads(appliedIndex: LogIndex, query: (query: unknown) => QR): void {
    while (this.readsReady.length > 0 && (this.readsReady[0]?.index ?? Infinity) <= appliedIndex) {
      const batch = this.readsReady.shift() as { reads: WaitingRead<QR>[] };
      for (const read of batch.reads) {
        try {
          read.resolve(query(read.query));
        } catch (error) {
          read.reject(error);
        }
      }
    }
  }

  // ------------------------------------------------------------ stop

  /**
   * The node stopped. A proposal still queued never reached the log: nothing happened. One the
   * machine has taken may already be on a majority and commit without us: its outcome is unknown.
   */
  stop(): void {
    const error = new StoppedError('the node stopped before the request finished; it never reached the log');
    const inLog = new OutcomeUnknownError('the node stopped after the proposal entered its log');
    for (const p of this.queuedProposals) this.settleProposal(p, undefined, error);
    for (const p of this.allWaitingProposals()) this.settleProposal(p, undefined, inLog);
    for (const r of [...this.queuedReads, ...this.readsByRequest.values(), ...this.readsReady.flatMap((b) => b.reads)]) r.reject(error);
    this.queuedReads = [];
    this.readsByRequest.clear();
    this.readsReady.length = 0;
  }

  // ------------------------------------------------------------ bookkeeping

  private forgetRead(read: WaitingRead<QR>): void {
    this.queuedReads = this.queuedReads.filter((r) => r !== read);
    for (const [id, r] of this.readsByRequest) if (r === read) this.readsByRequest.delete(id);
  }

  private takeRead(requestId: string): WaitingRead<QR>[] {
    const read = this.readsByRequest.get(requestId);
    if (read === undefined) return [];
    this.readsByRequest.delete(requestId);
    return [read];
  }

  private allWaitingProposals(): WaitingProposal<R>[] {
    return [...this.queuedProposals, ...[...this.proposalsByRequest.values()].flat(), ...this.proposalsByIndex.values()];
  }

  private forgetProposal(p: WaitingProposal<R>): void {
    this.queuedProposals = this.queuedProposals.filter((q) => q !== p);
    if (p.index !== undefined && this.proposalsByIndex.get(p.index) === p) this.proposalsByIndex.delete(p.index);
    for (const [id, list] of this.proposalsByRequest) {
      const rest = list.filter((q) => q !== p);
      if (rest.length !== list.length) this.proposalsByRequest.set(id, rest);
    }
  }

  /** Answer a proposal exactly once. */
  private settleProposal(p: WaitingProposal<R>, value: ProposeResult<R> | undefined, error?: unknown): void {
    this.forgetProposal(p);
    if (p.timer !== undefined) this.clock.clearTimeout(p.timer);
    if (error !== undefined) p.reject(error);
    else p.resolve(value as ProposeResult<R>);
  }
}
