/**
 * The cluster as Model Context Protocol tools: a model (or any MCP client) reads and writes the
 * KV, takes leases and works task queues through `xstate-raft mcp --peers …` (src/cli/mcp.ts).
 *
 * Every tool's arguments are a zod schema, checked by the SDK before the tool runs (a refusal is a
 * tool error naming the argument). A result is JSON text, and the same object as
 * `structuredContent`. A refusal of the cluster is a tool error (`isError: true`) written for the
 * model that will read it: what happened, who holds the lease or the claim and until when, and
 * what to do next — a model that is told "your claim is stale" in those words stops working on the
 * task; one that is told `stale_token` may not.
 *
 * Time: `expiresAt` is the cluster's replicated clock (ms, the leader's wall clock); the "in 4.2 s"
 * of a message is measured against this process's clock (`options.now`), so it is as right as the
 * two clocks agree. The fencing token is what keeps a late action harmless, not the clock.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { JsonValue } from '../core/json.js';
import { LeaseHeldError, NotFoundError, RaftError, StaleTokenError } from '../errors.js';
import type { CasResult, GetResult, PutResult } from '../kv/state-machine.js';
import { MAX_ATTEMPTS_LIMIT, MAX_NAME_LENGTH, MAX_TTL_MS, MIN_TTL_MS, type Fence, type LeaseApi, type TaskApi } from '../coord/types.js';

/** The KV calls the tools use; a write may carry a fence (refused with StaleTokenError once its token is not current). */
export interface McpKvApi {
  get(key: string): Promise<GetResult>;
  put(key: string, value: JsonValue, options?: { readonly fence?: Fence }): Promise<PutResult | { readonly index: number }>;
  cas(key: string, from: JsonValue, to: JsonValue, options?: { readonly fence?: Fence }): Promise<CasResult>;
  list(prefix?: string): Promise<readonly { readonly key: string; readonly value: JsonValue }[]>;
}

/** What the tools need of a cluster: `connect({ peers })` is one (src/cli/mcp.ts adapts it), a test's fake another. */
export interface McpClusterClient {
  readonly kv: McpKvApi;
  readonly leases: LeaseApi;
  readonly tasks: TaskApi;
  /** Every node's status (`{ ok: true, id, role, … }`) or why it could not be read (`{ ok: false, address, error }`). */
  status(): Promise<readonly object[]>;
}

export interface McpServerOptions {
  /** The server's name in the MCP handshake (default `xstate-raft`). */
  readonly name?: string;
  /** The server's version in the MCP handshake (default `0.0.0`). */
  readonly version?: string;
  /** This process's clock (ms), for "in 4.2 s" in messages (default Date.now). */
  readonly now?: () => number;
}

/** The tools, by name: the contract, fixed. */
export const MCP_TOOL_NAMES = [
  'cluster_status',
  'kv_get',
  'kv_put',
  'kv_cas',
  'kv_list',
  'lease_acquire',
  'lease_renew',
  'lease_release',
  'task_post',
  'task_claim',
  'task_heartbeat',
  'task_complete',
  'task_fail',
] as const;
export type McpToolName = (typeof MCP_TOOL_NAMES)[number];

/** Most entries kv_list returns unless told otherwise: a model's context is not a dump. */
export const KV_LIST_DEFAULT_LIMIT = 100;
export const KV_LIST_MAX_LIMIT = 10_000;

const INSTRUCTIONS = `A replicated key-value store, leases and task queues of an xstate-raft (Raft) cluster.
Leases: lease_acquire gives a fencing token; keep it, renew before expiresAt, and pass it as fence { lease, token } on kv_put/kv_cas made as the holder.
Tasks: task_claim gives a claim with a token; task_heartbeat before expiresAt, then task_complete or task_fail with that token; fence result writes with { task, token }.
A "stale" error means you no longer own the lease or the claim: stop acting on it.`;

// ---------------------------------------------------------------- schemas

