/**
 * The HTTP transport: peers talk HTTP/1.1 (or HTTPS) over keep-alive connection pools.
 *
 * Wire protocol
 *
 *   POST /raft/messages   body {"from": id, "epoch": e, "batch": n, "messages": [RpcMessage, …]}
 *       Each peer has one ordered queue and at most one request in flight; what is queued while
 *       a request is in flight goes, in order, in the next one (batching, up to maxBatchBytes).
 *       Every message is checked with parseRpcMessage before any is handed on: a batch is
 *       delivered whole, in order, or not at all. `epoch` (random per transport instance) and
 *       `batch` (increasing per peer) let the receiver refuse a batch older than one it already
 *       delivered (409), so a request that outlived its timeout can never be delivered after its
 *       successor. Both are optional for other senders. Answer: 204 once delivered.
 *   POST /raft/forward    body a ClientRequest ({"type":"propose","command":…} or
 *       {"type":"read","query":…}); answer 200 with the ClientResponse from onRequest. If that
 *       takes longer than requestTimeout the answer is a ClientResponse with code
 *       'outcome_unknown' (propose) or 'timeout' (read, safe to retry).
 *
 *   Every peer request carries `X-Raft-From: <id>`. With a secret it also carries
 *   `X-Raft-Signature: hex(HMAC-SHA256(secret, from + "\n" + method + " " + path + "\n" + body))`,
 *   recomputed by the receiver and compared with timingSafeEqual.
 *
 *   Checks, in order; none of them changes anything:
 *     unknown /raft/* path 404 · wrong method 405 · body over bodyLimit 413 (read no further) ·
 *     missing or wrong signature 401 · X-Raft-From missing or not a peer 403 · sender isolated or
 *     transport not started 503 · malformed JSON or schema mismatch 400 {"error":"bad_request",
 *     "reason":…} · body/message `from` differs from X-Raft-From 403 · stale batch 409.
 *   Any other path goes to the `routes` option (the client API), else 404.
 *
 * A slow or dead peer holds up nobody else: each peer has its own queue, its own agents (one for
 * messages, one for forwarded client requests, so a long proposal never delays a heartbeat) and
 * its own retry backoff. A failed batch is dropped (Raft tolerates loss) and never reordered.
 *
 * Files: this one holds the options, the lifecycle (listen / start / stop) and the isolation
 * switch, and wires together http-sender.ts (queues, batching, agents, backoff, forwarding),
 * http-server.ts (inbound requests, limits, status codes), http-signing.ts (HMAC) and
 * http-wire.ts (paths, "host:port", HttpStatusError).
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { z } from 'zod';
import type { NodeId, RpcMessage } from '../core/types.js';
import { HttpSender } from './http-sender.js';
import { HttpRequestHandler } from './http-server.js';
import { HOST_PORT } from './http-wire.js';
import { TransportError, type ClientRequest, type ClientResponse, type Transport, type TransportHandlers } from './transport.js';

export { signRequest } from './http-signing.js';
export { FORWARD_PATH, HttpStatusError, MESSAGES_PATH } from './http-wire.js';

export const DEFAULT_BODY_LIMIT = 4 * 1024 * 1024;

export interface HttpTransportOptions {
  id: NodeId;
  /** Port 0 picks a free port; host defaults to 127.0.0.1. */
  listen: { host?: string; port: number };
  /** Every voter id → "host:port" (self included). */
  peers: Record<NodeId, string>;
  /** Shared cluster secret: every peer request is signed with it (HMAC-SHA256). */
  secret?: string;
  /** PEM. With tls the server is https and peers are reached over https, trusting `ca`. */
  tls?: { cert: string | Buffer; key: string | Buffer; ca?: string | Buffer };
  /** Largest request body accepted, in bytes. Default 4 MiB. */
  bodyLimit?: number;
  /** Largest batch body sent to one peer, in bytes (one larger message still goes alone). Default min(bodyLimit, 1 MiB). */
  maxBatchBytes?: number;
  /** ms for a forwarded client request. Default 10 000. */
  requestTimeout?: number;
  /** ms for one batch of messages to be answered before it is dropped. Default 3 000. */
  messageTimeout?: number;
  /** Messages queued for one peer before the oldest are dropped. Default 4 096. */
  maxQueuedPerPeer?: number;
  /** Bytes (characters of JSON) queued for one peer before the oldest messages are dropped. Default 4 × the body limit. */
  maxQueuedBytesPerPeer?: number;
  /** Pause after a failed batch before the next, doubling up to the max. Default 25 → 1 000 ms. */
  backoff?: { initial: number; max: number };
  /** Bad requests and send failures are reported here, never thrown. */
  onError?: (error: unknown, context: string) => void;
  /** Other routes on the same server (the client API): return true if it handled the request. */
  routes?: (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>;
}

