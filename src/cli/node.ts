/** `xstate-raft node`: one durable node in the foreground, until SIGTERM / SIGINT. */
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { createInspector } from '../inspect/inspect.js';
import { startNodeServer, type NodeServer } from '../server/node-server.js';
import { isLoopback, parseHostPort } from './parse.js';

export interface NodeCommandOptions {
  /** Default: the entry of --peers whose address is --listen (required with --join). */
  id?: string;
  listen: { host: string; port: number };
  /** Bootstrap: the voters the cluster starts with (not with --join). */
  peers?: Record<string, string>;
  /** "host:port" of any member of a running cluster: this node is a new, empty server that waits to be added. */
  join?: string;
  /** The cluster's id: a new data directory stores it, an existing one must hold it. */
  clusterId?: string;
  data: string;
  /** --write-thread: BackgroundSqliteStorage. */
  writeThread?: boolean;
  secret?: string;
  /** Bearer token every client, admin and debug request must carry (default: $XSTATE_RAFT_CLIENT_TOKEN). */
  clientToken?: string;
  electionTimeout: [number, number];
  heartbeat: number;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  bodyLimit: number;
  /** Applied entries between snapshots (default: the runtime's, 8192). */
  snapshotThreshold?: number;
  logLevel: string;
  inspect?: boolean | string;
}

/** The heartbeat may be at most this fraction of the shortest election timeout. */
const HEARTBEAT_FRACTION = 3;

/**
 * A heartbeat too close to the election timeout makes followers start elections while the
 * leader is fine (one late heartbeat is enough): it must be at most a third of the minimum.
 */
export function timingError(electionTimeout: readonly [number, number], heartbeat: number): string | undefined {
  const most = Math.floor(electionTimeout[0] / HEARTBEAT_FRACTION);
  if (heartbeat <= most) return undefined;
  return (
    `--heartbeat ${heartbeat} is too close to --election-timeout ${electionTimeout[0]}-${electionTimeout[1]}: it must be at most a third of the ` +
    `minimum (${most} ms here), or followers start elections while the leader is alive; lower --heartbeat or raise --election-timeout`
  );
}

/**
 * Check the configuration before anything starts: --peers or --join, the node's id (or find it
 * from --listen), that --listen is this node's own entry of --peers, the timing, and TLS. Returns
 * the node id, or one line saying what is wrong and what to do.
 */
export function checkNodeConfig(opts: NodeCommandOptions): { id: string } | { error: string } {
  if (opts.join !== undefined) return checkJoinConfig(opts);
  if (opts.peers === undefined) {
    return { error: 'error: give --peers (the voters of a new cluster, this node included) or --join <host:port of a member> (a new server for a running cluster)' };
  }
  const peers = opts.peers;
  const ids = Object.keys(peers);
  const listens = (address: string) => {
    const peer = parseHostPort(address);
    if (peer.port !== opts.listen.port) return false;
    // A wildcard address (0.0.0.0, ::) listens on every interface, the peer's one included.
    return peer.host === opts.listen.host || ['0.0.0.0', '::'].includes(opts.listen.host) || (isLoopback(peer.host) && isLoopback(opts.listen.host));
  };
  let id = opts.id;
  if (id === undefined) {
    const mine = ids.filter((peer) => listens(peers[peer] as string));
    if (mine.length !== 1) {
      return {
        error: `error: --id is missing and ${mine.length === 0 ? 'no entry' : `${mine.length} entries`} of --peers (${describePeers(peers)}) match --listen ${hostPort(opts.listen)}; pass --id`,
      };
    }
    id = mine[0] as string;
  }
  if (!(id in peers)) return { error: `error: --id ${id} is not in --peers (${ids.join(', ')}); add it to --peers, with the address it listens on` };
  const own = peers[id] as string;
  if (!listens(own)) {
    return {
      error: `error: --listen ${hostPort(opts.listen)} is not ${id}'s own entry in --peers (${id}=${own}): the other nodes would send to ${own}; make them the same address`,
    };
  }
  return checkCommon(opts, id);
}

/** --join: a new server names itself (--id) and one member to ask; --peers would bootstrap another cluster. */
function checkJoinConfig(opts: NodeCommandOptions): { id: string } | { error: string } {
  if (opts.peers !== undefined) {
    return {
      error:
        'error: --join and --peers (or $XSTATE_RAFT_PEERS) do not go together: --peers bootstraps a new cluster, --join adds this server to a running one (it learns the members from the cluster)',
    };
  }
  if (opts.id === undefined)
    return { error: `error: --join needs --id: the new server's id, the one you add it under (xstate-raft member add <id> --address ${hostPort(opts.listen)})` };
  const join = parseJoin(opts.join as string);
  if (join === undefined) return { error: `error: --join ${opts.join}: expected the host:port of a member of the cluster (like 127.0.0.1:7001)` };
  return checkCommon(opts, opts.id);
}

function parseJoin(value: string): string | undefined {
  try {
    const { host, port } = parseHostPort(value);
    return hostPort({ host, port });
  } catch {
    return undefined;
  }
}

function checkCommon(opts: NodeCommandOptions, id: string): { id: string } | { error: string } {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) return { error: `error: --id ${id}: a node id is 1-64 letters, digits, '.', '_' or '-'` };
  const timing = timingError(opts.electionTimeout, opts.heartbeat);
  if (timing !== undefined) return { error: `error: ${timing}` };
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) return { error: 'error: --tls-cert and --tls-key go together; pass both, or neither' };
  if (opts.clusterId !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(opts.clusterId))
    return { error: `error: --cluster-id ${opts.clusterId}: 1-64 letters, digits, '.', '_' or '-'` };
  return { id };
}

