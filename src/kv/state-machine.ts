/**
 * The replicated key-value state machine: the ready-made shared memory for agents.
 *
 * Commands (JSON, validated by `kvCommandSchema`):
 *   { type: 'put',    key, value }        → { ok: true, index }         index: the log entry that wrote it
 *   { type: 'delete', key }               → { ok: true, existed }
 *   { type: 'cas',    key, from, to }     → { ok: true }
 *                                         | { ok: false, reason: 'precondition_failed', value }  (the current value)
 *                                         | { ok: false, reason: 'not_found' }
 * Each may carry `client: { id, seq }` for at-most-once retries: per client the state machine keeps
 * the highest seq applied and its result. A command with that same seq is a retry: it returns the
 * remembered result and changes nothing. A lower seq returns `{ ok: false, reason: 'stale' }`.
 * A client must use increasing seqs for new commands.
 *
 * Queries (never change state): { type: 'get', key } → { found: true, value } | { found: false };
 * { type: 'keys', prefix? } → the keys, sorted; { type: 'dump' } → every key and value;
 * { type: 'list', prefix?, after?, limit? } → { entries: [{ key, value }], more } — the keys after
 * `after` (exclusive) that start with `prefix`, sorted, at most `limit` (default and at most
 * MAX_LIST_LIMIT); `more` says whether a next page exists (ask again with after = the last key).
 *
 * Rules every replica relies on:
 * - `apply` is deterministic: its result depends only on the state and the command — no clock, no
 *   randomness, no iteration order that differs between replicas.
 * - `apply` never throws. A command that fails validation applies as
 *   `{ ok: false, reason: 'invalid_command', error }` and changes nothing (not even the client's
 *   session): every replica refuses it the same way.
 * - Values are JSON values (finite numbers, strings, booleans, null, dense arrays, plain objects, at
 *   most MAX_VALUE_DEPTH levels deep), compared structurally by cas (object key order does not
 *   matter). The state holds a frozen copy, so neither the command nor a query result can be used to
 *   change it from outside.
 * - Raft's no-op entries are not passed to `apply` by the runtime; if one is, it changes nothing.
 */
import { canonicalJson as canonicalJsonText, compareStrings, type JsonValue } from '../core/json.js';

export type { JsonValue };
import { z } from 'zod';
import { isNoop, type LogEntry, type LogIndex } from '../core/types.js';
import type { StateMachine } from '../state-machine.js';

/** Longest key, in UTF-16 code units. */
export const MAX_KEY_LENGTH = 1024;
/** Deepest nesting of arrays and objects in a value. */
export const MAX_VALUE_DEPTH = 64;
export const MAX_CLIENT_ID_LENGTH = 256;
/** Most entries one `list` query answers. */
export const MAX_LIST_LIMIT = 1000;

export interface ClientSeq {
  readonly id: string;
  readonly seq: number;
}
export interface PutCommand {
  readonly type: 'put';
  readonly key: string;
  readonly value: JsonValue;
  readonly client?: ClientSeq;
}
export interface DeleteCommand {
  readonly type: 'delete';
  readonly key: string;
  readonly client?: ClientSeq;
}
export interface CasCommand {
  readonly type: 'cas';
  readonly key: string;
  readonly from: JsonValue;
  readonly to: JsonValue;
  readonly client?: ClientSeq;
}
export type KvCommand = PutCommand | DeleteCommand | CasCommand;

export type PutResult = { readonly ok: true; readonly index: LogIndex };
export type DeleteResult = { readonly ok: true; readonly existed: boolean };
export type CasResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'precondition_failed'; readonly value: JsonValue }
  | { readonly ok: false; readonly reason: 'not_found' };
/** The client already had a later command applied; the result of this one is no longer kept. */
export type StaleResult = { readonly ok: false; readonly reason: 'stale'; readonly lastSeq: number; readonly error: string };
export type InvalidCommandResult = { readonly ok: false; readonly reason: 'invalid_command'; readonly error: string };
export type NoopResult = { readonly ok: true; readonly noop: true };
export type KvResult = PutResult | DeleteResult | CasResult | StaleResult | InvalidCommandResult | NoopResult;

export type GetQuery = { readonly type: 'get'; readonly key: string };
export type KeysQuery = { readonly type: 'keys'; readonly prefix?: string };
export type DumpQuery = { readonly type: 'dump' };
export type ListQuery = { readonly type: 'list'; readonly prefix?: string; readonly after?: string; readonly limit?: number };
export type KvQuery = GetQuery | KeysQuery | DumpQuery | ListQuery;

export type GetResult = { readonly found: true; readonly value: JsonValue } | { readonly found: false };
export type ListResult = { readonly entries: readonly { readonly key: string; readonly value: JsonValue }[]; readonly more: boolean };
export type InvalidQueryResult = { readonly ok: false; readonly reason: 'invalid_query'; readonly error: string };
export type KvQueryResultOf<Q extends KvQuery> = Q extends GetQuery
  ? GetResult
  : Q extends KeysQuery
    ? readonly string[]
    : Q extends ListQuery
      ? ListResult
      : Readonly<Record<string, JsonValue>>;
