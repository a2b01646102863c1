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
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { z } from 'zod';
import type { NodeId, RpcMessage } from '../core/types.js';
import { parseRpcMessage } from '../core/validate.js';
import { TransportError, type ClientRequest, type ClientResponse, type Transport, type TransportHandlers } from './transport.js';

export const MESSAGES_PATH = '/raft/messages';
export const FORWARD_PATH = '/raft/forward';
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

/** A peer answered with (or this server refused) an HTTP status other than success. */
export class HttpStatusError extends TransportError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(`HTTP ${status}: ${message}`);
    this.name = 'HttpStatusError';
  }
}

/** The proof of the secret one peer request carries (lowercase hex). */
export function signRequest(secret: string, from: NodeId, method: string, path: string, body: Buffer | string): string {
  return createHmac('sha256', secret).update(`${from}\n${method} ${path}\n`).update(body).digest('hex');
}

const HOST_PORT = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:/[\]@]+)):(\d{1,5})$/;
const hostPort = z.string().regex(HOST_PORT, 'must be "host:port"').refine((s) => Number(HOST_PORT.exec(s)?.[3]) <= 65535, 'port out of range');
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
  backoff: z.object({ initial: positiveInt, max: positiveInt }).optional(),
});

const envelopeSchema = z.object({
  from: z.string(),
  messages: z.array(z.unknown()),
  epoch: z.string().max(64).optional(),
  batch: z.number().int().nonnegative().optional(),
});
const clientRequestSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('propose'), command: z.unknown() }),
  z.object({ type: z.literal('read'), query: z.unknown() }),
]);
const clientResponseSchema = z.union([
  z.object({ ok: z.literal(true), value: z.unknown() }),
  z.object({ ok: z.literal(false), error: z.object({ code: z.string(), message: z.string(), leaderId: z.string().optional() }) }),
]);

interface Peer {
  readonly id: NodeId;
  host: string;
  port: number;
  address: string;
  messageAgent: http.Agent;
  forwardAgent: http.Agent;
  /** Serialized messages waiting, oldest first. */
  queue: string[];
  inFlight: http.ClientRequest | undefined;
  pumpScheduled: boolean;
  retryTimer: ReturnType<typeof setTimeout> | undefined;
  backoff: number;
  batch: number;
  lastError: string | undefined;
}

interface Posted {
  status: number;
  body: string;
}