function hostPort(listen: { host: string; port: number }): string {
  return `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}`;
}

function describePeers(peers: Record<string, string>): string {
  return Object.entries(peers)
    .map(([id, address]) => `${id}=${address}`)
    .join(',');
}

/** A start-up failure as one line: what is wrong, and what to do. */
export function startError(error: unknown, opts: { listen: { host: string; port: number }; data: string }): string {
  const e = error as NodeJS.ErrnoException;
  const message = e instanceof Error ? e.message.split('\n')[0] : String(error);
  if (e?.code === 'EADDRINUSE')
    return `error: cannot listen on ${hostPort(opts.listen)}: the address is in use; stop what uses it or choose another --listen port (and its --peers entry)`;
  if (e?.code === 'EADDRNOTAVAIL') return `error: cannot listen on ${hostPort(opts.listen)}: this machine has no such address; use one of its own addresses (or 0.0.0.0)`;
  if (e?.code === 'EACCES' && e.syscall === 'listen') return `error: cannot listen on ${hostPort(opts.listen)}: permission denied; use a port above 1023`;
  if (e?.code === 'ENOENT' && e.syscall === 'open') return `error: cannot read ${e.path ?? 'a file'}: no such file; check the --tls-cert / --tls-key / --tls-ca paths`;
  return `error: ${message}`;
}

export async function runNode(opts: NodeCommandOptions): Promise<number> {
  const checked = checkNodeConfig(opts);
  if ('error' in checked) {
    console.error(checked.error);
    return 2;
  }
  const id = checked.id;
  const logger = pino({ level: opts.logLevel, base: { node: id } });
  const secret = opts.secret ?? process.env.XSTATE_RAFT_SECRET;
  const clientToken = opts.clientToken || process.env.XSTATE_RAFT_CLIENT_TOKEN || undefined;
  if (clientToken === undefined && !isLoopback(opts.listen.host)) {
    const line = `warning: the client API on ${hostPort(opts.listen)} is open: anyone who reaches this port can read, write and delete keys and isolate this node; pass --client-token (or set XSTATE_RAFT_CLIENT_TOKEN)`;
    console.error(line);
    logger.warn({ listen: hostPort(opts.listen) }, 'the client API is open (no --client-token)');
  }
  const inspector = opts.inspect
    ? createInspector({
        ...(typeof opts.inspect === 'string' ? { url: opts.inspect } : {}),
        onError: (error) => logger.warn({ err: error }, 'inspector'),
      })
    : undefined;
  if (inspector) logger.info({ url: inspector.url }, `inspector: sending this node's actor to ${inspector.url}`);
  let server: NodeServer;
  let fatal: (reason: string) => void = () => undefined;
  try {
    server = await startNodeServer({
      onFatal: (reason) => fatal(reason),
      id,
      listen: opts.listen,
      ...(opts.peers !== undefined ? { peers: opts.peers } : { join: parseJoin(opts.join as string) as string }),
      ...(opts.clusterId !== undefined ? { clusterId: opts.clusterId } : {}),
      dataDir: opts.data,
      ...(opts.writeThread ? { writeThread: true } : {}),
      ...(secret ? { secret } : {}),
      ...(clientToken ? { clientToken } : {}),
      ...(opts.tlsCert && opts.tlsKey
        ? { tls: { cert: readFileSync(opts.tlsCert), key: readFileSync(opts.tlsKey), ...(opts.tlsCa ? { ca: readFileSync(opts.tlsCa) } : {}) } }
        : {}),
      electionTimeout: opts.electionTimeout,
      heartbeatInterval: opts.heartbeat,
      bodyLimit: opts.bodyLimit,
      ...(opts.snapshotThreshold !== undefined ? { snapshotThreshold: opts.snapshotThreshold } : {}),
      logger,
      ...(inspector ? { inspect: inspector.inspect } : {}),
    });
  } catch (error) {
    inspector?.stop();
    // One line for the operator on stderr, and a short one in the log: no stack (it says nothing here).
    const line = startError(error, opts);
    logger.fatal({ code: (error as NodeJS.ErrnoException)?.code }, line.replace(/^error: /, 'cannot start: '));
    logger.flush();
    console.error(line);
    return 1;
  }
  return new Promise<number>((resolve) => {
    // Storage or the machine failed and the node stopped itself: exit non-zero, so a supervisor
    // restarts it (from its data) rather than taking it for a clean exit.
    fatal = (reason) => {
      console.error(`error: ${reason}`);
      void server.stop().then(() => {
        inspector?.stop();
        logger.flush();
        resolve(1);
      });
    };
    // A signal to the whole process group (Ctrl-C, or `kill -TERM -pgid`) reaches this node and its
    // supervisor, which then signals it again: the node keeps stopping (finishes the batch,
    // closes the database) rather than dying mid-stop from the second signal's default action.
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) {
        logger.info({ signal }, 'already shutting down');
        return;
      }
      stopping = true;
      logger.info({ signal }, 'shutting down');
      void server.stop().then(() => {
        inspector?.stop();
        logger.flush();
        resolve(0);
      });
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
  });
}