const name = (what: string) => z.string().min(1).max(MAX_NAME_LENGTH).describe(what);
const token = (what: string) => z.int().min(1).describe(what);
const ttlMs = (what: string) => z.int().min(MIN_TTL_MS).max(MAX_TTL_MS).describe(`${what}, ms (${MIN_TTL_MS} to ${MAX_TTL_MS})`);
/** Any JSON value. Not z.json(): its recursive $ref schema is more than some MCP clients can read. */
const json = (what: string) => z.unknown().describe(`${what}: any JSON value (object, array, string, number, boolean or null)`);
const fence = z
  .union([
    z.strictObject({ lease: name('the lease the write is made as holder of'), token: token('the fencing token lease_acquire gave') }),
    z.strictObject({ task: name('the task id the write is made for'), token: token('the token of your claim (task_claim)') }),
  ])
  .optional()
  .describe('make the write only while this lease or claim is still yours: refused, and nothing written, once its token is stale');

// ---------------------------------------------------------------- the server

export function createMcpServer(client: McpClusterClient, options: McpServerOptions = {}): McpServer {
  const now = options.now ?? Date.now;
  const server = new McpServer({ name: options.name ?? 'xstate-raft', version: options.version ?? '0.0.0' }, { instructions: INSTRUCTIONS });
  const say = new Messages(now);
  /** Run a tool's call: its result as JSON, a thrown error as a tool error the model can act on. */
  const run =
    <A>(tool: McpToolName, call: (args: A) => Promise<Answer>) =>
    async (args: A): Promise<CallToolResult> => {
      try {
        const answer = await call(args);
        return answer.error === undefined ? ok(answer.result) : refused(answer.error, answer.result);
      } catch (error) {
        return refused(say.error(tool, args as Record<string, unknown>, error), { error: codeOf(error) });
      }
    };
  const readOnly = { readOnlyHint: true, openWorldHint: false } as const;
  const writes = (idempotentHint: boolean, destructiveHint = false) => ({ readOnlyHint: false, destructiveHint, idempotentHint, openWorldHint: false }) as const;

  server.registerTool(
    'cluster_status',
    { description: "Every node's role, term, leader and log indexes, and which node leads now (null during an election).", inputSchema: {}, annotations: readOnly },
    run('cluster_status', async () => {
      const nodes = await client.status();
      const leader = nodes.find((n) => (n as { ok?: unknown; role?: unknown }).ok !== false && (n as { role?: unknown }).role === 'leader') as { id?: string } | undefined;
      return { result: { leader: leader?.id ?? null, nodes } };
    }),
  );

  server.registerTool(
    'kv_get',
    { description: 'Read a key (linearizable: the latest committed value).', inputSchema: { key: z.string().min(1).describe('the key') }, annotations: readOnly },
    run('kv_get', async ({ key }: { key: string }) => {
      const got = await client.kv.get(key);
      return { result: got.found ? { key, found: true, value: got.value } : { key, found: false } };
    }),
  );

  server.registerTool(
    'kv_put',
    {
      description: 'Write a key. With fence, only while your lease or claim is current (a fenced write of a lost lease is refused, nothing written).',
      inputSchema: { key: z.string().min(1).describe('the key'), value: json('the new value'), fence },
      annotations: writes(true, true),
    },
    run('kv_put', async ({ key, value, fence }: { key: string; value: unknown; fence?: Fence }) => {
      const put = await client.kv.put(key, value as JsonValue, fence !== undefined ? { fence } : undefined);
      return { result: { key, index: put.index } };
    }),
  );

  server.registerTool(
    'kv_cas',
    {
      description: 'Compare-and-set: write `to` only if the key holds `from` now (compared as JSON). Refused, with the value it holds, otherwise.',
      inputSchema: { key: z.string().min(1).describe('the key'), from: json('the value the key must hold now'), to: json('the new value'), fence },
      annotations: writes(false, true),
    },
    run('kv_cas', async ({ key, from, to, fence }: { key: string; from: unknown; to: unknown; fence?: Fence }) => {
      const result = await client.kv.cas(key, from as JsonValue, to as JsonValue, fence !== undefined ? { fence } : undefined);
      if (result.ok) return { result: { key, ok: true } };
      if (result.reason === 'not_found')
        return { result: { key, ok: false, reason: 'not_found' }, error: `compare-and-set refused: key ${q(key)} does not exist; nothing was written. Create it with kv_put.` };
      return {
        result: { key, ok: false, reason: 'precondition_failed', value: result.value },
        error: `compare-and-set refused: key ${q(key)} holds ${j(result.value)}, not ${j(from)}; nothing was written. Decide again with the value it holds, then call kv_cas with from set to it.`,
      };
    }),
  );

  server.registerTool(
    'kv_list',
    {
      description: `The keys starting with prefix (default: all), with their values, in key order; at most limit (default ${KV_LIST_DEFAULT_LIMIT}).`,
      inputSchema: {
        prefix: z.string().optional().describe('only keys starting with this'),
        limit: z.int().min(1).max(KV_LIST_MAX_LIMIT).optional().describe(`most entries to return (default ${KV_LIST_DEFAULT_LIMIT})`),
      },
      annotations: readOnly,
    },
    run('kv_list', async ({ prefix = '', limit = KV_LIST_DEFAULT_LIMIT }: { prefix?: string; limit?: number }) => {
      const entries = await client.kv.list(prefix);
      const more = entries.length > limit;
      return { result: { prefix, count: Math.min(entries.length, limit), more, entries: entries.slice(0, limit) } };
    }),
  );

  // ------------------------------------------------------------ leases

  server.registerTool(
    'lease_acquire',
    {
      description:
        'Take a named lease for ttlMs if it is free, expired or already yours (then under a new token). Refused with who holds it and until when. Keep the token: renew, release and fenced writes need it.',
      inputSchema: { name: name('the lease'), holder: name('who you are (the same name on every call)'), ttlMs: ttlMs('how long it lasts unless renewed') },
      annotations: writes(false),
    },
    run('lease_acquire', async ({ name, holder, ttlMs }: { name: string; holder: string; ttlMs: number }) => ({
      result: say.withExpiry(await client.leases.acquire(name, { holder, ttlMs })),
    })),
  );

  server.registerTool(
    'lease_renew',
    {
      description: 'Extend your lease by its TTL (or ttlMs) from now. Refused if the token is stale: then the lease is not yours any more.',
      inputSchema: { name: name('the lease'), token: token('the token lease_acquire gave'), ttlMs: ttlMs('a new TTL').optional() },
      annotations: writes(true),
    },
    run('lease_renew', async ({ name, token, ttlMs }: { name: string; token: number; ttlMs?: number }) => ({
      result: say.withExpiry(await client.leases.renew(name, token, ttlMs !== undefined ? { ttlMs } : {})),
    })),
  );

  server.registerTool(
    'lease_release',
    {
      description: 'Give up your lease now, so the next holder need not wait for it to expire.',
      inputSchema: { name: name('the lease'), token: token('the token lease_acquire gave') },
      annotations: writes(false),
    },
    run('lease_release', async ({ name, token }: { name: string; token: number }) => {
      await client.leases.release(name, token);
      return { result: { name, released: true } };
    }),
  );

  // ------------------------------------------------------------ tasks

  server.registerTool(
    'task_post',
    {
      description: 'Add a task to a queue. With id, posting is idempotent: a second post with the same id returns the first (duplicate: true).',
      inputSchema: {
        queue: name('the queue'),
        task: json('what is to be done'),
        id: name('a task id, unique across queues (default: assigned)').optional(),
        maxAttempts: z.int().min(1).max(MAX_ATTEMPTS_LIMIT).optional().describe('claims before the task is dead-lettered (default 5)'),
      },
      annotations: writes(true),
    },
    run('task_post', async ({ queue, task, id, maxAttempts }: { queue: string; task: unknown; id?: string; maxAttempts?: number }) => {
      const posted = await client.tasks.post(queue, task as JsonValue, { ...(id !== undefined ? { id } : {}), ...(maxAttempts !== undefined ? { maxAttempts } : {}) });
      return { result: { queue, ...posted } };
    }),
  );

  server.registerTool(
    'task_claim',
    {
      description:
        'Claim the oldest queued task of a queue for ttlMs. Keep its id and token: heartbeat before expiresAt, then complete or fail it. claimed: false when the queue has nothing queued.',
      inputSchema: { queue: name('the queue'), worker: name('who you are (the same name on every call)'), ttlMs: ttlMs('how long the claim lasts unless heartbeated') },
      annotations: writes(false),
    },
    run('task_claim', async ({ queue, worker, ttlMs }: { queue: string; worker: string; ttlMs: number }) => {
      const claim = await client.tasks.claim(queue, { worker, ttlMs });
      if (claim === undefined) return { result: { claimed: false, queue, hint: `queue ${q(queue)} has no queued task now; call task_claim again later` } };
      return { result: { claimed: true, ...say.withExpiry(claim) } };
    }),
  );

  server.registerTool(
    'task_heartbeat',
    {
      description: 'Extend your claim by its TTL (or ttlMs) from now. Refused if your claim is stale: then the task is not yours any more.',
      inputSchema: { id: name('the task id'), token: token('the token of your claim'), ttlMs: ttlMs('a new TTL').optional() },
      annotations: writes(true),
    },
    run('task_heartbeat', async ({ id, token, ttlMs }: { id: string; token: number; ttlMs?: number }) => {
      const { expiresAt } = await client.tasks.heartbeat(id, token, ttlMs !== undefined ? { ttlMs } : {});
      return { result: say.withExpiry({ id, token, expiresAt }) };
    }),
  );

  server.registerTool(
    'task_complete',
    {
      description: 'Mark your claimed task done, with its result. Refused if your claim is stale (the task may be done by another worker).',
      inputSchema: { id: name('the task id'), token: token('the token of your claim'), result: json('the outcome').optional() },
      annotations: writes(false),
    },
    run('task_complete', async ({ id, token, result }: { id: string; token: number; result?: unknown }) => {
      await client.tasks.complete(id, token, result as JsonValue | undefined);
      return { result: { id, state: 'done' } };
    }),
  );

  server.registerTool(
    'task_fail',
    {
      description: 'Give up on your claimed task: back to the queue when retry (default true) and attempts remain, else dead-lettered.',
      inputSchema: {
        id: name('the task id'),
        token: token('the token of your claim'),
        reason: z.string().min(1).max(4096).describe('why, for whoever reads the dead letter'),
        retry: z.boolean().optional().describe('put it back in the queue (default true)'),
      },
      annotations: writes(false),
    },
    run('task_fail', async ({ id, token, reason, retry }: { id: string; token: number; reason: string; retry?: boolean }) => {
      const { state } = await client.tasks.fail(id, token, reason, retry !== undefined ? { retry } : {});
      return { result: { id, state } };
    }),
  );

  return server;
}

