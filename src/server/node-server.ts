/**
 * One durable node as a server: SQLite storage in a data directory, the HTTP transport to its
 * peers, the replicated state machine (the KV store plus leases, task queues and a change journal:
 * CoordStateMachine), and the client API (/kv, /v1) on the same port. This is what
 * `xstate-raft node` runs; tests and the demo start it in-process or as a child process.
 *
 * Two ways to start:
 * - bootstrap (`peers`): one of the voters a new cluster starts with. `peers` and their addresses
 *   go into the cluster's first configuration entry; after that the configuration lives in the
 *   log and `peers` only says where to reach the nodes it names.
 * - join (`join: address of any member`): a new, empty server. It asks that member for
 *   GET /admin/members (the cluster id and every member's address) and waits to be added
 *   (POST /admin/members on the leader). Restarted with data, it starts from its storage.
 *
 * The cluster id is created when the cluster is bootstrapped — derived from the sorted ids of
 * `peers`, unless given — and stored in every data directory: a new bootstrap node stores its
 * derived id, a joining node the cluster's, and an existing directory keeps the id it holds
 * whatever `peers` says now (membership changes never invalidate a directory). An explicit
 * `clusterId` that differs from the stored one is refused, as is another node's directory.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { NodeId } from '../core/types.js';
import { CoordStateMachine } from '../coord/state-machine.js';
import { systemClock } from '../runtime/clock.js';
import { DEFAULT_ELECTION_TIMEOUT } from '../core/node.js';
import { createRaftNode, type RaftNodeOptions } from '../runtime/raft-node.js';
import { SqliteStorage, StorageError } from '../storage/sqlite.js';
import { BackgroundSqliteStorage } from '../storage/sqlite-background.js';
import { HttpTransport } from '../transport/http.js';
import { membershipRoutes, type MembersView } from './admin-members.js';
import { refusal } from './auth.js';
import { crossSiteRefusal } from './body.js';
import { clientApi, type KvRaftNode } from './client-api.js';
import { coordApi, type CoordApi, type CoordRaftNode } from './coord-api.js';
import { debugRoutes, NodeDebugHub } from './debug.js';
import { askCluster, JoinError } from './join.js';
import { LeaderContact } from './leader-contact.js';
import { NodeMetrics } from './metrics.js';

export interface NodeServerOptions {
  id: NodeId;
  listen: { host: string; port: number };
  /**
   * Bootstrap: every voter the cluster starts with → "host:port" (this node included). Also
   * where a restarted node first reaches them; the configuration itself comes from the log.
   * Not with `join`.
   */
  peers?: Record<NodeId, string>;
  /**
   * Join a running cluster as a new, empty server: "host:port" of any member, asked for the
   * cluster id and the members' addresses (retried until it answers). Not with `peers`.
   */
  join?: string;
  dataDir: string;
  /**
   * Write the log on a writer thread (BackgroundSqliteStorage): the event loop goes on serving
   * while a batch is fsynced, and what queued meanwhile is committed with it. Default false: the
   * write runs on the event loop (SqliteStorage).
   */
  writeThread?: boolean;
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
  /**
   * The cluster's id. A new directory stores it (default: derived from the sorted ids of `peers`,
   * or the cluster's, learned when joining); an existing one must hold it. Without it, an existing
   * directory keeps the id it holds.
   */
  clusterId?: string;
  logger: Logger;
  /** The node stopped by itself (storage or machine failure): the process should exit non-zero. */
  onFatal?: (reason: string, error: unknown) => void;
  /** Passed to the node's actor (Stately inspector). */
  inspect?: RaftNodeOptions['inspect'];
  /**
   * Log entries whose changes the node keeps for GET /v1/watch (CoordStateMachine's journalLimit;
   * default 10 000). A watch from further back is answered `compacted`.
   */
  watchHistory?: number;
  /** Between keep-alive comments on GET /v1/watch, ms (default 15 000). */
  watchKeepAliveMs?: number;
}

export interface NodeServer {
  readonly node: KvRaftNode;
  /** The cluster id this node's data directory holds. */
  readonly clusterId: string;
  readonly transport: HttpTransport;
  readonly address: string;
  /** Finish the current batch, stop the node and the server, close the database. */
  stop(): Promise<void>;
}

/** The one method each dashboard route takes (a wrong one is 405 with Allow). */
const DEBUG_METHODS: Record<string, string> = { '/debug/events': 'GET', '/admin/isolate': 'POST', '/admin/rejoin': 'POST', '/admin/snapshot': 'POST' };

