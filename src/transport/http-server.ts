/**
 * The receiving side of the HTTP transport: routes each inbound request, applies the checks in
 * the order http.ts documents (path, method, body limit, signature, sender, availability,
 * schema, forged `from`, stale batch) with their status codes, delivers a message batch whole or
 * not at all, and answers forwarded client requests within requestTimeout. Other paths go to
 * the `routes` option. HttpTransport owns one and hands it every request its server receives.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { z } from 'zod';
import type { NodeId, RpcMessage } from '../core/types.js';
import { parseRpcMessage } from '../core/validate.js';
import type { HttpTransportOptions, HttpTransportStats } from './http.js';
import { isSignatureShaped, verifySignature } from './http-signing.js';
import { FORWARD_PATH, HttpStatusError, MESSAGES_PATH } from './http-wire.js';
import type { ClientRequest, ClientResponse, TransportHandlers } from './transport.js';

export interface HttpRequestHandlerConfig {
  readonly id: NodeId;
  /** The transport's options: `secret` and `routes` are read from here. */
  readonly options: HttpTransportOptions;
  readonly bodyLimit: number;
  readonly requestTimeout: number;
  /** The transport's counters, updated in place. */
  readonly counters: HttpTransportStats;
  /** Peers the transport currently refuses traffic with. */
  readonly isolated: ReadonlySet<NodeId>;
  /** Whether this id is a known peer. */
  readonly isPeer: (id: NodeId) => boolean;
  /** The node's handlers, or undefined when the transport is not started (or stopped). */
  readonly handlers: () => TransportHandlers | undefined;
  readonly report: (error: unknown, context: string) => void;
}

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

export class HttpRequestHandler {
  private readonly config: HttpRequestHandlerConfig;
  private readonly lastBatch = new Map<NodeId, { epoch: string; batch: number }>();
  private readonly inboundPeer = new Map<Socket, NodeId>();
  private readonly forwardTimers = new Set<ReturnType<typeof setTimeout>>();

  constructor(config: HttpRequestHandlerConfig) {
    this.config = config;
  }

  private get id(): NodeId {
    return this.config.id;
  }

  /** The server's request listener: never rejects; an unexpected failure is answered 500. */
  serve(req: IncomingMessage, res: ServerResponse): void {
    this.handle(req, res).catch((error: unknown) => {
      this.config.report(error, `serving ${req.method ?? '?'} ${req.url ?? '?'}`);
      reply(res, 500, { error: 'internal' });
    });
  }

  /** Close every inbound connection this peer's requests came on (it is isolated). */
  disconnect(id: NodeId): void {
    for (const [socket, from] of this.inboundPeer) if (from === id) socket.destroy();
  }

  /** Stop the forwarded requests' timers (the transport is stopping). */
  stop(): void {
    for (const timer of this.forwardTimers) clearTimeout(timer);
    this.forwardTimers.clear();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://raft.invalid');
    } catch {
      return this.refuse(req, res, 400, { error: 'bad_request', reason: 'malformed request target' });
    }
    const path = url.pathname;
    const { options } = this.config;
    if (path !== MESSAGES_PATH && path !== FORWARD_PATH) {
      if (path === '/raft' || path.startsWith('/raft/')) return this.refuse(req, res, 404, { error: 'not_found' });
      try {
        if (options.routes && (await options.routes(req, res, url))) return;
      } catch (error) {
        this.config.report(error, `route ${req.method} ${path}`);
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
    const { secret } = options;
    // Refuse an unsigned request before reading its body.
    if (secret !== undefined && (from === undefined || signature === undefined || !isSignatureShaped(signature))) {
      return this.refuse(req, res, 401, { error: 'unauthorized' });
    }
    const body = await this.readBody(req, res);
    if (body === undefined) return;
    if (secret !== undefined) {
      if (!verifySignature(secret, from as string, 'POST', req.url ?? '', body, signature as string)) return this.refuse(req, res, 401, { error: 'unauthorized' });
    }
    if (from === undefined || from === this.id || !this.config.isPeer(from)) {
      return this.refuse(req, res, 403, { error: 'forbidden', reason: `unknown sender ${JSON.stringify(from ?? null)}` });
    }
    if (this.config.isolated.has(from)) return this.refuse(req, res, 503, { error: 'unavailable', reason: `${from} is isolated` });
    const handlers = this.config.handlers();
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
      this.config.counters.received++;
      try {
        handlers.onMessage(message);
      } catch (error) {
        this.config.report(error, `onMessage from ${from}`);
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
    const { requestTimeout } = this.config;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<ClientResponse>((resolve) => {
      timer = setTimeout(() => resolve(timeoutResponse(request, requestTimeout)), requestTimeout);
      this.forwardTimers.add(timer);
    });
    let response: ClientResponse;
    try {
      response = await Promise.race([Promise.resolve().then(() => handlers.onRequest(request)), timedOut]);
    } catch (error) {
      this.config.report(error, 'onRequest');
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
      this.config.report(error, 'onRequest answer is not JSON');
      return reply(res, 500, { error: 'internal', reason: 'the answer could not be serialized' });
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  }

  /** Read the body up to bodyLimit; past it answer 413 and close instead of reading on. */
  private readBody(req: IncomingMessage, res: ServerResponse): Promise<Buffer | undefined> {
    const { bodyLimit } = this.config;
    const tooLarge = () => {
      this.refuse(req, res, 413, { error: 'payload_too_large', limit: bodyLimit });
    };
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > bodyLimit) {
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
        if (size > bodyLimit) {
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
    this.config.counters.rejected++;
    // Refused before its body was read: do not read the rest, close after answering.
    if (!req.complete) {
      res.setHeader('connection', 'close');
      req.pause();
    }
    const reason = typeof body.reason === 'string' ? body.reason : String(body.error);
    this.config.report(new HttpStatusError(status, reason), `refused ${req.method ?? '?'} ${req.url ?? '?'} from ${header(req, 'x-raft-from') ?? req.socket.remoteAddress ?? '?'}`);
    reply(res, status, body);
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