export interface HttpTransportStats {
  /** Messages a peer accepted (answered 204). */
  sent: number;
  /** Messages handed to onMessage. */
  received: number;
  /** Messages given to send() that no peer accepted: isolated, unknown peer, queue full, failed batch. */
  dropped: number;
  /** Inbound peer requests refused (4xx, 503). */
  rejected: number;
  /** Outbound TCP connections opened (keep-alive keeps this small). */
  connections: number;
  /** Outbound POST /raft/messages requests (batches). */
  requests: number;
  /** Inbound TCP connections accepted. */
  inboundConnections: number;
}

const hostPort = z
  .string()
  .regex(HOST_PORT, 'must be "host:port"')
  .refine((s) => Number(HOST_PORT.exec(s)?.[3]) <= 65535, 'port out of range');
const positiveInt = z.number().int().positive();
const optionsSchema = z.object({
  id: z.string().min(1).max(256),
  listen: z.object({ host: z.string().min(1).optional(), port: z.number().int().min(0).max(65535) }),
  peers: z.record(z.string().min(1).max(256), hostPort),
  secret: z.string().min(1, 'an empty secret would disable authentication').optional(),
  bodyLimit: positiveInt.optional(),
  maxBatchBytes: positiveInt.optional(),
  requestTimeout: positiveInt.optional(),
  messageTimeout: positiveInt.optional(),
  maxQueuedPerPeer: positiveInt.optional(),
  maxQueuedBytesPerPeer: positiveInt.optional(),
  backoff: z.object({ initial: positiveInt, max: positiveInt }).optional(),
});

export class HttpTransport implements Transport {
  /** The server parses every message of a batch before handing any on (http-server.ts). */
  readonly validatesMessages = true;
  readonly id: NodeId;
  private readonly options: HttpTransportOptions;
  private readonly bodyLimit: number;
  private readonly isolatedPeers = new Set<NodeId>();
  private readonly counters: HttpTransportStats = { sent: 0, received: 0, dropped: 0, rejected: 0, connections: 0, requests: 0, inboundConnections: 0 };
  private readonly sender: HttpSender;
  private readonly receiver: HttpRequestHandler;
  private handlers: TransportHandlers | undefined;
  private server: http.Server | undefined;
  private listening: Promise<{ host: string; port: number }> | undefined;
  private bound: { host: string; port: number } | undefined;
  private stopped = false;
  private stopping: Promise<void> | undefined;

  constructor(options: HttpTransportOptions) {
    const checked = optionsSchema.safeParse(options);
    if (!checked.success) {
      const issue = checked.error.issues[0];
      throw new TransportError(`invalid HttpTransport options: ${issue?.path.join('.') || 'options'}: ${issue?.message ?? 'invalid'}`);
    }
    if (options.tls !== undefined && (!options.tls.cert || !options.tls.key)) throw new TransportError('invalid HttpTransport options: tls needs cert and key');
    this.options = options;
    this.id = options.id;
    this.bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
    const requestTimeout = options.requestTimeout ?? 10_000;
    const report = (error: unknown, context: string) => this.report(error, context);
    this.sender = new HttpSender({
      id: this.id,
      options,
      bodyLimit: this.bodyLimit,
      maxBatchBytes: options.maxBatchBytes ?? Math.min(this.bodyLimit, 1024 * 1024),
      requestTimeout,
      messageTimeout: options.messageTimeout ?? 3_000,
      maxQueued: options.maxQueuedPerPeer ?? 4096,
      maxQueuedChars: options.maxQueuedBytesPerPeer ?? 4 * this.bodyLimit,
      backoff: options.backoff ?? { initial: 25, max: 1000 },
      counters: this.counters,
      isolated: this.isolatedPeers,
      isStopped: () => this.stopped,
      report,
    });
    this.receiver = new HttpRequestHandler({
      id: this.id,
      options,
      bodyLimit: this.bodyLimit,
      requestTimeout,
      counters: this.counters,
      isolated: this.isolatedPeers,
      isPeer: (id) => this.sender.has(id),
      handlers: () => this.handlers,
      report,
    });
    for (const [id, address] of Object.entries(options.peers)) this.setPeerAddress(id, address);
  }

