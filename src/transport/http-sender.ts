/**
 * The sending side of the HTTP transport: one ordered queue per peer with at most one batch in
 * flight, batching up to maxBatchBytes, per-peer keep-alive agents (one for messages, one for
 * forwarded client requests), retry backoff after a failed batch, and forwarding a client
 * request to a peer. HttpTransport owns one and decides when peers are isolated or it stops.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { z } from 'zod';
import type { NodeId, RpcMessage } from '../core/types.js';
import type { HttpTransportOptions, HttpTransportStats } from './http.js';
import { signRequest } from './http-signing.js';
import { FORWARD_PATH, HOST_PORT, HttpStatusError, MESSAGES_PATH } from './http-wire.js';
import { TransportError, type ClientRequest, type ClientResponse } from './transport.js';

export interface HttpSenderConfig {
  readonly id: NodeId;
  /** The transport's options: `secret` and `tls` are read from here. */
  readonly options: HttpTransportOptions;
  readonly bodyLimit: number;
  readonly maxBatchBytes: number;
  readonly requestTimeout: number;
  readonly messageTimeout: number;
  readonly maxQueued: number;
  /** Characters queued for one peer before the oldest messages are dropped (the newest always stays). */
  readonly maxQueuedChars: number;
  readonly backoff: { initial: number; max: number };
  /** The transport's counters, updated in place. */
  readonly counters: HttpTransportStats;
  /** Peers the transport currently refuses traffic with. */
  readonly isolated: ReadonlySet<NodeId>;
  readonly isStopped: () => boolean;
  readonly report: (error: unknown, context: string) => void;
}

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
  /** Serialized messages waiting, oldest first, and their total length. */
  queue: string[];
  queuedChars: number;
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

export class HttpSender {
  private readonly config: HttpSenderConfig;
  private readonly peers = new Map<NodeId, Peer>();
  private readonly epoch = randomUUID();
  /** Requests in flight, by the peer they go to (so isolating a peer can cut them). */
  private readonly outbound = new Map<http.ClientRequest, NodeId>();
  /** Outbound sockets still open, so stop() can wait until each has closed. */
  private readonly sockets = new Set<Socket>();

  constructor(config: HttpSenderConfig) {
    this.config = config;
  }

  private get id(): NodeId {
    return this.config.id;
  }

  private get stopped(): boolean {
    return this.config.isStopped();
  }

  // ------------------------------------------------------------ peers