// ---------------------------------------------------------------- results and errors

/** A tool's answer: its result, or (error set) a refusal that is an answer, not a thrown error (a failed compare-and-set). */
interface Answer {
  readonly result: object;
  readonly error?: string;
}

function ok(result: object): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(result) }], structuredContent: result as Record<string, unknown> };
}

function refused(text: string, details: object): CallToolResult {
  return { content: [{ type: 'text', text }], structuredContent: details as Record<string, unknown>, isError: true };
}

function codeOf(error: unknown): string {
  return error instanceof RaftError ? error.code : 'internal_error';
}

const q = (s: string) => JSON.stringify(s);
const j = (v: unknown) => (v === undefined ? 'nothing' : JSON.stringify(v));

/** The texts of the tool errors: each says what happened, who holds what until when, and what to do next. */
class Messages {
  constructor(private readonly now: () => number) {}

  /** `<ISO time> (in 4.2 s)` or `<ISO time> (0.3 s ago)`. */
  until(expiresAt: number): string {
    const ms = expiresAt - this.now();
    const iso = Number.isFinite(expiresAt) ? new Date(expiresAt).toISOString() : String(expiresAt);
    return ms >= 0 ? `${iso} (in ${(ms / 1000).toFixed(1)} s)` : `${iso} (${(-ms / 1000).toFixed(1)} s ago)`;
  }

