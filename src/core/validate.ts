/**
 * One schema per wire message (zod). Everything that enters a node from outside — a peer's RPC,
 * a ConsensusProtocol call — is parsed here once; a message that fails never reaches the machine.
 * Beyond shape, the schemas check what Raft needs to be true of a well-formed message: terms and
 * indexes are non-negative integers, entries are numbered prevLogIndex+1, +2, … with terms that
 * never decrease, never exceed the message's term, and never fall below prevLogTerm.
 */
import { z } from 'zod';
import type { RpcMessage } from './types.js';

const nodeId = z.string().min(1).max(256);
const term = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const index = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/** A configuration entry's command: whole lists of distinct ids, no id both voter and learner. */
export const configCommandSchema = z
  .object({
    type: z.literal('raft.config'),
    voters: z.array(nodeId).max(1024),
    learners: z.array(nodeId).max(1024),
    addresses: z.record(nodeId, z.string().min(1).max(1024)).optional(),
  })
  .refine((c) => new Set([...c.voters, ...c.learners]).size === c.voters.length + c.learners.length, { message: 'a server is listed twice' });

export const logEntrySchema = z.object({ term: term.min(1), index: index.min(1), command: z.unknown() }).superRefine((entry, ctx) => {
  const { command } = entry;
  if (typeof command !== 'object' || command === null || (command as { type?: unknown }).type !== 'raft.config') return;
  const parsed = configCommandSchema.safeParse(command);
  // A failed parse has at least one issue.
  if (!parsed.success) ctx.addIssue({ code: 'custom', path: ['command'], message: `a configuration entry: ${parsed.error.issues[0]!.message}` });
});

export const requestVoteSchema = z
  .object({
    type: z.literal('rpc.requestVote'),
    from: nodeId,
    term: term.min(1),
    candidateId: nodeId,
    lastLogIndex: index,
    lastLogTerm: term,
    preVote: z.boolean().optional(),
  })
  .refine((m) => m.from === m.candidateId, { message: 'candidateId must be the sender' })
  // A candidate's last entry cannot be from a term later than the one it campaigns in; a forged
  // one would win every up-to-date comparison.
  .refine((m) => m.lastLogTerm <= m.term, { message: 'lastLogTerm is greater than term' })
  .refine((m) => (m.lastLogIndex === 0) === (m.lastLogTerm === 0), { message: 'lastLogTerm must be 0 exactly when lastLogIndex is 0' });

export const requestVoteResultSchema = z.object({
  type: z.literal('rpc.requestVoteResult'),
  from: nodeId,
  term,
  voteGranted: z.boolean(),
  preVote: z.boolean().optional(),
});

export const appendEntriesSchema = z
  .object({
    type: z.literal('rpc.appendEntries'),
    from: nodeId,
    term: term.min(1),
    leaderId: nodeId,
    prevLogIndex: index,
    prevLogTerm: term,
    entries: z.array(logEntrySchema),
    leaderCommit: index,
    seq: z.number().int().nonnegative(),
  })
  .superRefine((m, ctx) => {
    if (m.from !== m.leaderId) ctx.addIssue({ code: 'custom', message: 'leaderId must be the sender' });
    if (m.prevLogTerm > m.term) ctx.addIssue({ code: 'custom', message: 'prevLogTerm is greater than term' });
    if ((m.prevLogIndex === 0) !== (m.prevLogTerm === 0)) {
      ctx.addIssue({ code: 'custom', message: 'prevLogTerm must be 0 exactly when prevLogIndex is 0' });
    }
    let lastTerm = m.prevLogTerm;
    m.entries.forEach((entry, i) => {
      if (entry.index !== m.prevLogIndex + 1 + i) {
        ctx.addIssue({ code: 'custom', path: ['entries', i, 'index'], message: `expected index ${m.prevLogIndex + 1 + i}, got ${entry.index}` });
      }
      if (entry.term < lastTerm || entry.term > m.term) {
        ctx.addIssue({ code: 'custom', path: ['entries', i, 'term'], message: `term ${entry.term} is out of order (previous ${lastTerm}, message term ${m.term})` });
      }
      lastTerm = entry.term;
    });
  });

