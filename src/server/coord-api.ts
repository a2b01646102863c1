/**
 * The coordination HTTP API on each node's port (src/coord: leases with fencing tokens, task
 * queues whose claims expire, a watch of every change):
 *
 *   PUT    /v1/leases/:name   {"holder", "ttlMs"}        → 200 {"lease"} | 409 {"error": "lease_held", "holder", "token", "expiresAt"}
 *   POST   /v1/leases/:name   {"token", "ttlMs"?}        → 200 {"lease"} | 409 {"error": "stale_token", "token", "detail", "current"?}   (renew)
 *   DELETE /v1/leases/:name   {"token"} or ?token=n      → 200 {} | 409 stale_token
 *   GET    /v1/leases/:name                              → 200 {"lease"} | 404
 *   GET    /v1/leases                                    → 200 {"leases"}
 *   POST   /v1/queues/:queue  {"task", "id"?, "maxAttempts"?} → 200 {"id", "index", "duplicate"} | 409 {"error": "id_taken", …}
 *   POST   /v1/queues/:queue/claim {"worker", "ttlMs"}   → 200 {"claim"} | 204 (nothing queued)
 *   POST   /v1/queues/:queue/:id/heartbeat {"token", "ttlMs"?} → 200 {"expiresAt"}
 *   POST   /v1/queues/:queue/:id/complete  {"token", "result"?} → 200 {}
 *   POST   /v1/queues/:queue/:id/fail      {"token", "reason", "retry"?} → 200 {"state"}
 *          (stale token → 409 stale_token; no such task, or a task of another queue → 404)
 *   GET    /v1/queues/:queue?limit=n                     → 200 {"queue", "counts", "tasks"}
 *   GET    /v1/queues/:queue/:id                         → 200 {"task"} | 404
 *   GET    /v1/queues                                    → 200 {"queues"}
 *   GET    /v1/tasks/:id, POST /v1/tasks/:id/heartbeat|complete|fail: the same by task id alone
 *          (task ids are unique across queues; this is what connect() uses, which knows only the id)
 *   GET    /v1/watch?prefix=&from=&kinds=kv,lease,task   → Server-Sent Events (below)
 *
 * A lease name is everything after /v1/leases/, percent-decoded (it may hold '/'); a queue name and
 * a task id are one path segment each, percent-encoded. Writes go to the leader like the KV's
 * (a follower forwards) and may carry X-Client-Id + X-Request-Seq, so that a retried claim is
 * applied once and answered as the first time. Reads are linearizable (ReadIndex). Errors as on
 * the KV routes: 503 no_leader, 504 timeout (outcome unknown), 400 bad input, 413 too big — and
 * a refused request changes nothing.
 *
 * The watch is served by the node asked, from its own applied journal (no forwarding, no ReadIndex):
 * each log entry's changes are one message `id: <index>`, `event: changes`, `data: {"index",
 * "changes"}`. `Last-Event-ID: n` resumes at n + 1 (and overrides `from`). When the history asked
 * for is gone (compacted), one `event: compacted` with `data: {"index", "detail"}` and the stream
 * ends: re-read, then watch from `index`. A keep-alive comment every 15 s also carries `id:` of the
 * last entry the node applied, so that a filtered watch resumes past entries it was not sent.
 * An id never goes back: the keep-alive's is the highest index this watcher was given (a replay of
 * history included). A node that has had no live leader (LeaderContact) for longer than
 * `leaderlessMs` ends its watches: cut off, it applies nothing, and its keep-alives would hide that
 * from the client, which is to go to another node. A watcher too far behind (8 MiB unsent) has its
 * connection dropped (destroyed, not ended) and resumes elsewhere with Last-Event-ID.
 *
 * Paths are read as sent (rawPath: URL would resolve a task id `..`, even as %2E%2E), and writes
 * from a web page are refused before any route (403 cross_site: see client-api.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { JsonValue } from '../core/json.js';
import type { LogIndex } from '../core/types.js';
import type { CoordCommand, CoordQuery, CoordQueryResult, CoordResult, CoordStateMachine } from '../coord/state-machine.js';
import { MAX_ATTEMPTS_LIMIT, MAX_NAME_LENGTH, MAX_TTL_MS, MIN_TTL_MS, type StaleToken, type TaskView, type WatchKind, type WatchMessage } from '../coord/types.js';
import { subscribeJournal } from '../coord/watch.js';
import { RaftError } from '../errors.js';
import { MAX_LIST_LIMIT } from '../kv/state-machine.js';
import type { RaftNode } from '../runtime/raft-node.js';
import { HttpError, rawPath, readJsonBody } from './body.js';
import { clientOf, methodNotAllowed, parse, staleBody, toHttpError } from './client-api.js';
import type { LeaderContact } from './leader-contact.js';
import type { NodeMetrics } from './metrics.js';

export type CoordRaftNode = RaftNode<CoordCommand, CoordResult, CoordQuery, CoordQueryResult>;

export interface CoordApiOptions {
  node: CoordRaftNode;
  /** This node's state machine: the watch reads its journal. */
  stateMachine: CoordStateMachine;
  metrics: NodeMetrics;
  bodyLimit: number;
  /** Largest command (its JSON) that fits one peer message; larger writes are refused with 413. */
  maxCommandBytes: number;
  addressOf?: (id: string) => string | undefined;
  /** Between keep-alive comments on a watch, ms (default 15 000). */
  keepAliveMs?: number;
  /** A watcher that has this many bytes unsent is dropped (it resumes with Last-Event-ID). Default 8 MiB. */
  maxBufferedBytes?: number;
  /** Whether the leader this node names is alive: without one for `leaderlessMs`, every watch ends. */
  leaderContact?: Pick<LeaderContact, 'view'>;
  /** How long a node without a live leader keeps serving watches, ms (default 5000; the node server gives its longest election timeout). */
  leaderlessMs?: number;
}

