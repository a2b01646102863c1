/**
 * `xstate-raft mcp --peers … [--token …]`: the cluster's KV, leases and task queues as Model
 * Context Protocol tools (src/mcp/server.ts) on stdio, for an MCP client to start as a subprocess.
 * stdout carries the protocol and nothing else; every line for a person goes to stderr.
 *
 * The client is `connect({ peers, token })`. Nothing is asked of the cluster at startup: a cluster
 * that is down, or a connect() without leases and tasks, is a tool error at call time, so the MCP
 * client can still list the tools and the model read what went wrong.
 */
import type { Readable, Writable } from 'node:stream';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { Option, type Command } from 'commander';
import { connect } from '../client/connect.js';
import type { LeaseApi, TaskApi } from '../coord/types.js';
import { RaftError } from '../errors.js';
import { createMcpServer, type McpClusterClient, type McpKvApi } from '../mcp/server.js';

export interface McpCommandOptions {
  /** The nodes to ask: `host:port`, `id=host:port` or `http(s)://host:port`, comma-separated. */
  peers: string;
  /** The cluster's client token. */
  token?: string;
}

export interface McpIo {
  readonly stdin: Readable;
  readonly stdout: Writable;
  readonly log: (line: string) => void;
}

export function registerMcpCommand(program: Command, version: () => string): void {
  program
    .command('mcp')
    .description("serve the cluster's KV, leases and task queues as Model Context Protocol tools on stdio (for an MCP client to start)")
    .addOption(
      new Option('--peers <list>', 'nodes to ask: host:port or id=host:port, comma-separated (default: $XSTATE_RAFT_PEERS)').env('XSTATE_RAFT_PEERS').makeOptionMandatory(),
    )
    .addOption(new Option('--token <token>', "the cluster's client token (default: $XSTATE_RAFT_CLIENT_TOKEN)").env('XSTATE_RAFT_CLIENT_TOKEN'))
    .action(async (opts: McpCommandOptions) => {
      process.exitCode = await runMcp(opts, version());
    });
}

/** Serves until stdin ends or a SIGINT/SIGTERM; resolves with the exit code (2: bad --peers or --token). */
export async function runMcp(
  opts: McpCommandOptions,
  version: string,
  io: McpIo = { stdin: process.stdin, stdout: process.stdout, log: (line) => void process.stderr.write(`${line}\n`) },
): Promise<number> {
  let cluster: ReturnType<typeof connect>;
  try {
    // An empty variable (as a parent process may pass one on) means none.
    cluster = connect({ peers: opts.peers, ...(opts.token ? { token: opts.token } : {}) });
  } catch (error) {
    io.log(`error: ${(error as Error).message}`);
    return 2;
  }
  const server = createMcpServer(mcpClientOf(cluster), { version });
  const transport = new StdioServerTransport(io.stdin, io.stdout);
  const closed = new Promise<void>((resolve) => {
    server.server.onclose = () => resolve();
  });
  const stop = () => void server.close();
  io.stdin.once('end', stop);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await server.connect(transport);
    io.log(`xstate-raft mcp ${version}: serving on stdio for ${opts.peers}`);
    await closed;
    return 0;
  } finally {
    io.stdin.off('end', stop);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/**
 * `connect()`'s client as the tools' client. A connect() from before leases and tasks (KV calls at
 * the top level, no `leases`) still serves the KV tools and cluster_status; the coordination tools
 * and fenced writes then fail at call time with `not_supported` — never a fenced write made unfenced.
 */
export function mcpClientOf(cluster: object): McpClusterClient {
  const c = cluster as Partial<McpKvApi> & { kv?: McpKvApi; leases?: LeaseApi; tasks?: TaskApi; status(): Promise<readonly object[]> };
  const status = () => c.status();
  if (c.kv !== undefined && typeof c.leases?.acquire === 'function' && typeof c.tasks?.claim === 'function') return { kv: c.kv, leases: c.leases, tasks: c.tasks, status };
  const flat = c.kv ?? (c as McpKvApi);
  const missing = (what: string) => () =>
    Promise.reject(
      new RaftError('not_supported', `${what} need a connect() with leases and tasks, which this build of xstate-raft does not have (the KV tools and cluster_status work)`),
    );
  const unfenced =
    <A extends unknown[], R>(call: (...args: A) => Promise<R>, optionsAt: number) =>
    (...args: A): Promise<R> =>
      (args[optionsAt] as { fence?: unknown } | undefined)?.fence !== undefined ? missing('fenced writes')() : call(...args);
  const leases = missing('leases');
  const tasks = missing('task queues');
  return {
    kv: {
      get: (key) => flat.get(key),
      put: unfenced((key, value, options) => flat.put(key, value, options), 2),
      cas: unfenced((key, from, to, options) => flat.cas(key, from, to, options), 3),
      list: (prefix) => flat.list(prefix),
    },
    leases: { acquire: leases, renew: leases, release: leases, get: leases, list: leases },
    tasks: { post: tasks, claim: tasks, heartbeat: tasks, complete: tasks, fail: tasks, get: tasks, list: tasks },
    status,
  };
}
