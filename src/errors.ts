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

/**
 * Someone else holds the lease (HTTP 409 `lease_held`): `holder` until `expiresAt` (the cluster's
 * replicated clock, ms), under fencing token `token`. Nothing changed; retry after `expiresAt`, or
 * watch the lease for its release.
 */
export class LeaseHeldError extends RaftError {
  constructor(
    readonly lease: string,
    readonly holder: string,
    readonly expiresAt: number,
    readonly token: number,
  ) {
    super('lease_held', `lease ${JSON.stringify(lease)} is held by ${JSON.stringify(holder)} (token ${token}) until ${expiresAt}; retry after that, or watch it for its release`);
  }
}

/**
 * The fencing token is not the current one (HTTP 409 `stale_token`): the lease or claim it names
 * expired, was released or completed, or was granted again since. Nothing changed. Whoever
 * carries it no longer owns what it names: stop acting on it, and acquire or claim again.
 */
export class StaleTokenError extends RaftError {
  constructor(
    readonly token: number,
    /** What happened to the grant, in a sentence (the message adds what to do). */
    readonly detail: string,
    readonly current?: { readonly holder: string; readonly token: number; readonly expiresAt: number },
  ) {
    super('stale_token', `fencing token ${token} is stale: ${detail}; stop acting on it and acquire or claim again`);
  }
}

/** What the request names does not exist (HTTP 404 `not_found`): nothing changed. */
export class NotFoundError extends RaftError {
  constructor(detail: string) {
    super('not_found', detail);
  }
}