  /** A grant or claim with its expiry also as an ISO time, for a reader without a clock. */
  withExpiry<T extends { readonly expiresAt: number }>(grant: T): T & { expiresAtIso: string } {
    return { ...grant, expiresAtIso: new Date(grant.expiresAt).toISOString() };
  }

  error(tool: McpToolName, args: Record<string, unknown>, error: unknown): string {
    if (error instanceof LeaseHeldError) {
      return `lease ${q(error.lease)} is held by ${q(error.holder)} (token ${error.token}) until ${this.until(error.expiresAt)}; nothing changed. Call lease_acquire again after that, or do other work meanwhile.`;
    }
    if (error instanceof StaleTokenError) return this.stale(tool, args, error);
    if (error instanceof NotFoundError) {
      return `${error.message}: nothing changed. Check the task id (task_post returns it; task_claim gives it with the claim).`;
    }
    if (error instanceof RaftError) {
      const next = error.code === 'outcome_unknown' ? `The call may or may not have been applied. ${AFTER_UNKNOWN_OUTCOME[tool]}` : NEXT_STEP[error.code];
      return `${error.code}: ${error.message}. ${next ?? 'Nothing is known to have changed; check with kv_get or cluster_status before retrying.'}`;
    }
    return `internal error in ${tool}: ${error instanceof Error ? error.message : String(error)}. Check with cluster_status; retrying may not help.`;
  }

