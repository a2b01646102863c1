/**
 * One durable node as a server: SQLite storage in a data directory, the HTTP transport to its
 * peers, the replicated KV store, and the client API on the same port. This is what
 * `xstate-raft node` runs; tests and the demo start it in-process or as a child process.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { NodeId } from '../core/types.js';
import { KvStateMachine } from '../kv/state-machine.js';
import { systemClock } from '../runtime/clock.js';
import { DEFAULT_ELECTION_TIMEOUT } from '../core/node.js';
import { createRaftNode, type RaftNodeOptions } from '../runtime/raft-node.js';
import { SqliteStorage } from '../storage/sqlite.js';
import { HttpTransport } from '../transport/http.js';
import { refusal } from './auth.js';
import { clientApi, type KvRaftNode } from './client-api.js';
import { debugRoutes, NodeDebugHub } from './debug.js';
import { LeaderContact } from './leader-contact.js';
import { NodeMetrics } from './metrics.js';

export interface NodeServerOptions {
  id: NodeId;
  listen: { host: string; port: number };
  /** Every voter id → "host:port" (this node included). */
  peers: Record<NodeId, string>;
  dataDir: string;
  secret?: string;
  /**
   * With a client token, every client, admin and debug route needs `Authorization: Bearer <token>`
   * (401 otherwise); only GET /health and GET /ready stay open. The admin and debug routes then
   * take this token instead of the cluster secret.
   */
  clientToken?: string;
  tls?: { cert: string | Buffer; key: string | Buffer; ca?: string | Buffer };
  electionTimeout?: readonly [number, number];
  heartbeatInterval?: number;
  /** Request body limit in bytes (peer and client requests). Default 4 MiB. */
  bodyLimit?: number;
  /** Applied entries between snapshots (createRaftNode's snapshotThreshold; default 8192). */
  snapshotThreshold?: number;
  /** Identifies the cluster in the data directory; default: derived from the sorted voter ids. */
  clusterId?: string;
  logger: Logger;
  /** The node stopped by itself (storage or machine failure): the process should exit non-zero. */
  onFatal?: (reason: string, error: unknown) => void;
  /** Passed to the node's actor (Stately inspector). */
  inspect?: RaftNodeOptions['inspect'];
}

export interface NodeServer {
  readonly node: KvRaftNode;
  readonly transport: HttpTransport;
  readonly address: string;
  /** Finish the current batch, stop the node and the server, close the database. */
  stop(): Promise<void>;
}

/** The one method each dashboard route takes (a wrong one is 405 with Allow). */
const DEBUG_METHODS: Record<string, string> = { '/debug/events': 'GET', '/admin/isolate': 'POST', '/admin/rejoin': 'POST', '/admin/snapshot': 'POST' };

export function defaultClusterId(peers: Record<NodeId, string>): string {
  return createHash('sha256').update(Object.keys(peers).sort().join('\n')).digest('hex').slice(0, 16);
}

