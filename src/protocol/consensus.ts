/**
 * The seed's majority rule behind ConsensusProtocol.isConsensusReached: count the acceptances
 * among the given responses (booleans, or `{ voteGranted }` / `{ success }` replies, in an array,
 * a Map or an object keyed by node id), each node once, and ask whether they are a majority of
 * the cluster. Nothing else is inferred: this node's own vote is not added, terms are not read.
 */
import { isMajority } from '../core/quorum.js';
import type { NodeId, Term } from '../core/types.js';
import { InvalidRequestError } from '../errors.js';
import { show } from './validation.js';

/** One response for isConsensusReached: a boolean, or a reply carrying `voteGranted` or `success`. */
export type ConsensusResponse =
  | boolean
  | { readonly voteGranted: boolean; readonly from?: NodeId; readonly term?: Term; readonly candidateId?: NodeId }
  | { readonly success: boolean; readonly from?: NodeId };

export type ConsensusResponses = readonly ConsensusResponse[] | ReadonlyMap<NodeId, ConsensusResponse> | Readonly<Record<NodeId, ConsensusResponse>>;

/**
 * `acceptances > allNodes / 2` over `responses`, for the cluster `allNodes` (this node and its
 * peers). See ConsensusProtocol.isConsensusReached for the rules.
 * @throws InvalidRequestError for a response of another shape, a node id outside the cluster,
 *   or more responses than there are nodes.
 */
export function consensusReached(responses: ConsensusResponses, allNodes: readonly NodeId[]): boolean {
  const what = 'isConsensusReached refused';
  const acceptedBy = new Set<NodeId>();
  const respondedBy = new Set<NodeId>();
  let anonymousResponses = 0;
  let anonymousAcceptances = 0;
  const count = (value: unknown, where: string, key?: NodeId): void => {
    const accepted = acceptanceOf(value, where, what);
    const from = typeof value === 'object' && value !== null && 'from' in value ? (value as { from: unknown }).from : undefined;
    if (key !== undefined && from !== undefined && from !== key) {
      throw new InvalidRequestError(`${what}: ${where} is a reply from ${show(from)}, filed under ${JSON.stringify(key)}`);
    }
    const id = key ?? from;
    if (id === undefined) {
      anonymousResponses++;
      if (accepted) anonymousAcceptances++;
      return;
    }
    if (typeof id !== 'string' || !allNodes.includes(id)) {
      throw new InvalidRequestError(`${what}: ${where} names ${show(id)}, which is not a node of this cluster (${allNodes.join(', ')})`);
    }
    respondedBy.add(id);
    if (accepted) acceptedBy.add(id);
  };

  if (Array.isArray(responses)) {
    (responses as readonly unknown[]).forEach((r, i) => count(r, `responses[${i}]`));
  } else if (responses instanceof Map) {
    for (const [key, value] of responses as ReadonlyMap<unknown, unknown>) {
      if (typeof key !== 'string') throw new InvalidRequestError(`${what}: map keys must be node ids, got ${show(key)}`);
      count(value, `responses.get(${JSON.stringify(key)})`, key);
    }
  } else if (typeof responses === 'object' && responses !== null) {
    for (const [key, value] of Object.entries(responses)) count(value, `responses[${JSON.stringify(key)}]`, key);
  } else {
    throw new InvalidRequestError(`${what}: responses must be an array, a Map or an object keyed by node id, got ${show(responses)}`);
  }

  const total = anonymousResponses + respondedBy.size;
  if (total > allNodes.length) {
    throw new InvalidRequestError(`${what}: ${total} responses for a cluster of ${allNodes.length} nodes`);
  }
  return isMajority(anonymousAcceptances + acceptedBy.size, allNodes.length);
}

/** Whether one response accepts: a boolean, or the `voteGranted` / `success` of a reply (exactly one of them). */
function acceptanceOf(value: unknown, where: string, what: string): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'object' && value !== null) {
    const { voteGranted, success } = value as { voteGranted?: unknown; success?: unknown };
    if (typeof voteGranted === 'boolean' && success === undefined) return voteGranted;
    if (typeof success === 'boolean' && voteGranted === undefined) return success;
  }
  throw new InvalidRequestError(`${what}: ${where} must be a boolean, a { voteGranted } reply or a { success } reply, got ${show(value)}`);
}

/** Votes that can be handed to a candidate's actor: who granted a vote in which term, and how many responses name nobody. */
export interface VoteEvidence {
  /** The granted votes, in order: a vote reply (`from`, `term`, `voteGranted: true`), or one filed under its voter's id. */
  readonly granted: readonly { readonly voter: NodeId; readonly term: Term; readonly candidateId: unknown }[];
  /** Booleans and replies without `from` or `term`: they cannot say who voted, or in which term. */
  readonly anonymous: number;
}

/**
 * The granted votes among `responses` (already checked by consensusReached), for a candidate to
 * count: a reply that names its voter (its `from`, or the key it is filed under) and its `term`.
 * Nothing is judged here: the candidate's actor decides what counts (its term, its voters).
 */
export function voteEvidenceOf(responses: ConsensusResponses): VoteEvidence {
  const granted: { voter: NodeId; term: Term; candidateId: unknown }[] = [];
  let anonymous = 0;
  const look = (value: unknown, key?: NodeId): void => {
    if (typeof value !== 'object' || value === null || !('voteGranted' in value)) {
      if (typeof value === 'boolean') anonymous++;
      return;
    }
    const { from, term, voteGranted, candidateId } = value as { from?: unknown; term?: unknown; voteGranted: unknown; candidateId?: unknown };
    const voter = key ?? from;
    if (typeof voter !== 'string' || typeof term !== 'number') anonymous++;
    else if (voteGranted === true) granted.push({ voter, term, candidateId });
  };
  if (Array.isArray(responses)) for (const r of responses as readonly unknown[]) look(r);
  else if (responses instanceof Map) for (const [key, value] of responses as ReadonlyMap<NodeId, unknown>) look(value, key);
  else for (const [key, value] of Object.entries(responses)) look(value, key);
  return { granted, anonymous };
}
