/**
 * `xstate-raft lease …`, `xstate-raft task …` and `xstate-raft watch …`: the coordination API
 * (src/server/coord-api.ts) at a terminal or in a shell script. Each is one call of
 * `connect({ peers })` — it finds the leader, retries while there is none, numbers its writes so
 * a retried claim is applied once, and a watch resumes on another node when its node goes away.
 *
 * Output: one JSON line (the lease, the claim, the task list …; `null` when nothing is queued),
 * or for `watch` one JSON line per batch. Exit codes as `xstate-raft kv`: 0 done, 1 refused or
 * failed (the reason on stderr: who holds the lease until when, a stale token, …), 2 a bad flag
 * or argument (one line on stderr, nothing asked of the cluster).
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { connect, type ClusterClient } from '../client/connect.js';
import { MAX_TTL_MS, MIN_TTL_MS, type WatchKind } from '../coord/types.js';
import type { JsonValue } from '../core/json.js';
import { NotFoundError } from '../errors.js';
import { parseInteger } from './parse.js';

/** What every coordination command takes: --peers, --timeout, --client-token (as `xstate-raft kv`). */
export type WithTarget = (command: Command) => Command;

interface TargetOpts {
  peers: string[];
  timeout: number;
  clientToken?: string;
}

export interface CoordIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

const consoleIo: CoordIo = { out: (line) => console.log(line), err: (line) => console.error(line) };

const parseToken = parseInteger(1, Number.MAX_SAFE_INTEGER);
const parseTtl = parseInteger(MIN_TTL_MS, MAX_TTL_MS);

/** A JSON value on the command line (a string is quoted: '"text"'). */
export function parseJson(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    throw new InvalidArgumentError(`expected a JSON value (a string is quoted, like '"text"'), got ${text}`);
  }
}

function parseKinds(text: string): WatchKind[] {
  const kinds = text.split(',').map((k) => k.trim());
  for (const kind of kinds) if (!['kv', 'lease', 'task'].includes(kind)) throw new InvalidArgumentError(`expected kinds from kv, lease, task (comma-separated), got "${kind}"`);
  return kinds as WatchKind[];
}

function clientOf(opts: TargetOpts): ClusterClient {
  return connect({
    peers: opts.peers,
    timeout: opts.timeout,
    attemptTimeout: Math.min(opts.timeout, 5000),
    clientId: 'cli',
    ...(opts.clientToken ? { token: opts.clientToken } : {}),
  });
}

/** Run one call: its answer as a JSON line and 0, or the error on stderr and 1. */
async function once(io: CoordIo, call: () => Promise<unknown>): Promise<number> {
  try {
    const answer = await call();
    io.out(JSON.stringify(answer ?? null));
    return 0;
  } catch (error) {
    io.err(`error: ${(error as Error).message}`);
    return 1;
  }
}

/** The task, if it belongs to `queue` (tasks never move between queues). */
async function taskIn(client: ClusterClient, queue: string, id: string): Promise<void> {
  const task = await client.tasks.get(id);
  if (task === undefined || task.queue !== queue) throw new NotFoundError(`no task ${JSON.stringify(id)} in queue ${JSON.stringify(queue)}`);
}