  // ------------------------------------------------------------ lifecycle

  /** Start the server; resolves with the bound address. Calling it again returns the same promise. */
  listen(): Promise<{ host: string; port: number }> {
    if (this.stopped) return Promise.reject(new TransportError(`${this.id}: the transport is stopped`));
    this.listening ??= new Promise((resolve, reject) => {
      const handler = (req: IncomingMessage, res: ServerResponse) => this.receiver.serve(req, res);
      const { tls } = this.options;
      const server = tls ? https.createServer({ cert: tls.cert, key: tls.key, ...(tls.ca ? { ca: tls.ca } : {}) }, handler) : http.createServer(handler);
      // Longer than the agents' idle timeout, so the client side closes an idle connection first
      // and never writes into one the server is closing.
      server.keepAliveTimeout = 30_000;
      server.requestTimeout = 60_000;
      server.on('connection', () => this.counters.inboundConnections++);
      server.once('error', reject);
      this.server = server;
      server.listen(this.options.listen.port, this.options.listen.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        server.on('error', (error) => this.report(error, 'server'));
        const address = server.address();
        if (address === null || typeof address === 'string') return reject(new TransportError(`unexpected server address ${String(address)}`));
        this.bound = { host: address.address, port: address.port };
        resolve(this.bound);
      });
    });
    return this.listening;
  }

  /** "host:port" this transport listens on. */
  get address(): string {
    if (this.bound === undefined) throw new TransportError(`${this.id}: not listening yet; await listen() first`);
    return formatAddress(this.bound.host, this.bound.port);
  }

  start(handlers: TransportHandlers): void {
    if (!this.stopped) this.handlers = handlers;
  }

  /** Close the server and every connection, drop what is queued. Idempotent; never rejects. */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopped = true;
    this.handlers = undefined;
    this.sender.disconnectAll();
    this.receiver.stop();
    this.stopping = (async () => {
      await this.listening?.catch(() => undefined); // a listen() under way finishes first, then closes
      const server = this.server;
      const closed = this.sender.socketsClosed();
      if (server?.listening) {
        closed.push(new Promise((resolve) => server.close(resolve)));
        server.closeAllConnections();
      }
      await Promise.all(closed);
      // The server's 'close' comes before libuv has released its handle; one more turn lets it go.
      await new Promise((resolve) => setTimeout(resolve, 0));
    })();
    return this.stopping;
  }

  /** Change where a peer is reached (e.g. after it bound port 0). The set of voters is fixed by the caller. */
  setPeerAddress(id: NodeId, address: string): void {
    this.sender.setPeerAddress(id, address);
  }

  addressOf(id: NodeId): string | undefined {
    if (id === this.id && this.bound !== undefined) return this.address;
    return this.sender.addressOf(id);
  }

  get stats(): HttpTransportStats {
    return { ...this.counters };
  }

  // ------------------------------------------------------------ isolation (a real partition switch)

  get isolated(): ReadonlySet<NodeId> {
    return this.isolatedPeers;
  }

  /** Refuse all traffic to and from these peers: queues dropped, connections closed, inbound answered 503. */
  isolate(peers: readonly NodeId[]): void {
    for (const id of peers) {
      this.isolatedPeers.add(id);
      this.sender.disconnect(id);
      this.receiver.disconnect(id);
    }
  }

  /** Let traffic with these peers (default: everyone) flow again. */
  rejoin(peers?: readonly NodeId[]): void {
    for (const id of peers ?? [...this.isolatedPeers]) {
      this.isolatedPeers.delete(id);
      this.sender.resume(id);
    }
  }

  // ------------------------------------------------------------ peer traffic

  send(to: NodeId, message: RpcMessage): void {
    this.sender.send(to, message);
  }

  request(to: NodeId, request: ClientRequest): Promise<ClientResponse> {
    return this.sender.request(to, request);
  }

  private report(error: unknown, context: string): void {
    try {
      this.options.onError?.(error, `${this.id}: ${context}`);
    } catch {
      // A reporter that throws must not take the transport down.
    }
  }
}

function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