export const appendEntriesResultSchema = z
  .object({
    type: z.literal('rpc.appendEntriesResult'),
    from: nodeId,
    term,
    requestTerm: term.min(1),
    success: z.boolean(),
    matchIndex: index,
    rejectedIndex: index,
    conflictTerm: term,
    conflictIndex: index,
    seq: z.number().int().nonnegative(),
  })
  // A follower answers with a term at least that of the request (it adopts a higher one first).
  .refine((m) => m.requestTerm <= m.term, { message: 'requestTerm is greater than term' });

export const installSnapshotSchema = z
  .object({
    type: z.literal('rpc.installSnapshot'),
    from: nodeId,
    term: term.min(1),
    leaderId: nodeId,
    lastIncludedIndex: index.min(1),
    lastIncludedTerm: term.min(1),
    offset: index,
    data: z.string(),
    done: z.boolean(),
    seq: z.number().int().nonnegative(),
  })
  .refine((m) => m.from === m.leaderId, { message: 'leaderId must be the sender' })
  .refine((m) => m.lastIncludedTerm <= m.term, { message: 'lastIncludedTerm is greater than term' });

export const installSnapshotResultSchema = z
  .object({
    type: z.literal('rpc.installSnapshotResult'),
    from: nodeId,
    term,
    requestTerm: term.min(1),
    lastIncludedIndex: index.min(1),
    offset: index,
    installed: z.boolean(),
    seq: z.number().int().nonnegative(),
  })
  .refine((m) => m.requestTerm <= m.term, { message: 'requestTerm is greater than term' });

export const timeoutNowSchema = z
  .object({ type: z.literal('rpc.timeoutNow'), from: nodeId, term: term.min(1), leaderId: nodeId })
  .refine((m) => m.from === m.leaderId, { message: 'leaderId must be the sender' });

const schemas = {
  'rpc.timeoutNow': timeoutNowSchema,
  'rpc.requestVote': requestVoteSchema,
  'rpc.requestVoteResult': requestVoteResultSchema,
  'rpc.appendEntries': appendEntriesSchema,
  'rpc.appendEntriesResult': appendEntriesResultSchema,
  'rpc.installSnapshot': installSnapshotSchema,
  'rpc.installSnapshotResult': installSnapshotResultSchema,
} as const;

export type ParseResult = { ok: true; message: RpcMessage } | { ok: false; error: string };

/** Parse one RPC message from untrusted input. Never throws. */
export function parseRpcMessage(input: unknown): ParseResult {
  const type = typeof input === 'object' && input !== null ? (input as { type?: unknown }).type : undefined;
  // Own keys only: a type such as "toString" or "__proto__" must not find an Object.prototype member.
  const schema = typeof type === 'string' && Object.hasOwn(schemas, type) ? schemas[type as keyof typeof schemas] : undefined;
  if (schema === undefined) return { ok: false, error: `unknown message type ${describeType(type)}` };
  const result = schema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0]!; // a failed parse has at least one issue
    return { ok: false, error: `${type}: ${issue.path.join('.') || 'message'}: ${issue.message}` };
  }
  return { ok: true, message: result.data as RpcMessage };
}

/**
 * How an unknown `type` is named in the refusal. Not JSON.stringify of any value: a BigInt or a
 * cyclic object would make it throw (found by test/unit/fuzz-wire.test.ts), and a large object
 * would make the refusal as large. A long string is cut.
 */
function describeType(type: unknown): string {
  if (typeof type === 'string') return JSON.stringify(type.length > 64 ? `${type.slice(0, 64)}…` : type);
  if (typeof type === 'number' || typeof type === 'boolean' || type === null || type === undefined) return String(type);
  return Array.isArray(type) ? '(an array)' : `(a value of type ${typeof type})`;
}