export interface CoordApi {
  /** Answers /v1/*; false for any other path. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean>;
  /**
   * A snapshot from the leader replaced this node's state at `index`: a watch that had not seen
   * that far may have missed changes, so it is told `compacted` and ends.
   */
  snapshotInstalled(index: LogIndex): void;
  /** End every watch (the node stops). */
  close(): void;
}

export const DEFAULT_KEEP_ALIVE_MS = 15_000;
export const DEFAULT_LEADERLESS_MS = 5000;

// ---------------------------------------------------------------- bodies

const name = z.string().min(1, 'must not be empty').max(MAX_NAME_LENGTH, `is longer than ${MAX_NAME_LENGTH} characters`);
const ttlMs = z
  .number('ttlMs is a number of milliseconds')
  .int('ttlMs is a whole number of milliseconds')
  .min(MIN_TTL_MS, `ttlMs is at least ${MIN_TTL_MS}`)
  .max(MAX_TTL_MS, `ttlMs is at most ${MAX_TTL_MS} (a day)`);
const token = z.number('token is the fencing token, a whole number').int('token is a whole number').positive('token is ≥ 1').max(Number.MAX_SAFE_INTEGER);

const acquireBody = z.strictObject({ holder: name, ttlMs });
const renewBody = z.strictObject({ token, ttlMs: ttlMs.optional() });
const releaseBody = z.strictObject({ token });
const postBody = z.strictObject({
  task: z.json(),
  id: name.optional(),
  maxAttempts: z.number().int().min(1, 'maxAttempts is at least 1').max(MAX_ATTEMPTS_LIMIT, `maxAttempts is at most ${MAX_ATTEMPTS_LIMIT}`).optional(),
});
const claimBody = z.strictObject({ worker: name, ttlMs });
const heartbeatBody = z.strictObject({ token, ttlMs: ttlMs.optional() });
const completeBody = z.strictObject({ token, result: z.json().optional() });
const failBody = z.strictObject({ token, reason: z.string().max(4096, 'reason is at most 4096 characters'), retry: z.boolean().optional() });