/** The id a new cluster gets when none is given: from the sorted ids of the voters it is bootstrapped with. */
export function defaultClusterId(peers: Record<NodeId, string>): string {
  return createHash('sha256').update(Object.keys(peers).sort().join('\n')).digest('hex').slice(0, 16);
}

/** The storage, and (joining an empty directory) what the cluster said about itself. */
interface Opened {
  storage: SqliteStorage<unknown>;
  cluster?: MembersView;
}

/** Open a bootstrap node's directory: a new one stores the (derived) id, an existing one keeps its own. */
function openBootstrap(options: NodeServerOptions, peers: Record<NodeId, string>): Opened {
  const explicit = options.clusterId;
  const storage = SqliteStorage.open(options.dataDir, { nodeId: options.id, clusterId: explicit ?? defaultClusterId(peers), keepClusterId: explicit === undefined });
  if (explicit === undefined && storage.clusterId !== defaultClusterId(peers)) {
    options.logger.info({ clusterId: storage.clusterId }, `cluster ${storage.clusterId} (kept from the data directory; the configuration is the log's, not --peers)`);
  }
  return { storage };
}

/**
 * Open a joining node's directory. One that holds a log starts from it (its configuration says
 * where everyone is); a new or empty one asks the cluster first — for its id (stored in a new
 * directory) and its members' addresses.
 */
async function openJoining(options: NodeServerOptions, join: string, token: string | undefined, tlsCa: string | Buffer | undefined): Promise<Opened> {
  const { id, logger, dataDir } = options;
  const mismatch = (held: string, wanted: string, source: string) =>
    new StorageError(
      'storage_cluster_mismatch',
      `this data directory belongs to cluster ${JSON.stringify(held)}, not ${JSON.stringify(wanted)} (${source}). Give this node its own data directory for the cluster it joins.`,
      dataDir,
    );
  const stored = SqliteStorage.storedClusterId(dataDir);
  let storage: SqliteStorage<unknown> | undefined;
  if (stored !== undefined) {
    if (options.clusterId !== undefined && options.clusterId !== stored) throw mismatch(stored, options.clusterId, '--cluster-id');
    storage = SqliteStorage.open(dataDir, { nodeId: id, clusterId: stored });
    const { snapshotIndex, lastIndex } = storage.stats();
    if (snapshotIndex > 0 || lastIndex > 0) return { storage };
  }
  try {
    logger.info({ join }, `joining: asking ${join} for the cluster's members`);
    const cluster = await askCluster(join, {
      ...(token !== undefined ? { token } : {}),
      ...(tlsCa !== undefined || options.tls ? { tls: { ...(tlsCa !== undefined ? { ca: tlsCa } : {}) } } : {}),
      logger,
    });
    if (stored !== undefined && cluster.clusterId !== stored) throw mismatch(stored, cluster.clusterId, `${join} is a member of cluster ${cluster.clusterId}`);
    if (options.clusterId !== undefined && cluster.clusterId !== options.clusterId) {
      throw new JoinError(`${join} is a member of cluster ${JSON.stringify(cluster.clusterId)}, not ${JSON.stringify(options.clusterId)} (--cluster-id)`);
    }
    // A voter that starts empty has forgotten its votes and its log: it could elect a second
    // leader in a term or lose committed entries. A learner may (it counts for nothing).
    if (cluster.voters.includes(id)) {
      throw new JoinError(
        `${id} is already a voter of cluster ${cluster.clusterId}: an empty server cannot take its place; start it on its own data directory, or remove ${id} first and join with a new id`,
      );
    }
    storage ??= SqliteStorage.open(dataDir, { nodeId: id, clusterId: cluster.clusterId });
    logger.info({ clusterId: cluster.clusterId, voters: cluster.voters, learners: cluster.learners }, `joining cluster ${cluster.clusterId}: waiting to be added`);
    return { storage, cluster };
  } catch (error) {
    storage?.close();
    throw error;
  }
}

