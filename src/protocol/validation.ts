/**
 * ConsensusProtocol's checks at the edge: the schemas of its constructor arguments, turning a
 * zod failure into one readable InvalidRequestError, and the checks that need the node's own
 * view (a sender inside the cluster and not this node, a reply that speaks of the leader's log,
 * an entry at the leader's next index). Every refusal is thrown before the actor sees anything.
 */
import { z } from 'zod';
import type { RaftContext } from '../../machines/raft-node.js';
import type { AppendEntries, LogIndex, NodeId, Role, RpcMessage, Term } from '../core/types.js';
import { describeIssues, show } from '../edge.js';
import { InvalidRequestError } from '../errors.js';
import { LocalNetwork } from '../local-network.js';
import { ownCopy } from '../runtime/command-copy.js';
import type { ActorClock, ConsensusProtocolOptions } from './types.js';

const nodeIdSchema = z.string().min(1).max(256);
const positiveInt = z.number().int().positive();

const optionsSchema = z
  .strictObject({
    network: z.instanceof(LocalNetwork).optional(),
    clock: z
      .custom<ActorClock>(
        (c) => typeof c === 'object' && c !== null && typeof (c as ActorClock).setTimeout === 'function' && typeof (c as ActorClock).clearTimeout === 'function',
        { message: 'a clock needs setTimeout(fn, ms) and clearTimeout(handle)' },
      )
      .optional(),
    electionTimeout: z
      .tuple([positiveInt, positiveInt])
      .refine(([min, max]) => min <= max, { message: 'electionTimeout is [min, max] with min ≤ max' })
      .optional(),
    heartbeatInterval: positiveInt.optional(),
    seed: z.number().int().optional(),
    maxEntriesPerMessage: positiveInt.optional(),
    preVote: z.boolean().optional(),
    checkQuorum: z.boolean().optional(),
  })
  .refine((o) => (o.heartbeatInterval ?? 50) < (o.electionTimeout?.[0] ?? 150), {
    message: 'heartbeatInterval must be below the minimum election timeout, or followers start elections under a healthy leader',
  });

const constructorArgsSchema = z.object({ nodeId: nodeIdSchema, peers: z.array(nodeIdSchema), options: optionsSchema });

/**
 * The constructor's arguments, checked (parsed copies).
 * @throws InvalidRequestError for an empty or non-string id, a non-array `peers`, or a bad option
 */
export function parseConstructorArgs(nodeId: NodeId, peers: readonly NodeId[], options: ConsensusProtocolOptions) {
  const args = constructorArgsSchema.safeParse({ nodeId, peers, options });
  if (!args.success) {
    throw new InvalidRequestError(`new ConsensusProtocol refused: ${describeIssues(args.error, { nodeId, peers, options })}`);
  }
  return args.data;
}

export { describeIssues, parseAtEdge, show } from '../edge.js';

export function isEnvelope(input: unknown): input is { to: unknown; message: unknown } {
  return typeof input === 'object' && input !== null && 'to' in input && 'message' in input && !('type' in input);
}

/** An object with `command` and a `term` or `index` is a log entry; anything else is a command. */
export function looksLikeEntry(input: unknown): input is Record<string, unknown> {
  return typeof input === 'object' && input !== null && !Array.isArray(input) && 'command' in input && ('term' in input || 'index' in input);
}

/** `id` names another node of the cluster: one of `allNodes`, and not `self`. */
export function assertOtherNode(id: unknown, field: string, what: string, self: NodeId, allNodes: readonly NodeId[]): void {
  if (typeof id !== 'string' || !allNodes.includes(id)) {
    throw new InvalidRequestError(`${what}: ${field} = ${show(id)} is not a node of this cluster (${allNodes.join(', ')})`);
  }
  if (id === self) {
    throw new InvalidRequestError(`${what}: ${field} is this node itself (${id}); a node sends RPCs only to other nodes`);
  }
}

/**
 * A leader never shortens its log within its term, so an honest reply of its term speaks only of
 * indexes it has. The machine trusts matchIndex and rejectedIndex; one past the end (corrupt or
 * forged) would count a replica that does not exist and wedge that follower's nextIndex past the
 * log for good. Refuse it here, at the edge.
 */
export function assertAnswersOurLog(message: RpcMessage, role: Role, context: Pick<RaftContext, 'currentTerm' | 'log'>, what: string): void {
  if (message.type !== 'rpc.appendEntriesResult' || role !== 'leader') return;
  const { currentTerm, log } = context;
  const claimed = Math.max(message.matchIndex, message.rejectedIndex);
  if (message.term === currentTerm && message.requestTerm === currentTerm && claimed > log.lastIndex) {
    throw new InvalidRequestError(
      `${what}: ${message.from} answers about index ${claimed}, but this leader's log ends at ${log.lastIndex}; ` +
        `no AppendEntries of term ${currentTerm} can have asked about it`,
    );
  }
}

/** An entry handed to replicateLog must be exactly the leader's next one: its current term, one past its last index. */
export function assertNextEntry(entry: { term: Term; index: LogIndex }, currentTerm: Term, lastIndex: LogIndex, what: string): void {
  if (entry.index !== lastIndex + 1 || entry.term !== currentTerm) {
    throw new InvalidRequestError(
      `${what}: the entry has term ${entry.term} and index ${entry.index}, but the leader's next entry ` +
        `is term ${currentTerm}, index ${lastIndex + 1}; pass the command alone to have them filled in`,
    );
  }
}

/**
 * The command as the log keeps it: its JSON copy, deep-frozen, as RaftNode's propose keeps it
 * (what the followers receive is then exactly what this node applies).
 * @throws InvalidRequestError naming what is not JSON and where
 */
export function jsonCommand(command: unknown, what: string): unknown {
  try {
    return ownCopy(command);
  } catch (error) {
    throw new InvalidRequestError(`${what}: ${(error as Error).message}`);
  }
}

/** AppendEntries whose entries hold JSON copies of their commands; a command that is not JSON is refused, naming the entry. */
export function jsonEntries(request: AppendEntries, what: string): AppendEntries {
  if (request.entries.length === 0) return request;
  return { ...request, entries: request.entries.map((entry) => ({ ...entry, command: jsonCommand(entry.command, `${what}: entry ${entry.index}`) })) };
}