const WATCH_KINDS: readonly WatchKind[] = ['kv', 'lease', 'task'];
const TASK_ACTIONS = ['heartbeat', 'complete', 'fail'] as const;
type TaskAction = (typeof TASK_ACTIONS)[number];

// ---------------------------------------------------------------- routes

export function coordApi(options: CoordApiOptions): CoordApi {
  const { node, metrics, stateMachine } = options;
  const watchers = new Set<Watcher>();

  // A node cut off from the leader applies nothing: end its watches once that has lasted, so that
  // clients watch through a node that still follows the log.
  const leaderlessMs = options.leaderlessMs ?? DEFAULT_LEADERLESS_MS;
  let leaderlessSince: number | undefined;
  const leaderCheck =
    options.leaderContact === undefined
      ? undefined
      : setInterval(
          () => {
            if (options.leaderContact?.view(node.status()).leaderId !== null) {
              leaderlessSince = undefined;
              return;
            }
            leaderlessSince ??= Date.now();
            const since = Date.now() - leaderlessSince;
            if (since <= leaderlessMs) return;
            for (const watcher of watchers) watcher.end(`: this node has had no live leader for ${since} ms; watch through another node\n\n`);
          },
          Math.min(1000, Math.max(50, Math.floor(leaderlessMs / 4))),
        );
  leaderCheck?.unref();

  const propose = async (command: CoordCommand): Promise<CoordResult> => {
    const size = Buffer.byteLength(JSON.stringify(command));
    if (size > options.maxCommandBytes) {
      throw new HttpError(413, { error: 'payload_too_large', reason: `the command is ${size} bytes; at most ${options.maxCommandBytes} can be replicated` });
    }
    try {
      const { result } = await node.propose(command);
      metrics.proposals.inc({ outcome: 'committed' });
      // Refused by the state machine: the command as given can never apply (nothing changed).
      const refused = result as { ok?: unknown; reason?: unknown; error?: unknown };
      if (refused.ok === false && (refused.reason === 'invalid_command' || refused.reason === 'stale')) {
        throw new HttpError(400, { error: 'bad_request', reason: String(refused.error ?? refused.reason) });
      }
      return result;
    } catch (error) {
      if (!(error instanceof HttpError)) metrics.proposals.inc({ outcome: error instanceof RaftError ? error.code : 'error' });
      throw error;
    }
  };

  const read = async <T>(query: CoordQuery): Promise<T> => {
    try {
      const result = (await node.read(query)) as T | { ok: false; error: string };
      if (typeof result === 'object' && result !== null && 'ok' in result && result.ok === false) {
        throw new HttpError(400, { error: 'bad_request', reason: (result as { error: string }).error });
      }
      metrics.reads.inc({ outcome: 'served' });
      return result as T;
    } catch (error) {
      if (!(error instanceof HttpError)) metrics.reads.inc({ outcome: error instanceof RaftError ? error.code : 'error' });
      throw error;
    }
  };

  /**
   * The task, read through ReadIndex, if it exists and belongs to `queue` (any queue when `queue` is
   * undefined); 404 otherwise. (A write names its queue in the command instead, checked in the log:
   * a done or dead task is forgotten after taskRetentionMs, and its id may then be posted again to
   * another queue, so no earlier read could vouch for it.)
   */
  const taskOf = async (queue: string | undefined, id: string): Promise<TaskView> => {
    const { task } = await read<{ task: TaskView | null }>({ type: 'task.get', id });
    if (task === null || (queue !== undefined && task.queue !== queue)) {
      throw new HttpError(404, {
        error: 'not_found',
        detail: queue === undefined ? `no task ${JSON.stringify(id)}` : `no task ${JSON.stringify(id)} in queue ${JSON.stringify(queue)}`,
      });
    }
    return task;
  };

  const leases = async (req: IncomingMessage, url: URL, rest: string): Promise<[number, unknown]> => {
    if (rest === '') {
      if (req.method !== 'GET') throw methodNotAllowed('GET', 'GET /v1/leases lists them; a lease is /v1/leases/<name>');
      noParams(url, []);
      return [200, { leases: (await read<{ leases: unknown[] }>({ type: 'lease.list' })).leases }];
    }
    const leaseName = decodeName(rest, 'lease name');
    switch (req.method) {
      case 'GET': {
        noParams(url, []);
        const { lease } = await read<{ lease: unknown }>({ type: 'lease.get', name: leaseName });
        return lease === null ? [404, { error: 'not_found', detail: `nobody holds lease ${JSON.stringify(leaseName)}` }] : [200, { lease }];
      }
      case 'PUT': {
        noParams(url, []);
        const body = parse(acquireBody, await readJsonBody(req, options.bodyLimit));
        return leaseAnswer(await propose({ type: 'lease.acquire', name: leaseName, holder: body.holder, ttlMs: body.ttlMs, ...clientOf(req) }));
      }
      case 'POST': {
        noParams(url, []);
        const body = parse(renewBody, await readJsonBody(req, options.bodyLimit));
        return leaseAnswer(await propose({ type: 'lease.renew', name: leaseName, token: body.token, ...optional('ttlMs', body.ttlMs), ...clientOf(req) }));
      }
      case 'DELETE': {
        noParams(url, ['token']);
        const raw = await readJsonBody(req, options.bodyLimit);
        const query = url.searchParams.get('token');
        if (raw !== undefined && query !== null) throw badRequest('give the token once: in the body {"token": n} or as ?token=n');
        const body = parse(releaseBody, raw ?? (query === null ? {} : { token: /^\d{1,16}$/.test(query) ? Number(query) : query }));
        return leaseAnswer(await propose({ type: 'lease.release', name: leaseName, token: body.token, ...clientOf(req) }));
      }
      default:
        throw methodNotAllowed('GET, PUT, POST, DELETE');
    }
  };

  const queues = async (req: IncomingMessage, url: URL, segments: string[]): Promise<[number, unknown]> => {
    if (segments.length === 0) {
      if (req.method !== 'GET') throw methodNotAllowed('GET', 'GET /v1/queues lists them; post a task with POST /v1/queues/<queue>');
      noParams(url, []);
      return [200, { queues: (await read<{ queues: unknown[] }>({ type: 'queue.list' })).queues }];
    }
    const queue = decodeName(segments[0] as string, 'queue name');
    if (segments.length === 1) {
      if (req.method === 'GET') {
        noParams(url, ['limit']);
        return [200, await read({ type: 'task.list', queue, ...optional('limit', limitOf(url)) })];
      }
      if (req.method !== 'POST') throw methodNotAllowed('GET, POST');
      noParams(url, []);
      const body = parse(postBody, await readJsonBody(req, options.bodyLimit));
      const result = await propose({
        type: 'task.post',
        queue,
        task: body.task as JsonValue,
        ...optional('id', body.id),
        ...optional('maxAttempts', body.maxAttempts),
        ...clientOf(req),
      });
      if (result.ok && 'duplicate' in result) return [200, { id: result.id, index: result.index, duplicate: result.duplicate }];
      return refusalAnswer(result);
    }
    if (segments.length === 2 && segments[1] === 'claim' && req.method === 'POST') {
      noParams(url, []);
      const body = parse(claimBody, await readJsonBody(req, options.bodyLimit));
      const result = await propose({ type: 'task.claim', queue, worker: body.worker, ttlMs: body.ttlMs, ...clientOf(req) });
      if (result.ok && 'claim' in result) return result.claim === null ? [204, undefined] : [200, { claim: result.claim }];
      return refusalAnswer(result);
    }
    return task(req, url, queue, segments.slice(1));
  };

  /** /v1/queues/:queue/:id[/action] (queue given) or /v1/tasks/:id[/action] (queue undefined). */
  const task = async (req: IncomingMessage, url: URL, queue: string | undefined, segments: string[]): Promise<[number, unknown]> => {
    const where = queue === undefined ? '/v1/tasks/<id>' : '/v1/queues/<queue>/<id>';
    if (segments.length === 0 || segments.length > 2) throw new HttpError(404, { error: 'not_found', detail: `no such route: ${url.pathname}` });
    const id = decodeName(segments[0] as string, 'task id');
    noParams(url, []);
    if (segments.length === 1) {
      if (req.method !== 'GET') throw methodNotAllowed('GET', `a task is read with GET ${where}; change it with POST ${where}/heartbeat, /complete or /fail`);
      return [200, { task: await taskOf(queue, id) }];
    }
    const action = segments[1] as TaskAction;
    if (!TASK_ACTIONS.includes(action)) throw new HttpError(404, { error: 'not_found', detail: `no such route: ${url.pathname} (the actions are ${TASK_ACTIONS.join(', ')})` });
    if (req.method !== 'POST') throw methodNotAllowed('POST');
    const raw = await readJsonBody(req, options.bodyLimit);
    // The queue of the URL goes in the command: the state machine refuses a task of another queue
    // as not_found, in the log, where no replica's earlier view can be out of date.
    const inQueue = optional('queue', queue);
    let command: CoordCommand;
    if (action === 'heartbeat') {
      const body = parse(heartbeatBody, raw);
      command = { type: 'task.heartbeat', id, token: body.token, ...optional('ttlMs', body.ttlMs), ...inQueue };
    } else if (action === 'complete') {
      const body = parse(completeBody, raw);
      command = { type: 'task.complete', id, token: body.token, ...optional('result', body.result as JsonValue | undefined), ...inQueue };
    } else {
      const body = parse(failBody, raw);
      command = { type: 'task.fail', id, token: body.token, reason: body.reason, ...optional('retry', body.retry), ...inQueue };
    }
    const result = await propose({ ...command, ...clientOf(req) });
    if (result.ok) {
      if ('expiresAt' in result) return [200, { expiresAt: result.expiresAt }];
      if ('state' in result) return [200, { state: result.state }];
      return [200, {}];
    }
    return refusalAnswer(result);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    const path = rawPath(req, url);
    if (path !== '/v1' && !path.startsWith('/v1/')) return false;
    const started = performance.now();
    let route = 'v1';
    const send = (status: number, body: unknown) => {
      if (body === undefined) res.writeHead(status).end();
      else res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      metrics.requestSeconds.observe({ route, status: String(status) }, (performance.now() - started) / 1000);
    };
    try {
      if (path === '/v1/watch') {
        route = 'watch';
        if (req.method !== 'GET') throw methodNotAllowed('GET');
        const watcher = openWatch(req, res, url);
        watchers.add(watcher);
        res.on('close', () => {
          watcher.end();
          watchers.delete(watcher);
        });
        return true;
      }
      let answer: [number, unknown];
      if (path === '/v1/leases' || path.startsWith('/v1/leases/')) {
        route = 'leases';
        answer = await leases(req, url, path.slice('/v1/leases/'.length));
      } else if (path === '/v1/queues' || path.startsWith('/v1/queues/')) {
        route = 'queues';
        answer = await queues(req, url, segmentsOf(path.slice('/v1/queues/'.length)));
      } else if (path.startsWith('/v1/tasks/')) {
        route = 'tasks';
        answer = await task(req, url, undefined, segmentsOf(path.slice('/v1/tasks/'.length)));
      } else {
        throw new HttpError(404, { error: 'not_found', detail: `no such route: ${path} (see /v1/leases, /v1/queues, /v1/tasks/<id>, /v1/watch)` });
      }
      send(answer[0], answer[1]);
    } catch (thrown) {
      const error = thrown instanceof UnexpectedAnswer ? thrown.toHttp(req) : thrown;
      const [status, body] = toHttpError(error, options.addressOf);
      if (!res.headersSent) {
        if (error instanceof HttpError && error.headers) for (const [header, value] of Object.entries(error.headers)) res.setHeader(header, value);
        send(status, body);
      } else res.end();
    }
    return true;
  };

  // ------------------------------------------------------------ watch

  const openWatch = (req: IncomingMessage, res: ServerResponse, url: URL): Watcher => {
    noParams(url, ['prefix', 'from', 'kinds']);
    const prefix = url.searchParams.get('prefix') ?? '';
    const kinds = kindsOf(url.searchParams.get('kinds'));
    const lastEventId = req.headers['last-event-id'];
    let from: LogIndex | undefined;
    if (typeof lastEventId === 'string' && lastEventId.trim() !== '') {
      if (!/^\d{1,15}$/.test(lastEventId.trim())) throw badRequest('Last-Event-ID is the index of the last batch seen, a whole number');
      from = Number(lastEventId.trim()) + 1;
    } else {
      const text = url.searchParams.get('from');
      if (text !== null) {
        if (!/^\d{1,15}$/.test(text) || Number(text) < 1) throw badRequest('from is the first log index to deliver, a whole number ≥ 1');
        from = Number(text);
      }
    }
    const start = from ?? stateMachine.appliedIndex + 1;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    // No message yet, but the position: a client that reconnects before the first batch resumes here.
    res.write(`: watching ${JSON.stringify(prefix)} from ${start}\nid: ${start - 1}\n\n`);
    let ended = false;
    // The last entry applied here whose changes this watcher was given (sent, or filtered out);
    // every id sent is at most this, so the keep-alive's never goes back.
    let seen = start - 1;
    let keepAlive: ReturnType<typeof setInterval> | undefined;
    let unsubscribe: (() => void) | undefined;
    let stopSeeing: (() => void) | undefined;
    const stop = () => {
      ended = true;
      clearInterval(keepAlive);
      unsubscribe?.();
      stopSeeing?.();
    };
    const end = (last?: string) => {
      if (ended) return;
      if (last !== undefined) res.write(last);
      stop();
      res.end();
    };
    const write = (text: string) => {
      if (ended) return;
      res.write(text);
      // Too slow a reader: drop it rather than buffer without end — destroyed, since end() would
      // wait for the whole backlog to drain. It resumes by Last-Event-ID.
      if (res.writableLength > (options.maxBufferedBytes ?? 8 * 1024 * 1024)) {
        stop();
        res.destroy();
      }
    };
    const deliver = (message: WatchMessage) => {
      if (message.type === 'compacted') {
        write(`event: compacted\ndata: ${JSON.stringify({ index: message.index, detail: message.detail })}\n\n`);
        end();
        return;
      }
      seen = Math.max(seen, message.index);
      write(`id: ${message.index}\nevent: changes\ndata: ${JSON.stringify({ index: message.index, changes: message.changes })}\n\n`);
    };
    stopSeeing = stateMachine.onChanges((batch) => {
      seen = Math.max(seen, batch.index);
    });
    const unsubscribed = subscribeJournal(stateMachine, prefix, { from: start, ...(kinds !== undefined ? { kinds } : {}) }, deliver);
    if (ended) unsubscribed();
    else {
      unsubscribe = unsubscribed;
      // The history was replayed synchronously: every entry applied so far was given to this
      // watcher (sent, or filtered out), also those before it subscribed to new ones.
      seen = Math.max(seen, stateMachine.appliedIndex);
    }
    // Each entry's changes are delivered as it applies, so by now every batch up to `seen` was
    // given to this watcher: resuming after it misses nothing, also of a filtered watch.
    if (!ended) keepAlive = setInterval(() => write(`: keep-alive\nid: ${seen}\n\n`), options.keepAliveMs ?? DEFAULT_KEEP_ALIVE_MS);
    return {
      end,
      snapshotInstalled: (index) => {
        if (ended || seen >= index) return;
        deliver({
          type: 'compacted',
          index: index + 1,
          detail: `this node installed a snapshot at index ${index} from the leader; changes after ${seen} may be missing here: re-read the state and watch from ${index + 1}`,
        });
      },
    };
  };

  return {
    handle,
    snapshotInstalled: (index) => {
      for (const watcher of watchers) watcher.snapshotInstalled(index);
    },
    close: () => {
      clearInterval(leaderCheck);
      for (const watcher of watchers) watcher.end();
      watchers.clear();
    },
  };
}