export type KvQueryResult = GetResult | readonly string[] | Readonly<Record<string, JsonValue>> | ListResult | InvalidQueryResult;

// ---------------------------------------------------------------- schemas

const key = z.string().min(1, 'key must not be empty').max(MAX_KEY_LENGTH, `key is longer than ${MAX_KEY_LENGTH}`);
/**
 * A JSON value, read once and turned into a deep-frozen copy of pure data: what is stored and
 * compared is exactly what was validated, whatever the caller's object does afterwards.
 */
export const jsonValue = z.unknown().transform((value, ctx): JsonValue => {
  const text = canonicalJson(value);
  if (text === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `must be a JSON value (finite numbers, strings, booleans, null, dense arrays, plain objects; at most ${MAX_VALUE_DEPTH} levels deep)`,
    });
    return z.NEVER;
  }
  return deepFreeze(JSON.parse(text) as JsonValue);
});
export const clientSeqSchema = z.strictObject({
  id: z.string().min(1).max(MAX_CLIENT_ID_LENGTH),
  seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
});

/** Unknown fields are refused rather than dropped: a misspelt field is a bug to report, not to ignore. */
export const kvCommandSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('put'), key, value: jsonValue, client: clientSeqSchema.optional() }),
  z.strictObject({ type: z.literal('delete'), key, client: clientSeqSchema.optional() }),
  z.strictObject({ type: z.literal('cas'), key, from: jsonValue, to: jsonValue, client: clientSeqSchema.optional() }),
]) satisfies z.ZodType<KvCommand, unknown>;

const kvSnapshotSchema = z.strictObject({
  version: z.literal(1),
  data: z.array(z.tuple([z.string(), z.unknown()])),
  sessions: z.array(z.tuple([z.string(), z.number().int().nonnegative(), z.unknown()])),
});

export const kvQuerySchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('get'), key }),
  z.strictObject({ type: z.literal('keys'), prefix: z.string().max(MAX_KEY_LENGTH).optional() }),
  z.strictObject({ type: z.literal('dump') }),
  z.strictObject({
    type: z.literal('list'),
    prefix: z.string().max(MAX_KEY_LENGTH).optional(),
    after: z.string().max(MAX_KEY_LENGTH).optional(),
    limit: z.number().int().min(1).max(MAX_LIST_LIMIT).optional(),
  }),
]) satisfies z.ZodType<KvQuery, unknown>;

/** Validate a command without applying it (what a client or the HTTP edge can check up front). */
export function parseKvCommand(input: unknown): { ok: true; command: KvCommand } | InvalidCommandResult {
  const parsed = safeParse(kvCommandSchema, input);
  return parsed.ok ? { ok: true, command: parsed.data } : { ok: false, reason: 'invalid_command', error: parsed.error };
}

// ---------------------------------------------------------------- the state machine

interface Session {
  readonly seq: number;
  readonly result: KvResult;
}

export class KvStateMachine implements StateMachine<KvCommand, KvResult, KvQuery, KvQueryResult> {
  private readonly data = new Map<string, JsonValue>();
  /** Per client: the highest seq applied and its result (at-most-once retries). */
  private readonly sessions = new Map<string, Session>();

  apply(command: unknown, entry: LogEntry<unknown>): KvResult {
    if (isNoop(command)) return NOOP_RESULT;
    const parsed = parseKvCommand(command);
    if (!parsed.ok) return parsed;
    const cmd = parsed.command;
    if (cmd.client !== undefined) {
      const session = this.sessions.get(cmd.client.id);
      if (session !== undefined && cmd.client.seq === session.seq) return session.result;
      if (session !== undefined && cmd.client.seq < session.seq) {
        return freeze({
          ok: false,
          reason: 'stale',
          lastSeq: session.seq,
          error: `client ${JSON.stringify(cmd.client.id)} seq ${cmd.client.seq} is older than its last applied seq ${session.seq}; its result is no longer kept`,
        });
      }
    }
    const result = this.execute(cmd, typeof entry?.index === 'number' ? entry.index : 0);
    if (cmd.client !== undefined) this.sessions.set(cmd.client.id, { seq: cmd.client.seq, result });
    return result;
  }

  query<Q extends KvQuery>(query: Q): KvQueryResultOf<Q>;
  query(query: unknown): KvQueryResult;
  query(query: unknown): KvQueryResult {
    const parsed = safeParse(kvQuerySchema, query);
    if (!parsed.ok) return freeze({ ok: false, reason: 'invalid_query', error: parsed.error });
    const q = parsed.data;
    switch (q.type) {
      case 'get':
        return this.get(q.key);
      case 'keys':
        return this.keys(q.prefix);
      case 'dump':
        return this.dump();
      case 'list':
        return this.list(q.prefix, q.after, q.limit);
    }
  }