export async function startNodeServer(options: NodeServerOptions): Promise<NodeServer> {
  const { id, logger } = options;
  if (!(id in options.peers)) throw new RangeError(`--peers must include this node (${id})`);
  const bodyLimit = options.bodyLimit ?? 4 * 1024 * 1024;
  const storage = SqliteStorage.open(options.dataDir, { nodeId: id, clusterId: options.clusterId ?? defaultClusterId(options.peers) });

  // The client API needs the node and the node needs the transport: route through a holder.
  let api: ((...args: Parameters<ReturnType<typeof clientApi>>) => Promise<boolean>) | undefined;
  const transport = new HttpTransport({
    id,
    listen: options.listen,
    peers: options.peers,
    ...(options.secret !== undefined ? { secret: options.secret } : {}),
    ...(options.tls !== undefined ? { tls: options.tls } : {}),
    bodyLimit,
    // Refusals caused by the isolation switch are what the switch is for: not worth a warning.
    onError: (error, context) =>
      /isolated/.test(error instanceof Error ? error.message : '') ? logger.debug({ err: error, context }, 'transport') : logger.warn({ err: error, context }, 'transport'),
    routes: (req, res, url) => (api ? api(req, res, url) : false),
  });
  let node: KvRaftNode;
  let debugHub: NodeDebugHub | undefined;
  try {
    const bound = await transport.listen();
    logger.info({ host: bound.host, port: bound.port }, 'listening');
    let metrics: NodeMetrics | undefined;
    let hub: NodeDebugHub | undefined;
    let contact: LeaderContact | undefined;
    node = createRaftNode({
      id,
      peers: Object.keys(options.peers),
      transport,
      storage,
      stateMachine: new KvStateMachine(),
      clock: systemClock,
      ...(options.electionTimeout ? { electionTimeout: options.electionTimeout } : {}),
      ...(options.heartbeatInterval ? { heartbeatInterval: options.heartbeatInterval } : {}),
      ...(options.snapshotThreshold !== undefined ? { snapshotThreshold: options.snapshotThreshold } : {}),
      ...(options.inspect ? { inspect: options.inspect } : {}),
      // Half the body limit per AppendEntries leaves room for the envelope and JSON escaping.
      maxBytesPerMessage: Math.floor(bodyLimit / 2),
      onError: (error, context) => logger.error({ err: error, context }, 'node error'),
      onBatch: (batch) => metrics?.observeBatch(batch),
      observeEffect: (effect) => {
        contact?.observe(effect);
        hub?.observe(effect);
      },
    }) as KvRaftNode;
    const leaderContact = new LeaderContact(node, (options.electionTimeout ?? DEFAULT_ELECTION_TIMEOUT)[1]);
    contact = leaderContact;
    // The stored snapshot's length in characters: its size in bytes unless it holds non-ASCII text.
    const nodeMetrics = new NodeMetrics(node, { hasLeader: () => leaderContact.view().leaderId !== null, storedSnapshotBytes: storage.stats().snapshotLength });
    metrics = nodeMetrics;
    hub = new NodeDebugHub(node, transport, () => nodeMetrics.storedSnapshot());
    const client = clientApi({
      node,
      metrics,
      bodyLimit,
      maxCommandBytes: Math.floor(bodyLimit / 2) - 1024,
      addressOf: (peer) => options.peers[peer],
      leaderContact,
      statusFigures: () => nodeMetrics.snapshotFigures(),
    });
    const adminSecret = options.clientToken ?? options.secret;
    const debug = debugRoutes({
      hub,
      transport,
      peers: Object.keys(options.peers).filter((peer) => peer !== id),
      ...(adminSecret !== undefined ? { secret: adminSecret } : {}),
      bodyLimit,
      snapshot: () => node.snapshot(),
    });
    api = async (req, res, url) => {
      const refused = refusal(req, url, options.clientToken);
      if (refused !== undefined) {
        res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' });
        res.end(JSON.stringify({ error: 'unauthorized', reason: refused }));
        return true;
      }
      const allow = DEBUG_METHODS[url.pathname];
      if (allow !== undefined && req.method !== allow) {
        res.writeHead(405, { 'content-type': 'application/json', allow });
        res.end(JSON.stringify({ error: 'method_not_allowed', allow: [allow] }));
        return true;
      }
      return (await debug(req, res, url)) || client(req, res, url);
    };
    debugHub = hub;
    node.on('failed', ({ reason, error }) => {
      logger.fatal({ err: error }, reason);
      options.onFatal?.(reason, error);
    });
    node.on('snapshot', () => hub?.refresh());
    node.on('snapshot', ({ index, term, bytes, ms, source }) => logger.info({ index, term, bytes, ms: Math.round(ms) }, `snapshot ${source} at index ${index}`));
    node.on('role', ({ role, term }) => logger.info({ role, term }, `role ${role} in term ${term}`));
    node.on('leader', ({ leaderId, term }) => logger.info({ leaderId, term }, leaderId ? `leader is ${leaderId} in term ${term}` : `no leader in term ${term}`));
  } catch (error) {
    await transport.stop();
    storage.close();
    throw error;
  }

  let stopping: Promise<void> | undefined;
  const closeHub = () => debugHub?.close();
  return {
    node,
    transport,
    address: transport.address,
    stop: () =>
      (stopping ??= (async () => {
        node.stop({ flush: true });
        closeHub();
        await transport.stop();
        storage.close();
        logger.info('stopped');
      })()),
  };
}