interface Watcher {
  /** End the stream, after `last` (a comment saying why) if given. */
  end(last?: string): void;
  snapshotInstalled(index: LogIndex): void;
}

// ---------------------------------------------------------------- answers

function leaseAnswer(result: CoordResult): [number, unknown] {
  if (result.ok && 'lease' in result) return [200, { lease: result.lease }];
  if (result.ok) return [200, {}];
  return refusalAnswer(result);
}

/** A refusal of the state machine as its HTTP answer (409 lease_held / stale_token / id_taken, 404 not_found). */
function refusalAnswer(result: CoordResult): [number, unknown] {
  const refusal = result as { ok: boolean; reason?: string } & Record<string, unknown>;
  switch (refusal.reason) {
    case 'lease_held': {
      const { ok: _ok, reason: _reason, ...rest } = refusal;
      return [409, { error: 'lease_held', ...rest }];
    }
    case 'stale_token':
      return [409, staleBody(refusal as unknown as StaleToken)];
    case 'id_taken': {
      const { ok: _ok, reason: _reason, ...rest } = refusal;
      return [409, { error: 'id_taken', ...rest }];
    }
    case 'not_found':
      return [404, { error: 'not_found', detail: refusal.detail }];
    default:
      throw new UnexpectedAnswer(result);
  }
}

