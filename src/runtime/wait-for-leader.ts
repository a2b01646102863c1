/**
 * waitForLeader: resolve once the given nodes agree on a leader, so an example or an agent can
 * propose without meeting `NotLeaderError: … no leader is known yet` right after start.
 *
 * It listens to each node's `leader`, `role` and `failed` events and checks agreement then (and
 * once at the start); the only timer is the timeout, set on the nodes' clock (pass the
 * simulator's VirtualClock to wait in virtual time).
 */
import type { NodeId, Term } from '../core/types.js';
import { InvalidRequestError, LeaderTimeoutError } from '../errors.js';
import { systemClock, type Clock } from './clock.js';
import type { NodeStatus } from './raft-node.js';

/** What waitForLeader needs of a node: a RaftNode has all of it. */
export interface LeaderWatchable {
  readonly id: NodeId;
  readonly stopped: boolean;
  status(): NodeStatus;
  on(event: 'leader' | 'role' | 'failed', listener: () => void): () => void;
}

export interface WaitForLeaderOptions {
  /** Give up after this many ms (by `clock`) with LeaderTimeoutError. Default 10 000. */
  timeout?: number;
  /** The clock the nodes run on (default the system clock; a VirtualClock in the simulator). */
  clock?: Clock;
}

/**
 * Resolves with the leader node once every given node that is running (not stopped) names the
 * same leader in the same term, and that leader is one of the given nodes and leads that term.
 * Rejects with LeaderTimeoutError after `timeout` ms, and with InvalidRequestError at once for an
 * empty list or a bad timeout. Agreement is a moment, not a promise: the leader may lose office
 * later, which `propose` and `read` handle (forwarding, NotLeaderError, OutcomeUnknownError).
 */
export function waitForLeader<N extends LeaderWatchable>(nodes: readonly N[], options: WaitForLeaderOptions = {}): Promise<N> {
  const timeout = options.timeout ?? 10_000;
  const clock = options.clock ?? systemClock;
  if (!Array.isArray(nodes) || nodes.length === 0) return Promise.reject(new InvalidRequestError('waitForLeader needs at least one node'));
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout < 0) {
    return Promise.reject(new InvalidRequestError(`waitForLeader refused: timeout = ${String(timeout)} is not a finite number of ms ≥ 0`));
  }
  return new Promise<N>((resolve, reject) => {
    const unsubscribe: (() => void)[] = [];
    let settled = false;
    let timer: unknown;
    const settle = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      for (const off of unsubscribe) off();
      outcome();
    };
    const check = (): void => {
      const leader = agreedLeader(nodes);
      if (leader !== undefined) settle(() => resolve(leader));
    };
    for (const node of nodes) for (const event of ['leader', 'role', 'failed'] as const) unsubscribe.push(node.on(event, check));
    timer = clock.setTimeout(() => settle(() => reject(new LeaderTimeoutError(timeout, describe(nodes)))), timeout);
    check();
  });
}

function agreedLeader<N extends LeaderWatchable>(nodes: readonly N[]): N | undefined {
  const running = nodes.filter((node) => !node.stopped);
  if (running.length === 0) return undefined;
  let agreed: { leaderId: NodeId; term: Term } | undefined;
  for (const node of running) {
    const { leaderId, term } = node.status();
    if (leaderId === null) return undefined;
    if (agreed === undefined) agreed = { leaderId, term };
    else if (agreed.leaderId !== leaderId || agreed.term !== term) return undefined;
  }
  const leader = running.find((node) => node.id === agreed?.leaderId);
  if (leader === undefined) return undefined;
  const status = leader.status();
  return status.role === 'leader' && status.term === agreed?.term ? leader : undefined;
}

/** What each node thought when we gave up, for the error message. */
function describe(nodes: readonly LeaderWatchable[]): string {
  return nodes
    .map((node) => {
      if (node.stopped) return `${node.id}: stopped`;
      const { role, term, leaderId } = node.status();
      return `${node.id}: ${role} of term ${term}, leader ${leaderId ?? 'unknown'}`;
    })
    .join('; ');
}