export function registerCoordCommands(program: Command, withTarget: WithTarget, io: CoordIo = consoleIo): void {
  const run = (work: () => Promise<number>) =>
    work().then((code) => {
      process.exitCode = code;
    });

  // ------------------------------------------------------------ leases
  const lease = program.command('lease').description('leases with fencing tokens: one holder at a time, until its TTL runs out');
  withTarget(
    lease
      .command('acquire <name>')
      .description('take the lease if it is free, expired or already yours (a new token each time); prints the lease')
      .addOption(new Option('--holder <holder>', 'who holds it (an agent name)').makeOptionMandatory())
      .addOption(new Option('--ttl <ms>', `how long it lasts unless renewed (${MIN_TTL_MS} to ${MAX_TTL_MS})`).argParser(parseTtl).makeOptionMandatory()),
  ).action((name: string, opts: TargetOpts & { holder: string; ttl: number }) =>
    run(() => once(io, () => clientOf(opts).leases.acquire(name, { holder: opts.holder, ttlMs: opts.ttl }))),
  );
  withTarget(
    lease
      .command('renew <name>')
      .description('extend the lease by its TTL (or --ttl) from now; prints the lease')
      .addOption(new Option('--token <n>', 'the fencing token acquire printed').argParser(parseToken).makeOptionMandatory())
      .addOption(new Option('--ttl <ms>', 'a new TTL').argParser(parseTtl)),
  ).action((name: string, opts: TargetOpts & { token: number; ttl?: number }) =>
    run(() => once(io, () => clientOf(opts).leases.renew(name, opts.token, opts.ttl !== undefined ? { ttlMs: opts.ttl } : {}))),
  );
  withTarget(
    lease
      .command('release <name>')
      .description('give the lease up')
      .addOption(new Option('--token <n>', 'the fencing token acquire printed').argParser(parseToken).makeOptionMandatory()),
  ).action((name: string, opts: TargetOpts & { token: number }) => run(() => once(io, async () => (await clientOf(opts).leases.release(name, opts.token), { released: name }))));
  withTarget(lease.command('get <name>').description('the lease now (linearizable), or null when nobody holds it')).action((name: string, opts: TargetOpts) =>
    run(() => once(io, () => clientOf(opts).leases.get(name))),
  );
  withTarget(lease.command('list').description('every lease held now')).action((opts: TargetOpts) => run(() => once(io, () => clientOf(opts).leases.list())));

  // ------------------------------------------------------------ tasks
  const task = program.command('task').description('task queues: post, claim (with a TTL), heartbeat, complete or fail');
  withTarget(
    task
      .command('post <queue>')
      .argument('<json>', 'the task, a JSON value', parseJson)
      .description('add a task to the queue; prints {id, index, duplicate}')
      .option('--id <id>', 'makes posting idempotent: a second post with this id returns the first')
      .addOption(new Option('--max-attempts <n>', 'claims before it is dead-lettered (default 5)').argParser(parseInteger(1, 1000))),
  ).action((queue: string, body: JsonValue, opts: TargetOpts & { id?: string; maxAttempts?: number }) =>
    run(() =>
      once(io, () =>
        clientOf(opts).tasks.post(queue, body, { ...(opts.id !== undefined ? { id: opts.id } : {}), ...(opts.maxAttempts !== undefined ? { maxAttempts: opts.maxAttempts } : {}) }),
      ),
    ),
  );
  withTarget(
    task
      .command('claim <queue>')
      .description('claim the oldest queued task; prints the claim (with its token), or null when none is queued')
      .addOption(new Option('--worker <worker>', 'who works on it').makeOptionMandatory())
      .addOption(new Option('--ttl <ms>', `how long the claim lasts unless heartbeated (${MIN_TTL_MS} to ${MAX_TTL_MS})`).argParser(parseTtl).makeOptionMandatory()),
  ).action((queue: string, opts: TargetOpts & { worker: string; ttl: number }) =>
    run(() => once(io, () => clientOf(opts).tasks.claim(queue, { worker: opts.worker, ttlMs: opts.ttl }))),
  );
  withTarget(
    task
      .command('heartbeat <queue> <id>')
      .description('extend the claim by its TTL (or --ttl) from now; prints {expiresAt}')
      .addOption(new Option('--token <n>', 'the token of the claim').argParser(parseToken).makeOptionMandatory())
      .addOption(new Option('--ttl <ms>', 'a new TTL').argParser(parseTtl)),
  ).action((queue: string, id: string, opts: TargetOpts & { token: number; ttl?: number }) =>
    run(() =>
      once(io, async () => {
        const client = clientOf(opts);
        await taskIn(client, queue, id);
        return client.tasks.heartbeat(id, opts.token, opts.ttl !== undefined ? { ttlMs: opts.ttl } : {});
      }),
    ),
  );
  withTarget(
    task
      .command('complete <queue> <id>')
      .description('the task is done (with --result)')
      .addOption(new Option('--token <n>', 'the token of the claim').argParser(parseToken).makeOptionMandatory())
      .addOption(new Option('--result <json>', 'its result, a JSON value').argParser(parseJson)),
  ).action((queue: string, id: string, opts: TargetOpts & { token: number; result?: JsonValue }) =>
    run(() =>
      once(io, async () => {
        const client = clientOf(opts);
        await taskIn(client, queue, id);
        await client.tasks.complete(id, opts.token, opts.result);
        return { completed: id };
      }),
    ),
  );
  withTarget(
    task
      .command('fail <queue> <id>')
      .description('give the task up: back to the queue while attempts remain (unless --no-retry), else dead; prints {state}')
      .addOption(new Option('--token <n>', 'the token of the claim').argParser(parseToken).makeOptionMandatory())
      .addOption(new Option('--reason <text>', 'why').makeOptionMandatory())
      .option('--no-retry', 'dead-letter it now'),
  ).action((queue: string, id: string, opts: TargetOpts & { token: number; reason: string; retry: boolean }) =>
    run(() =>
      once(io, async () => {
        const client = clientOf(opts);
        await taskIn(client, queue, id);
        return client.tasks.fail(id, opts.token, opts.reason, { retry: opts.retry });
      }),
    ),
  );
  withTarget(
    task
      .command('list <queue>')
      .description("the queue's tasks, oldest first, and its counts by state")
      .addOption(new Option('--limit <n>', 'at most this many tasks').argParser(parseInteger(1, 1000))),
  ).action((queue: string, opts: TargetOpts & { limit?: number }) =>
    run(() => once(io, () => clientOf(opts).tasks.list(queue, opts.limit !== undefined ? { limit: opts.limit } : {}))),
  );

  // ------------------------------------------------------------ watch
  withTarget(
    program
      .command('watch <prefix>')
      .description('print every change whose key (KV key, lease name, <queue>/<task id>) starts with <prefix>, one JSON line per log entry; Ctrl-C stops')
      .addOption(new Option('--from <index>', 'first log index to print (default: changes from now on)').argParser(parseToken))
      .addOption(new Option('--kinds <list>', 'only these kinds: kv, lease, task (comma-separated)').argParser(parseKinds))
      .addOption(new Option('--count <n>', 'stop after this many batches').argParser(parseInteger(1, Number.MAX_SAFE_INTEGER))),
  ).action((prefix: string, opts: TargetOpts & { from?: number; kinds?: WatchKind[]; count?: number }) =>
    run(async () => {
      const controller = new AbortController();
      const stop = () => controller.abort();
      process.once('SIGINT', stop);
      let printed = 0;
      try {
        const messages = clientOf(opts).watch(prefix, {
          ...(opts.from !== undefined ? { from: opts.from } : {}),
          ...(opts.kinds !== undefined ? { kinds: opts.kinds } : {}),
          signal: controller.signal,
        });
        for await (const message of messages) {
          if (message.type === 'compacted') {
            io.err(`error: compacted: ${message.detail}`);
            return 1;
          }
          io.out(JSON.stringify({ index: message.index, changes: message.changes }));
          if (opts.count !== undefined && ++printed >= opts.count) return 0;
        }
        return 0;
      } catch (error) {
        io.err(`error: ${(error as Error).message}`);
        return 1;
      } finally {
        process.removeListener('SIGINT', stop);
        controller.abort();
      }
    }),
  );
}