  private stale(tool: McpToolName, args: Record<string, unknown>, error: StaleTokenError): string {
    const detail = /is stale: (.*); stop acting on it/s.exec(error.message)?.[1] ?? error.message;
    const fenced = tool === 'kv_put' || tool === 'kv_cas' ? (args.fence as Fence | undefined) : undefined;
    const write = fenced !== undefined ? `your fenced write to key ${q(String(args.key))} was refused; nothing was written. ` : '';
    const onTask = fenced !== undefined ? 'task' in fenced : tool.startsWith('task_');
    const current = error.current;
    if (onTask) {
      const id = fenced !== undefined && 'task' in fenced ? fenced.task : String(args.id);
      const holder = current !== undefined ? ` Another worker, ${q(current.holder)}, holds it now (token ${current.token}) until ${this.until(current.expiresAt)}.` : '';
      return `${write}your claim on task ${q(id)} is stale (token ${error.token}): ${detail}.${holder} Do not complete it or write its results; claim another with task_claim.`;
    }
    const lease = fenced !== undefined && 'lease' in fenced ? fenced.lease : String(args.name);
    const holder = current !== undefined ? ` It is held by ${q(current.holder)} (token ${current.token}) until ${this.until(current.expiresAt)}.` : '';
    const next =
      tool === 'lease_release'
        ? 'There is nothing of yours to release; stop acting as its holder.'
        : 'Stop acting as its holder (no more writes fenced with this token); call lease_acquire to take it again.';
    return `${write}your lease ${q(lease)} is lost: token ${error.token} is stale (${detail}).${holder} ${next}`;
  }
}

/** What to do after a RaftError the tools do not explain themselves, by `code`. */
const NEXT_STEP: Readonly<Record<string, string>> = {
  not_leader: 'The cluster has no leader right now (an election, or too few nodes up); nothing was done. Retry in a few seconds; cluster_status shows the nodes.',
  leader_timeout: 'No leader was elected in time; nothing is known to have changed. Retry in a few seconds; cluster_status shows the nodes.',
  timeout: 'The read did not complete in time; nothing changed. Retry; cluster_status shows whether the nodes are up.',
  invalid_request: 'The cluster refused the arguments; nothing changed. Fix them and call again.',
  unauthorized: "The MCP server's --token is missing or wrong: whoever configured it must fix that; retrying will not help.",
  not_supported: 'This cannot work with this server; retrying will not help.',
};

/** After a write whose outcome is unknown: how to find out, or whether repeating it is safe, by tool. */
const AFTER_UNKNOWN_OUTCOME: Readonly<Record<McpToolName, string>> = {
  cluster_status: 'Call it again.',
  kv_get: 'Call it again.',
  kv_list: 'Call it again.',
  kv_put: 'Read the key (kv_get) before you repeat it.',
  kv_cas: 'Read the key (kv_get): if it holds `to`, the write was made.',
  lease_acquire: 'Call lease_acquire again with the same holder: if the first call took it, you get it again under a new token.',
  lease_renew: 'Call lease_renew again with the same token: repeating it is harmless.',
  lease_release: 'Call lease_release again: a stale-token answer then means it was released.',
  task_post: 'Post it again with the same id (that is idempotent); a post without an id may be made twice.',
  task_claim: 'Call task_claim again; a claim made unseen expires after its ttlMs and its task goes back to the queue.',
  task_heartbeat: 'Call task_heartbeat again with the same token: repeating it is harmless.',
  task_complete: 'Call task_complete again with the same token: a stale-token answer saying the task is done means the first call applied.',
  task_fail: 'Call task_fail again with the same token: a stale-token answer saying the task is queued again or dead means the first call applied.',
};