  get(key: string): GetResult {
    const value = this.data.get(key);
    return value === undefined ? NOT_FOUND : freeze({ found: true, value });
  }

  /** The keys (optionally only those starting with `prefix`), sorted by UTF-16 code units. */
  keys(prefix = ''): readonly string[] {
    return freeze([...this.data.keys()].filter((k) => k.startsWith(prefix)).sort(compareStrings));
  }

  /** Every key and value, keys sorted; a fresh object (values are the state's frozen copies). */
  dump(): Readonly<Record<string, JsonValue>> {
    return Object.fromEntries([...this.data.entries()].sort(([a], [b]) => compareStrings(a, b)));
  }

  /** One page of keys with their values: sorted, after `after`, starting with `prefix`. */
  list(prefix = '', after?: string, limit = MAX_LIST_LIMIT): ListResult {
    const keys = this.keys(prefix).filter((k) => after === undefined || compareStrings(k, after) > 0);
    const page = keys.slice(0, limit).map((key) => freeze({ key, value: this.data.get(key) as JsonValue }));
    return freeze({ entries: freeze(page), more: keys.length > limit });
  }

  get size(): number {
    return this.data.size;
  }

  /**
   * The whole state as JSON: the data, and each client's last sequence number with its result,
   * so that a write retried after a snapshot was installed is still applied at most once.
   * Entries are sorted, so equal states give equal snapshots on every node.
   */
  snapshot(): JsonValue {
    const data = [...this.data.entries()].sort(([a], [b]) => compareStrings(a, b));
    const sessions = [...this.sessions.entries()].sort(([a], [b]) => compareStrings(a, b)).map(([id, s]) => [id, s.seq, s.result as JsonValue]);
    return { version: 1, data, sessions } as JsonValue;
  }

  restore(snapshot: JsonValue | Uint8Array): void {
    const parsed = kvSnapshotSchema.safeParse(snapshot);
    if (!parsed.success) throw new RangeError(`not a KV snapshot: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    this.data.clear();
    this.sessions.clear();
    for (const [key, value] of parsed.data.data) this.data.set(key, deepFreeze(value as JsonValue));
    for (const [id, seq, result] of parsed.data.sessions) this.sessions.set(id, { seq, result: deepFreeze(result as JsonValue) as unknown as KvResult });
  }

  /**
   * Apply a command that `parseKvCommand` accepted, without the at-most-once bookkeeping (for a
   * state machine that wraps this one and keeps its own sessions: src/coord/state-machine.ts).
   */
  execute(cmd: KvCommand, index: LogIndex): KvResult {
    switch (cmd.type) {
      // Values in a parsed command are already deep-frozen copies (see jsonValue).
      case 'put':
        this.data.set(cmd.key, cmd.value);
        return freeze({ ok: true, index });
      case 'delete':
        return freeze({ ok: true, existed: this.data.delete(cmd.key) });
      case 'cas': {
        const current = this.data.get(cmd.key);
        if (current === undefined) return NOT_FOUND_CAS;
        if (canonicalJson(current) !== canonicalJson(cmd.from)) return freeze({ ok: false, reason: 'precondition_failed', value: current });
        this.data.set(cmd.key, cmd.to);
        return CAS_OK;
      }
    }
  }
}

const NOOP_RESULT: NoopResult = Object.freeze({ ok: true, noop: true });
const NOT_FOUND: GetResult = Object.freeze({ found: false });
const NOT_FOUND_CAS: CasResult = Object.freeze({ ok: false, reason: 'not_found' });
const CAS_OK: CasResult = Object.freeze({ ok: true });

// ---------------------------------------------------------------- helpers

export function safeParse<T>(schema: z.ZodType<T>, input: unknown): { ok: true; data: T } | { ok: false; error: string } {
  try {
    const result = schema.safeParse(input);
    if (result.success) return { ok: true, data: result.data };
    const issue = result.error.issues[0];
    const path = issue?.path.map(String).join('.');
    return { ok: false, error: `${path ? `${path}: ` : ''}${issue?.message ?? 'invalid'}` };
  } catch (error) {
    // A getter or proxy in the input threw: refuse it like any other bad input.
    return { ok: false, error: `unreadable input: ${error instanceof Error ? error.message : String(error)}` };
  }
}

function freeze<T>(value: T): T {
  return Object.freeze(value);
}

export function deepFreeze(value: JsonValue): JsonValue {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child as JsonValue);
    Object.freeze(value);
  }
  return value;
}

/** Canonical JSON text of a value the KV store accepts (at most MAX_VALUE_DEPTH deep), or undefined. */
export function canonicalJson(value: unknown): string | undefined {
  return canonicalJsonText(value, MAX_VALUE_DEPTH);
}