  /** Change where a peer is reached (e.g. after it bound port 0). */
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
      id,
      host,
      port,
      address,
      ...this.newAgents(),
      queue: [],
      queuedChars: 0,
      inFlight: undefined,
      pumpScheduled: false,
      retryTimer: undefined,
      backoff: 0,
      batch: 0,
      lastError: undefined,
    });
  }

  has(id: NodeId): boolean {
    return this.peers.has(id);
  }

  addressOf(id: NodeId): string | undefined {
    return this.peers.get(id)?.address;
  }

  /** Drop what is queued for this peer and cut its connections and requests in flight. */
  disconnect(id: NodeId): void {
    const peer = this.peers.get(id);
    if (peer !== undefined) this.disconnectPeer(peer);
  }

  /** The same for every peer (the transport is stopping). */
  disconnectAll(): void {
    for (const peer of this.peers.values()) this.disconnectPeer(peer);
  }

  /** Send what is queued for this peer again (it rejoined). */
  resume(id: NodeId): void {
    const peer = this.peers.get(id);
    if (peer !== undefined) this.schedulePump(peer);
  }

  /** One promise per outbound socket still open, settled when it has closed. */
  socketsClosed(): Promise<unknown>[] {
    return [...this.sockets].map((socket) => new Promise((resolve) => (socket.destroyed && socket.closed ? resolve(undefined) : socket.once('close', resolve))));
  }

  // ------------------------------------------------------------ outbound messages

  send(to: NodeId, message: RpcMessage): void {
    const { counters } = this.config;
    const peer = this.peers.get(to);
    if (this.stopped || peer === undefined || this.config.isolated.has(to)) {
      counters.dropped++;
      if (peer === undefined && !this.stopped) this.config.report(new TransportError(`no address for peer ${JSON.stringify(to)}`), `send to ${to}`);
      return;
    }
    let serialized: string;
    try {
      serialized = JSON.stringify(message);
    } catch (error) {
      counters.dropped++;
      return this.config.report(error, `send to ${to}: message is not JSON`);
    }
    peer.queue.push(serialized);
    peer.queuedChars += serialized.length;
    // Raft tolerates loss but not a flood: past either cap the oldest go (order of the rest is
    // kept). A peer that is down must not make the leader hold a probe of up to the body limit
    // per heartbeat for as long as it is down.
    while (peer.queue.length > 1 && (peer.queue.length > this.config.maxQueued || peer.queuedChars > this.config.maxQueuedChars)) {
      peer.queuedChars -= (peer.queue.shift() as string).length;
      counters.dropped++;
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
    const { counters, isolated } = this.config;
    if (this.stopped || peer.inFlight || peer.retryTimer || peer.queue.length === 0 || isolated.has(peer.id)) return;
    let bytes = 0;
    let count = 0;
    while (count < peer.queue.length) {
      const size = Buffer.byteLength(peer.queue[count] as string) + 1;
      if (count > 0 && bytes + size > this.config.maxBatchBytes - 256) break;
      bytes += size;
      count++;
    }
    const messages = peer.queue.splice(0, count);
    for (const m of messages) peer.queuedChars -= m.length;
    peer.batch++;
    const body = Buffer.from(`{"from":${JSON.stringify(this.id)},"epoch":"${this.epoch}","batch":${peer.batch},"messages":[${messages.join(',')}]}`);
    counters.requests++;
    const finish = (error: unknown) => {
      peer.inFlight = undefined;
      if (error === undefined) {
        counters.sent += count;
        peer.backoff = 0;
        peer.lastError = undefined;
        return this.pump(peer);
      }
      counters.dropped += count;
      if (this.stopped || isolated.has(peer.id)) return;
      // Report a failure once, not on every retry of a peer that stays down.
      const text = error instanceof Error ? error.message : String(error);
      if (text !== peer.lastError) this.config.report(error, `send to ${peer.id} (${count} messages dropped)`);
      peer.lastError = text;
      const { backoff } = this.config;
      peer.backoff = Math.min(backoff.max, peer.backoff === 0 ? backoff.initial : peer.backoff * 2);
      peer.retryTimer = setTimeout(() => {
        peer.retryTimer = undefined;
        this.pump(peer);
      }, peer.backoff);
    };
    this.post(peer, peer.messageAgent, MESSAGES_PATH, body, this.config.messageTimeout, true, (req) => (peer.inFlight = req)).then(
      ({ status, body: text }) => finish(status === 204 ? undefined : new HttpStatusError(status, text)),
      finish,
    );
  }

  // ------------------------------------------------------------ outbound client requests

  async request(to: NodeId, request: ClientRequest): Promise<ClientResponse> {
    const peer = this.peers.get(to);
    if (this.stopped) throw new TransportError(`${this.id}: the transport is stopped`);
    if (peer === undefined) throw new TransportError(`no address for peer ${JSON.stringify(to)}`);
    if (this.config.isolated.has(to)) throw new TransportError(`${to} is isolated from ${this.id}`);
    let body: Buffer;
    try {
      body = Buffer.from(JSON.stringify(request));
    } catch (error) {
      throw new TransportError(`the request cannot be sent as JSON: ${(error as Error).message}`);
    }
    // A little longer than the server's own timeout, so its answer (which says what happened) wins.
    const { status, body: text } = await this.post(peer, peer.forwardAgent, FORWARD_PATH, body, this.config.requestTimeout + 1000, false);
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
    const { tls } = this.config.options;
    // Idle sockets close after 15 s, before the server's 30 s keep-alive timeout.
    const common = { keepAlive: true, timeout: 15_000, scheduling: 'lifo' as const };
    const make = (maxSockets: number, maxFreeSockets: number): http.Agent =>
      tls ? new https.Agent({ ...common, maxSockets, maxFreeSockets, ...(tls.ca ? { ca: tls.ca } : {}) }) : new http.Agent({ ...common, maxSockets, maxFreeSockets });
    return { messageAgent: make(1, 1), forwardAgent: make(64, 8) };
  }

  private disconnectPeer(peer: Peer): void {
    this.config.counters.dropped += peer.queue.length;
    peer.queue = [];
    peer.queuedChars = 0;
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
    const { options, counters, bodyLimit } = this.config;
    return new Promise<Posted>((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json', 'content-length': body.length, 'x-raft-from': this.id };
      if (options.secret !== undefined) headers['x-raft-signature'] = signRequest(options.secret, this.id, 'POST', path, body);
      const req = (options.tls ? https : http).request({ host: peer.host, port: peer.port, method: 'POST', path, agent, headers });
      this.outbound.set(req, peer.id);
      onRequest?.(req);
      const timer = setTimeout(() => req.destroy(new TransportError(`${peer.id} did not answer within ${timeout} ms`)), timeout);
      const done = () => {
        clearTimeout(timer);
        this.outbound.delete(req);
      };
      req.on('socket', (socket: Socket) => {
        if (req.reusedSocket) return;
        counters.connections++;
        this.sockets.add(socket);
        socket.once('close', () => this.sockets.delete(socket));
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= bodyLimit) chunks.push(chunk);
          else req.destroy(new TransportError(`${peer.id} answered more than ${bodyLimit} bytes`));
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
}