/**
 * The state machine answered as for another command. With X-Client-Id this is the answer it kept
 * for that (client, seq): the seq was reused for a different request (a client must increase it
 * for each new one), and the replayed answer is not this route's — 409, not 500 (found by
 * test/integration/fuzz-http.test.ts). Without one it is a bug here: 500.
 */
class UnexpectedAnswer extends Error {
  constructor(readonly result: CoordResult) {
    super(`unexpected answer of the state machine: ${JSON.stringify(result)}`);
  }

  toHttp(req: IncomingMessage): HttpError {
    if (req.headers['x-client-id'] === undefined) return new HttpError(500, { error: 'internal', reason: this.message });
    return new HttpError(409, {
      error: 'request_seq_reused',
      reason: `X-Client-Id ${JSON.stringify(req.headers['x-client-id'])} with X-Request-Seq ${JSON.stringify(req.headers['x-request-seq'])} was already used for another request, whose answer is kept for retries; use a higher X-Request-Seq for a new request`,
    });
  }
}

// ---------------------------------------------------------------- input

function badRequest(reason: string): HttpError {
  return new HttpError(400, { error: 'bad_request', reason });
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

function segmentsOf(rest: string): string[] {
  return rest === '' ? [] : rest.split('/');
}

function decodeName(raw: string, what: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw badRequest(`the ${what} is not valid percent-encoding`);
  }
  if (decoded.length === 0) throw badRequest(`the ${what} is empty`);
  if (decoded.length > MAX_NAME_LENGTH) throw badRequest(`a ${what} is 1 to ${MAX_NAME_LENGTH} characters`);
  return decoded;
}

function noParams(url: URL, allowed: readonly string[]): void {
  for (const param of url.searchParams.keys()) {
    if (!allowed.includes(param)) {
      throw badRequest(`unknown parameter ${param}: ${url.pathname} takes ${allowed.length === 0 ? 'none' : allowed.join(', ')}`);
    }
  }
}

function limitOf(url: URL): number | undefined {
  const text = url.searchParams.get('limit');
  if (text === null) return undefined;
  const limit = /^\d{1,4}$/.test(text) ? Number(text) : NaN;
  if (!(limit >= 1 && limit <= MAX_LIST_LIMIT)) throw badRequest(`limit is a whole number from 1 to ${MAX_LIST_LIMIT}`);
  return limit;
}

function kindsOf(text: string | null): WatchKind[] | undefined {
  if (text === null || text === '') return undefined;
  const kinds = text.split(',').map((k) => k.trim());
  for (const kind of kinds) {
    if (!WATCH_KINDS.includes(kind as WatchKind)) throw badRequest(`kinds is a comma-separated list of ${WATCH_KINDS.join(', ')}; got ${JSON.stringify(kind)}`);
  }
  return kinds as WatchKind[];
}