export class HttpTransport implements Transport {
  readonly id: NodeId;
  private readonly options: HttpTransportOptions;
  private readonly bodyLimit: number;
  private readonly maxBatchBytes: number;
  private readonly requestTimeout: number;
  private readonly messageTimeout: number;
  private readonly maxQueued: number;
  private readonly backoff: { initial: number; max: number };
  private readonly peers = new Map<NodeId, Peer>();
  private readonly isolatedPeers = new Set<NodeId>();
  private readonly epoch = randomUUID();
  private readonly lastBatch = new Map<NodeId, { epoch: string; batch: number }>();
  /** Requests in flight, by the peer they go to (so isolating a peer can cut them). */
  private readonly outbound = new Map<http.ClientRequest, NodeId>();
  private readonly inboundPeer = new Map<Socket, NodeId>();
  /** Outbound sockets still open, so stop() can wait until each has closed. */
  private readonly sockets = new Set<Socket>();
  private readonly forwardTimers = new Set<ReturnType<typeof setTimeout>>();
  private readonly counters: HttpTransportStats = { sent: 0, received: 0, dropped: 0, rejected: 0, connections: 0, requests: 0, inboundConnections: 0 };
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
    this.maxBatchBytes = options.maxBatchBytes ?? Math.min(this.bodyLimit, 1024 * 1024);
    this.requestTimeout = options.requestTimeout ?? 10_000;
    this.messageTimeout = options.messageTimeout ?? 3_000;
    this.maxQueued = options.maxQueuedPerPeer ?? 4096;
    this.backoff = options.backoff ?? { initial: 25, max: 1000 };
    for (const [id, address] of Object.entries(options.peers)) this.setPeerAddress(id, address);
  }

  // ------------------------------------------------------------ lifecycle

  /** Start the server; resolves with the bound address. Calling it again returns the same promise. */
  listen(): Promise<{ host: string; port: number }> {
    if (this.stopped) return Promise.reject(new TransportError(`${this.id}: the transport is stopped`));
    this.listening ??= new Promise((resolve, reject) => {
      const handler = (req: IncomingMessage, res: ServerResponse) => {
        this.handle(req, res).catch((error: unknown) => {
          this.report(error, `serving ${req.method ?? '?'} ${req.url ?? '?'}`);
          reply(res, 500, { error: 'internal' });
        });
      };
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
    for (const peer of this.peers.values()) this.disconnectPeer(peer);
    for (const timer of this.forwardTimers) clearTimeout(timer);
    this.forwardTimers.clear();
    this.stopping = (async () => {
      await this.listening?.catch(() => undefined); // a listen() under way finishes first, then closes
      const server = this.server;
      const closed: Promise<unknown>[] = [...this.sockets].map((socket) => new Promise((resolve) => (socket.destroyed && socket.closed ? resolve(undefined) : socket.once('close', resolve))));
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
    const match = HOST_PORT.exec(address);
    if (match === null) throw new TransportError(`peer ${id}: address ${JSON.stringify(address)} is not "host:port"`);
    const host = (match[1] ?? match[2]) as string;
    const port = Number(match[3]);
    const existing = this.peers.get(id);
    if (existing !== undefined && this.stopped) return void Object.assign(existing, { host, port, address });
    if (existing !== undefined) {
      existing.messageAgent.destroy();
      existing.forwardAgent.destroy();
      Object.assign(existing, { host, port, address, ...this.newAgents() });
      return;
    }
    this.peers.set(id, {
      id, host, port, address, ...this.newAgents(),
      queue: [], inFlight: undefined, pumpScheduled: false, retryTimer: undefined, backoff: 0, batch: 0, lastError: undefined,
    });
  }

  addressOf(id: NodeId): string | undefined {
    if (id === this.id && this.bound !== undefined) return this.address;
    return this.peers.get(id)?.address;
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
      const peer = this.peers.get(id);
      if (peer !== undefined) this.disconnectPeer(peer);
      for (const [socket, from] of this.inboundPeer) if (from === id) socket.destroy();
    }
  }

  /** Let traffic with these peers (default: everyone) flow again. */
  rejoin(peers?: readonly NodeId[]): void {
    for (const id of peers ?? [...this.isolatedPeers]) {
      this.isolatedPeers.delete(id);
      const peer = this.peers.get(id);
      if (peer !== undefined) this.schedulePump(peer);
    }
  }

  // ------------------------------------------------------------ outbound messages

  send(to: NodeId, message: RpcMessage): void {
    const peer = this.peers.get(to);
    if (this.stopped || peer === undefined || this.isolatedPeers.has(to)) {
      this.counters.dropped++;
      if (peer === undefined && !this.stopped) this.report(new TransportError(`no address for peer ${JSON.stringify(to)}`), `send to ${to}`);
      return;
    }
    let serialized: string;
    try {
      serialized = JSON.stringify(message);
    } catch (error) {
      this.counters.dropped++;
      return this.report(error, `send to ${to}: message is not JSON`);
    }
    peer.queue.push(serialized);
    // Raft tolerates loss but not a flood: past the cap the oldest go (order of the rest is kept).
    if (peer.queue.length > this.maxQueued) {
      peer.queue.shift();
      this.counters.dropped++;
    }
    this.schedulePump(peer);
  }

  /** Pump after the current synchronous run, so everything sent in one runtime batch shares one request. */
  private schedulePump(peer: Peer): void {
    if (peer.pumpScheduled) return;
    peer.pumpScheduled = true;
    queueMicrotask(() => {
      peer.pumpScheduled = false;
      this.pump(peer);
    });
  }

  private pump(peer: Peer): void {
    if (this.stopped || peer.inFlight || peer.retryTimer || peer.queue.length === 0 || this.isolatedPeers.has(peer.id)) return;
    let bytes = 0;
    let count = 0;
    while (count < peer.queue.length) {
      const size = Buffer.byteLength(peer.queue[count] as string) + 1;
      if (count > 0 && bytes + size > this.maxBatchBytes - 256) break;
      bytes += size;
      count++;
    }
    const messages = peer.queue.splice(0, count);
    peer.batch++;
    const body = Buffer.from(`{"from":${JSON.stringify(this.id)},"epoch":"${this.epoch}","batch":${peer.batch},"messages":[${messages.join(',')}]}`);
    this.counters.requests++;
    const finish = (error: unknown) => {
      peer.inFlight = undefined;
      if (error === undefined) {
        this.counters.sent += count;
        peer.backoff = 0;
        peer.lastError = undefined;
        return this.pump(peer);
      }
      this.counters.dropped += count;
      if (this.stopped || this.isolatedPeers.has(peer.id)) return;
      // Report a failure once, not on every retry of a peer that stays down.
      const text = error instanceof Error ? error.message : String(error);
      if (text !== peer.lastError) this.report(error, `send to ${peer.id} (${count} messages dropped)`);
      peer.lastError = text;
      peer.backoff = Math.min(this.backoff.max, peer.backoff === 0 ? this.backoff.initial : peer.backoff * 2);
      peer.retryTimer = setTimeout(() => {
        peer.retryTimer = undefined;
        this.pump(peer);
      }, peer.backoff);
    };
    this.post(peer, peer.messageAgent, MESSAGES_PATH, body, this.messageTimeout, true, (req) => (peer.inFlight = req)).then(
      ({ status, body: text }) => finish(status === 204 ? undefined : new HttpStatusError(status, text)),
      finish,
    );
  }

  // ------------------------------------------------------------ outbound client requests

  async request(to: NodeId, request: ClientRequest): Promise<ClientResponse> {
    const peer = this.peers.get(to);
    if (this.stopped) throw new TransportError(`${this.id}: the transport is stopped`);
    if (peer === undefined) throw new TransportError(`no address for peer ${JSON.stringify(to)}`);
    if (this.isolatedPeers.has(to)) throw new TransportError(`${to} is isolated from ${this.id}`);
    let body: Buffer;
    try {
      body = Buffer.from(JSON.stringify(request));
    } catch (error) {
      throw new TransportError(`the request cannot be sent as JSON: ${(error as Error).message}`);
    }
    // A little longer than the server's own timeout, so its answer (which says what happened) wins.
    const { status, body: text } = await this.post(peer, peer.forwardAgent, FORWARD_PATH, body, this.requestTimeout + 1000, false);
    if (status !== 200) throw new HttpStatusError(status, text);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new TransportError(`${to} answered a forwarded request with malformed JSON`);
    }
    const response = clientResponseSchema.safeParse(parsed);
    if (!response.success) throw new TransportError(`${to} answered a forwarded request with an invalid ClientResponse`);
    return response.data as ClientResponse;
  }

  // ------------------------------------------------------------ HTTP client

  private newAgents(): { messageAgent: http.Agent; forwardAgent: http.Agent } {
    const { tls } = this.options;
    // Idle sockets close after 15 s, before the server's 30 s keep-alive timeout.
    const common = { keepAlive: true, timeout: 15_000, scheduling: 'lifo' as const };
    const make = (maxSockets: number, maxFreeSockets: number): http.Agent =>
      tls ? new https.Agent({ ...common, maxSockets, maxFreeSockets, ...(tls.ca ? { ca: tls.ca } : {}) }) : new http.Agent({ ...common, maxSockets, maxFreeSockets });
    return { messageAgent: make(1, 1), forwardAgent: make(64, 8) };
  }

  private disconnectPeer(peer: Peer): void {
    this.counters.dropped += peer.queue.length;
    peer.queue = [];
    if (peer.retryTimer) clearTimeout(peer.retryTimer);
    peer.retryTimer = undefined;
    peer.backoff = 0;
    const reason = new TransportError(this.stopped ? `${this.id}: the transport stopped` : `${peer.id} is isolated from ${this.id}`);
    for (const [req, to] of this.outbound) if (to === peer.id) req.destroy(reason);
    peer.messageAgent.destroy();
    peer.forwardAgent.destroy();
    if (!this.stopped) Object.assign(peer, this.newAgents());
  }

  /** One POST; resolves with the status and (at most bodyLimit of) the answer. */
  private post(peer: Peer, agent: http.Agent, path: string, body: Buffer, timeout: number, retryReset: boolean, onRequest?: (req: http.ClientRequest) => void): Promise<Posted> {
    return new Promise<Posted>((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json', 'content-length': body.length, 'x-raft-from': this.id };
      if (this.options.secret !== undefined) headers['x-raft-signature'] = signRequest(this.options.secret, this.id, 'POST', path, body);
      const req = (this.options.tls ? https : http).request({ host: peer.host, port: peer.port, method: 'POST', path, agent, headers });
      this.outbound.set(req, peer.id);
      onRequest?.(req);
      const timer = setTimeout(() => req.destroy(new TransportError(`${peer.id} did not answer within ${timeout} ms`)), timeout);
      const done = () => {
        clearTimeout(timer);
        this.outbound.delete(req);
      };
      req.on('socket', (socket: Socket) => {
        if (req.reusedSocket) return;
        this.counters.connections++;
        this.sockets.add(socket);
        socket.once('close', () => this.sockets.delete(socket));
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= this.bodyLimit) chunks.push(chunk);
          else req.destroy(new TransportError(`${peer.id} answered more than ${this.bodyLimit} bytes`));
        });
        res.on('end', () => {
          done();
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', () => undefined); // the request's own 'error' reports it
      });
      req.on('error', (error: NodeJS.ErrnoException) => {
        done();
        // The documented keep-alive race: the server closed an idle connection as we reused it.
        // Nothing was delivered on it, so a message batch may go once more (the receiver's batch
        // number refuses a duplicate); a forwarded proposal is never retried.
        if (retryReset && req.reusedSocket && error.code === 'ECONNRESET' && !this.stopped) {
          this.post(peer, agent, path, body, timeout, false, onRequest).then(resolve, reject);
        } else reject(error);
      });
      req.end(body);
    });
  }

  // ------------------------------------------------------------ server

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://raft.invalid');
    } catch {
      return this.refuse(req, res, 400, { error: 'bad_request', reason: 'malformed request target' });
    }
    const path = url.pathname;
    if (path !== MESSAGES_PATH && path !== FORWARD_PATH) {
      if (path === '/raft' || path.startsWith('/raft/')) return this.refuse(req, res, 404, { error: 'not_found' });
      try {
        if (this.options.routes && (await this.options.routes(req, res, url))) return;
      } catch (error) {
        this.report(error, `route ${req.method} ${path}`);
        if (!res.headersSent) reply(res, 500, { error: 'internal' });
        else res.destroy();
        return;
      }
      return reply(res, 404, { error: 'not_found' });
    }
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return this.refuse(req, res, 405, { error: 'method_not_allowed' });
    }
    const from = header(req, 'x-raft-from');
    const signature = header(req, 'x-raft-signature');
    const { secret } = this.options;
    // Refuse an unsigned request before reading its body.
    if (secret !== undefined && (from === undefined || signature === undefined || !/^[0-9a-f]{64}$/i.test(signature))) {
      return this.refuse(req, res, 401, { error: 'unauthorized' });
    }
    const body = await this.readBody(req, res);
    if (body === undefined) return;
    if (secret !== undefined) {
      const expected = Buffer.from(signRequest(secret, from as string, 'POST', req.url ?? '', body), 'hex');
      if (!timingSafeEqual(expected, Buffer.from(signature as string, 'hex'))) return this.refuse(req, res, 401, { error: 'unauthorized' });
    }
    if (from === undefined || from === this.id || !this.peers.has(from)) {
      return this.refuse(req, res, 403, { error: 'forbidden', reason: `unknown sender ${JSON.stringify(from ?? null)}` });
    }
    if (this.isolatedPeers.has(from)) return this.refuse(req, res, 503, { error: 'unavailable', reason: `${from} is isolated` });
    const handlers = this.handlers;
    if (handlers === undefined) return this.refuse(req, res, 503, { error: 'unavailable', reason: 'the node is not running' });
    const socket = req.socket;
    if (!this.inboundPeer.has(socket)) socket.once('close', () => this.inboundPeer.delete(socket));
    this.inboundPeer.set(socket, from);
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch (error) {
      return this.refuse(req, res, 400, { error: 'bad_request', reason: `malformed JSON: ${(error as Error).message}` });
    }
    if (path === MESSAGES_PATH) return this.receiveMessages(req, res, from, json, handlers);
    return this.serveForward(req, res, json, handlers);
  }

  private receiveMessages(req: IncomingMessage, res: ServerResponse, from: NodeId, json: unknown, handlers: TransportHandlers): void {
    const envelope = envelopeSchema.safeParse(json);
    if (!envelope.success) {
      const issue = envelope.error.issues[0];
      return this.refuse(req, res, 400, { error: 'bad_request', reason: `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}` });
    }
    // Check every message before handing on any: a batch is delivered whole or not at all.
    const messages: RpcMessage[] = [];
    for (const [i, raw] of envelope.data.messages.entries()) {
      const parsed = parseRpcMessage(raw);
      if (!parsed.ok) return this.refuse(req, res, 400, { error: 'bad_request', reason: `messages[${i}]: ${parsed.error}` });
      messages.push(parsed.message);
    }
    const forged = messages.findIndex((m) => m.from !== from);
    if (envelope.data.from !== from || forged >= 0) {
      const claimed = forged >= 0 ? (messages[forged] as RpcMessage).from : envelope.data.from;
      return this.refuse(req, res, 403, { error: 'forbidden', reason: `sender ${JSON.stringify(from)} sent a message from ${JSON.stringify(claimed)}` });
    }
    const { epoch, batch } = envelope.data;
    if (epoch !== undefined && batch !== undefined) {
      const last = this.lastBatch.get(from);
      if (last !== undefined && last.epoch === epoch && batch <= last.batch) {
        return this.refuse(req, res, 409, { error: 'stale_batch', reason: `batch ${batch} after ${last.batch}` });
      }
      this.lastBatch.set(from, { epoch, batch });
    }
    for (const message of messages) {
      this.counters.received++;
      try {
        handlers.onMessage(message);
      } catch (error) {
        this.report(error, `onMessage from ${from}`);
      }
    }
    res.writeHead(204).end();
  }

  private async serveForward(req: IncomingMessage, res: ServerResponse, json: unknown, handlers: TransportHandlers): Promise<void> {
    const parsed = clientRequestSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return this.refuse(req, res, 400, { error: 'bad_request', reason: `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}` });
    }
    const request = parsed.data as ClientRequest;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<ClientResponse>((resolve) => {
      timer = setTimeout(() => resolve(timeoutResponse(request, this.requestTimeout)), this.requestTimeout);
      this.forwardTimers.add(timer);
    });
    let response: ClientResponse;
    try {
      response = await Promise.race([Promise.resolve().then(() => handlers.onRequest(request)), timedOut]);
    } catch (error) {
      this.report(error, 'onRequest');
      response = { ok: false, error: { code: 'internal', message: error instanceof Error ? error.message : String(error) } };
    } finally {
      if (timer !== undefined) {
        clearTimeout(timer);
        this.forwardTimers.delete(timer);
      }
    }
    let text: string;
    try {
      text = JSON.stringify(response);
    } catch (error) {
      this.report(error, 'onRequest answer is not JSON');
      return reply(res, 500, { error: 'internal', reason: 'the answer could not be serialized' });
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  }

  /** Read the body up to bodyLimit; past it answer 413 and close instead of reading on. */
  private readBody(req: IncomingMessage, res: ServerResponse): Promise<Buffer | undefined> {
    const tooLarge = () => {
      this.refuse(req, res, 413, { error: 'payload_too_large', limit: this.bodyLimit });
    };
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > this.bodyLimit) {
      tooLarge();
      return Promise.resolve(undefined);
    }
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const settle = (value: Buffer | undefined) => {
        if (settled) return;
        settled = true;
        req.off('data', onData);
        resolve(value);
      };
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (size > this.bodyLimit) {
          tooLarge();
          return settle(undefined);
        }
        chunks.push(chunk);
      };
      req.on('data', onData);
      req.once('end', () => settle(Buffer.concat(chunks, size)));
      req.once('error', () => settle(undefined));
      req.once('close', () => settle(undefined)); // aborted by the client
    });
  }

  private refuse(req: IncomingMessage, res: ServerResponse, status: number, body: Record<string, unknown>): void {
    this.counters.rejected++;
    // Refused before its body was read: do not read the rest, close after answering.
    if (!req.complete) {
      res.setHeader('connection', 'close');
      req.pause();
    }
    const reason = typeof body.reason === 'string' ? body.reason : String(body.error);
    this.report(new HttpStatusError(status, reason), `refused ${req.method ?? '?'} ${req.url ?? '?'} from ${header(req, 'x-raft-from') ?? req.socket.remoteAddress ?? '?'}`);
    reply(res, status, body);
  }

  private report(error: unknown, context: string): void {
    try {
      this.options.onError?.(error, `${this.id}: ${context}`);
    } catch {
      // A reporter that throws must not take the transport down.
    }
  }
}

function reply(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  if (res.headersSent) return void res.destroy();
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function timeoutResponse(request: ClientRequest, ms: number): ClientResponse {
  return request.type === 'propose'
    ? { ok: false, error: { code: 'outcome_unknown', message: `the leader did not answer the forwarded proposal within ${ms} ms; the outcome is unknown` } }
    : { ok: false, error: { code: 'timeout', message: `the leader did not answer the forwarded read within ${ms} ms; safe to retry` } };
}

function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
