import type { NodeId } from './core/types.js';

/** Base class of every error this library throws on purpose; `code` is stable for programs to branch on. */
export class RaftError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * The node is not the leader. `leaderId` (and `leaderAddress`, where the transport knows it) say
 * where to go instead; both are undefined when no leader is known — retry after an election.
 */
export class NotLeaderError extends RaftError {
  constructor(
    readonly leaderId: NodeId | undefined,
    readonly leaderAddress?: string,
  ) {
    super(
      'not_leader',
      leaderId === undefined
        ? 'this node is not the leader and no leader is known yet; retry after the election'
        : `this node is not the leader; send the request to ${leaderId}${leaderAddress ? ` at ${leaderAddress}` : ''}`,
    );
  }
}

/**
 * The request may or may not have taken effect (its leader lost office, or it timed out before
 * commit). Retry with the same client id and sequence number to have it applied at most once.
 */
export class OutcomeUnknownError extends RaftError {
  constructor(reason: string) {
    super('outcome_unknown', `${reason}; the outcome is unknown: the command may or may not be committed`);
  }
}

/** A request was refused without any effect (bad argument, wrong shape, out-of-range value). */
export class InvalidRequestError extends RaftError {
  constructor(message: string) {
    super('invalid_request', message);
  }
}

/** A node becomes leader only by winning a majority of votes in its term. */
export class NotElectedError extends RaftError {
  constructor(message: string) {
    super('not_elected', message);
  }
}

/** The node was stopped before the request reached its log: nothing happened; retry elsewhere. */
export class StoppedError extends RaftError {
  constructor(message = 'the node was stopped') {
    super('stopped', message);
  }
}

/** A read did not complete in time. Reads change nothing, so it is always safe to retry. */
export class ReadTimeoutError extends RaftError {
  constructor(ms: number, reason?: string) {
    super('timeout', `${reason ?? `the read did not complete within ${ms} ms (no leader could confirm it)`}; it had no effect, retry it`);
  }
}

/** `waitForLeader` gave up: the nodes did not agree on one leader of one term in time. Nothing changed. */
export class LeaderTimeoutError extends RaftError {
  constructor(ms: number, detail: string) {
    super(
      'leader_timeout',
      `no leader agreed on by every running node within ${ms} ms (${detail}); check that a majority of the nodes run and can reach each other, or wait longer`,
    );
  }
}

/**
 * Another configuration change is not yet committed (or leadership is being transferred): one
 * change at a time. Nothing changed; retry once the change in flight has committed.
 */
export class ConfigChangeInProgressError extends RaftError {
  constructor(detail: string) {
    super('config_change_in_progress', `${detail}; retry once it is over`);
  }
}

/** A leadership transfer did not complete: it was abandoned after an election timeout, or another voter won. The old leader serves again. */
export class LeadershipTransferError extends RaftError {
  constructor(detail: string) {
    super('transfer_failed', detail);
  }
}