export async function startNodeServer(options: NodeServerOptions): Promise<NodeServer> {
  const { id, logger } = options;
  if ((options.peers === undefined) === (options.join === undefined)) throw new RangeError('give either peers (bootstrap a cluster) or join (a new server for a running one)');
  if (options.peers !== undefined && !(id in options.peers)) throw new RangeError(`--peers must include this node (${id})`);
  const bodyLimit = options.bodyLimit ?? 4 * 1024 * 1024;
  const adminSecret = options.clientToken ?? options.secret;
  const opened = options.peers !== undefined ? openBootstrap(options, options.peers) : await openJoining(options, options.join as string, adminSecret, options.tls?.ca);
  const storage: SqliteStorage<unknown> | BackgroundSqliteStorage<unknown> = options.writeThread ? BackgroundSqliteStorage.handOver(opened.storage) : opened.storage;
  // Where the transport first reaches the others: --peers, or the members the cluster named. The
  // runtime adds every address a configuration entry in the log carries (setPeerAddress).
  const peerAddresses: Record<NodeId, string> = { ...(options.peers ?? opened.cluster?.addresses) };

  // The client API needs the node and the node needs the transport: route through a holder.
  let api: ((...args: Parameters<ReturnType<typeof clientApi>>) => Promise<boolean>) | undefined;
  const transport = new HttpTransport({
    id,
    listen: options.listen,
    peers: peerAddresses,
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
  let coord: CoordApi | undefined;
  const stateMachine = new CoordStateMachine(options.watchHistory !== undefined ? { journalLimit: options.watchHistory } : {});
  try {
    const bound = await transport.listen();
    logger.info({ host: bound.host, port: bound.port }, 'listening');
    let metrics: NodeMetrics | undefined;
    let hub: NodeDebugHub | undefined;
    let contact: LeaderContact | undefined;
    node = createRaftNode({
      id,
      ...(options.peers !== undefined ? { peers: Object.keys(options.peers), addresses: options.peers } : { peers: [], join: true }),
      transport,
      storage,
      stateMachine,
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
      addressOf: (peer) => transport.addressOf(peer),
      leaderContact,
      statusFigures: () => nodeMetrics.snapshotFigures(),
    });
    const coordRoutes = coordApi({
      node: node as unknown as CoordRaftNode,
      stateMachine,
      metrics,
      bodyLimit,
      maxCommandBytes: Math.floor(bodyLimit / 2) - 1024,
      addressOf: (peer) => transport.addressOf(peer),
      ...(options.watchKeepAliveMs !== undefined ? { keepAliveMs: options.watchKeepAliveMs } : {}),
      leaderContact,
      // No live leader for longer than an election timeout: more than a normal election takes.
      leaderlessMs: leaderContact.windowMs,
    });
    coord = coordRoutes;
    const members = membershipRoutes({
      node,
      clusterId: storage.clusterId,
      ...(adminSecret !== undefined ? { secret: adminSecret } : {}),
      bodyLimit,
      addressOf: (peer) => transport.addressOf(peer),
      leaderId: () => leaderContact.view().leaderId,
    });
    const debug = debugRoutes({
      hub,
      transport,
      peers: () => {
        const { voters, learners } = node.members();
        return [...voters, ...learners, ...Object.keys(peerAddresses)].filter((peer) => peer !== id);
      },
      ...(adminSecret !== undefined ? { secret: adminSecret } : {}),
      bodyLimit,
      snapshot: () => node.snapshot(),
    });
    api = async (req, res, url) => {
      // Before anything else, for every route (client, coordination, admin, debug): see crossSiteRefusal.
      const crossSite = crossSiteRefusal(req);
      if (crossSite !== undefined) {
        res.writeHead(403, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'cross_site', reason: crossSite }));
        return true;
      }
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
      return (await members(req, res, url)) || (await debug(req, res, url)) || (await coordRoutes.handle(req, res, url)) || client(req, res, url);
    };
    debugHub = hub;
    node.on('failed', ({ reason, error }) => {
      logger.fatal({ err: error }, reason);
      options.onFatal?.(reason, error);
    });
    node.on('snapshot', () => hub?.refresh());
    // A snapshot from the leader replaces the state at once: a watch behind it may have missed changes.
    node.on('snapshot', ({ index, source }) => {
      if (source === 'installed') coordRoutes.snapshotInstalled(index);
    });
    node.on('snapshot', ({ index, term, bytes, ms, source }) => logger.info({ index, term, bytes, ms: Math.round(ms) }, `snapshot ${source} at index ${index}`));
    node.on('role', ({ role, term }) => logger.info({ role, term }, `role ${role} in term ${term}`));
    node.on('leader', ({ leaderId, term }) => logger.info({ leaderId, term }, leaderId ? `leader is ${leaderId} in term ${term}` : `no leader in term ${term}`));
    node.on('members', ({ voters, learners, index, committed }) =>
      logger.info(
        { voters, learners, index, committed },
        `configuration at index ${index}${committed ? ' (committed)' : ''}: voters ${voters.join(', ') || '-'}; learners ${learners.join(', ') || '-'}`,
      ),
    );
  } catch (error) {
    await transport.stop();
    storage.close();
    throw error;
  }

  let stopping: Promise<void> | undefined;
  const closeHub = () => {
    debugHub?.close();
    coord?.close();
  };
  return {
    node,
    clusterId: storage.clusterId,
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
