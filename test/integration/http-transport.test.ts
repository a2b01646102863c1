/**
 * The HTTP transport over real sockets on 127.0.0.1 (ports picked at run time): delivery, per-peer
 * order, batching, keep-alive, isolation of a dead peer, forwarding, authentication, the 4xx
 * answers that change nothing, the isolation switch, TLS, and a clean stop.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AppendEntries, AppendEntriesResult, NodeId, RpcMessage } from '../../src/core/types.js';
import { createRaftNode, type RaftNode } from '../../src/runtime/raft-node.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { HttpTransport, signRequest, type HttpTransportOptions } from '../../src/transport/http.js';
import type { ClientRequest, ClientResponse } from '../../src/transport/transport.js';

// ---------------------------------------------------------------- cleanup, also when a test fails

const transports: HttpTransport[] = [];
const nodes: RaftNode[] = [];
const rawServers: net.Server[] = [];
const rawSockets = new Set<net.Socket>();
const tempDirs: string[] = [];

afterEach(async () => {
  for (const node of nodes.splice(0)) node.stop();
  await Promise.all(transports.splice(0).map((t) => t.stop()));
  for (const socket of rawSockets) socket.destroy();
  rawSockets.clear();
  await Promise.all(rawServers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  // Every test leaves the process as it found it: no server, no socket.
  await waitFor(() => openSockets().length === 0, `sockets to close (open: ${openSockets().join(', ')})`, 2000);
});

function openSockets(): string[] {
  return process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP') || r === 'TLSWrap');
}

// ---------------------------------------------------------------- helpers

interface Endpoint {
  transport: HttpTransport;
  inbox: RpcMessage[];
  forwarded: ClientRequest[];
  errors: string[];
}

type Extra = Partial<Omit<HttpTransportOptions, 'id' | 'peers' | 'listen'>> & { answer?: (request: ClientRequest) => Promise<ClientResponse> };

/** Transports for `ids`, each listening on a port of its own, each knowing every other's address. */
async function transportsFor(ids: readonly NodeId[], extra: Extra | ((id: NodeId) => Extra) = {}): Promise<Record<NodeId, Endpoint>> {
  const endpoints: Record<NodeId, Endpoint> = {};
  for (const id of ids) {
    const { answer, ...options } = typeof extra === 'function' ? extra(id) : extra;
    const errors: string[] = [];
    const transport = new HttpTransport({
      id,
      listen: { host: '127.0.0.1', port: 0 },
      peers: Object.fromEntries(ids.map((peer) => [peer, '127.0.0.1:0'])),
      onError: (error, context) => errors.push(`${context}: ${(error as Error).message}`),
      ...options,
    });
    transports.push(transport);
    await transport.listen();
    const endpoint: Endpoint = { transport, inbox: [], forwarded: [], errors };
    transport.start({
      onMessage: (message) => endpoint.inbox.push(message as RpcMessage),
      onRequest: (request) => {
        endpoint.forwarded.push(request);
        return answer ? answer(request) : Promise.resolve({ ok: true, value: { servedBy: id, request } });
      },
    });
    endpoints[id] = endpoint;
  }
  for (const { transport } of Object.values(endpoints)) {
    for (const [peer, other] of Object.entries(endpoints)) transport.setPeerAddress(peer, other.transport.address);
  }
  return endpoints;
}

function at(endpoints: Record<NodeId, Endpoint>, id: NodeId): Endpoint {
  const endpoint = endpoints[id];
  if (endpoint === undefined) throw new Error(`no endpoint ${id}`);
  return endpoint;
}

/** A valid message whose `seq` says where it was in the sender's stream. */
function ack(from: NodeId, seq: number): AppendEntriesResult {
  return { type: 'rpc.appendEntriesResult', from, term: 1, requestTerm: 1, success: true, matchIndex: 0, rejectedIndex: 0, conflictTerm: 0, conflictIndex: 0, seq };
}

function heartbeat(from: NodeId, entries: AppendEntries['entries'] = []): AppendEntries {
  return { type: 'rpc.appendEntries', from, term: 2, leaderId: from, prevLogIndex: 0, prevLogTerm: 0, entries, leaderCommit: 0, seq: 1 };
}

async function waitFor(condition: () => boolean, what: string, timeout = 5000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function hostPort(address: string): { host: string; port: number } {
  const [host, port] = address.split(':');
  return { host: host as string, port: Number(port) };
}

interface RawAnswer {
  status: number;
  body: string;
}

/** One request on a connection of its own (no agent, nothing left open). */
function rawRequest(address: string, options: { method?: string; path?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer }): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      ...hostPort(address),
      method: options.method ?? 'POST',
      path: options.path ?? '/raft/messages',
      agent: false,
      headers: { connection: 'close', ...options.headers },
    });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** POST a batch of messages as a peer would (signed when a secret is given). */
function postMessages(address: string, from: NodeId, messages: unknown[], secret?: string, extraBody: Record<string, unknown> = {}): Promise<RawAnswer> {
  const body = JSON.stringify({ from, messages, ...extraBody });
  const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json', 'x-raft-from': from };
  if (secret !== undefined) headers['x-raft-signature'] = signRequest(secret, from, 'POST', '/raft/messages', body);
  return rawRequest(address, { headers, body });
}

/** A server that accepts connections and never answers: a peer that hangs. */
async function blackhole(): Promise<{ address: string; bytes: () => number }> {
  let bytes = 0;
  const server = net.createServer((socket) => {
    rawSockets.add(socket);
    socket.on('data', (chunk) => (bytes += chunk.length));
    socket.on('error', () => undefined);
  });
  rawServers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return { address: `127.0.0.1:${port}`, bytes: () => bytes };
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `127.0.0.1:${port}`;
}

// ---------------------------------------------------------------- delivery, order, batching, pools

describe('HttpTransport: delivery', () => {
  it('delivers messages between two transports in both directions', async () => {
    const t = await transportsFor(['a', 'b']);
    at(t, 'a').transport.send('b', ack('a', 1));
    at(t, 'b').transport.send('a', heartbeat('b', [{ term: 1, index: 1, command: { put: 'x' } }]));
    await waitFor(() => at(t, 'a').inbox.length === 1 && at(t, 'b').inbox.length === 1, 'both messages');
    expect(at(t, 'b').inbox).toEqual([ack('a', 1)]);
    expect(at(t, 'a').inbox).toEqual([heartbeat('b', [{ term: 1, index: 1, command: { put: 'x' } }])]);
    // `sent` counts what the peer acknowledged (204), which lands just after delivery.
    await waitFor(() => at(t, 'a').transport.stats.sent === 1, 'the acknowledgement');
    expect(at(t, 'a').transport.stats).toMatchObject({ sent: 1, received: 1, dropped: 0, rejected: 0 });
  });

  it("three transports: every node's messages reach every peer, and no node hears its own", async () => {
    const ids = ['n1', 'n2', 'n3'];
    const t = await transportsFor(ids);
    for (const from of ids) for (const to of ids) if (from !== to) at(t, from).transport.send(to, ack(from, 7));
    await waitFor(() => ids.every((id) => at(t, id).inbox.length === 2), 'two messages at each node');
    for (const id of ids)
      expect(
        at(t, id)
          .inbox.map((m) => m.from)
          .sort(),
      ).toEqual(ids.filter((other) => other !== id));
  });

  it('keeps per-peer order under a burst of 1000 messages', async () => {
    const t = await transportsFor(['a', 'b']);
    for (let seq = 1; seq <= 1000; seq++) at(t, 'a').transport.send('b', ack('a', seq));
    await waitFor(() => at(t, 'b').inbox.length === 1000, '1000 messages');
    expect(at(t, 'b').inbox.map((m) => (m as AppendEntriesResult).seq)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
  });

  it('batches: messages queued while a request is in flight share the next request', async () => {
    const t = await transportsFor(['a', 'b']);
    const a = at(t, 'a').transport;
    // Sent over several turns of the event loop, so requests overlap with new sends.
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 50; i++) a.send('b', ack('a', round * 50 + i + 1));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await waitFor(() => a.stats.sent === 1000, '1000 messages acknowledged');
    expect(a.stats.requests).toBeLessThan(1000 / 10);
    expect(at(t, 'b').inbox.map((m) => (m as AppendEntriesResult).seq)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
  });

  it('reuses keep-alive connections: many requests, few connections', async () => {
    const t = await transportsFor(['a', 'b']);
    const a = at(t, 'a').transport;
    for (let round = 1; round <= 100; round++) {
      a.send('b', ack('a', round));
      await waitFor(() => at(t, 'b').inbox.length === round, `message ${round}`);
    }
    expect(a.stats.requests).toBe(100);
    expect(a.stats.connections).toBeLessThanOrEqual(2);
    expect(at(t, 'b').transport.stats.inboundConnections).toBeLessThanOrEqual(2);
  });

  it('splits a batch that would exceed maxBatchBytes, keeping order', async () => {
    const t = await transportsFor(['a', 'b'], { maxBatchBytes: 8 * 1024 });
    const command = 'x'.repeat(1000);
    for (let i = 1; i <= 40; i++) at(t, 'a').transport.send('b', heartbeat('a', [{ term: 1, index: 1, command: `${i}:${command}` }]));
    await waitFor(() => at(t, 'b').inbox.length === 40, '40 messages');
    expect(at(t, 'a').transport.stats.requests).toBeGreaterThanOrEqual(5);
    expect(at(t, 'b').inbox.map((m) => String((m as AppendEntries).entries[0]?.command).split(':')[0])).toEqual(Array.from({ length: 40 }, (_, i) => String(i + 1)));
  });
});

describe('HttpTransport: a slow or dead peer holds up nobody else', () => {
  it('delivers everything to a live peer while a hung peer never answers and a dead one refuses connections', async () => {
    const hung = await blackhole();
    const dead = await closedPort();
    const t = await transportsFor(['a', 'live'], { messageTimeout: 60_000 });
    const a = at(t, 'a').transport;
    a.setPeerAddress('hung', hung.address);
    a.setPeerAddress('dead', dead);
    for (let seq = 1; seq <= 300; seq++) {
      a.send('hung', ack('a', seq));
      a.send('dead', ack('a', seq));
      a.send('live', ack('a', seq));
    }
    await waitFor(() => at(t, 'live').inbox.length === 300, '300 messages at the live peer');
    await waitFor(() => hung.bytes() > 0, 'the hung peer to receive a request');
    // The hung peer still holds its first request (timeout 60 s): nothing to it counted as sent.
    await waitFor(() => a.stats.sent === 300, "the live peer's acknowledgements");
    expect(at(t, 'live').inbox.map((m) => (m as AppendEntriesResult).seq)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    await waitFor(() => at(t, 'a').errors.some((e) => e.includes('send to dead')), 'the dead peer reported');
    // A peer that stays down is reported once, not on every retry.
    expect(at(t, 'a').errors.filter((e) => e.includes('send to dead'))).toHaveLength(1);
  });

  it('drops a batch a peer does not answer within messageTimeout, then sends what follows', async () => {
    const hung = await blackhole();
    const t = await transportsFor(['a'], { messageTimeout: 100, backoff: { initial: 10, max: 20 } });
    const a = at(t, 'a').transport;
    a.setPeerAddress('hung', hung.address);
    a.send('hung', ack('a', 1));
    await waitFor(() => a.stats.dropped === 1, 'the unanswered batch to be dropped');
    expect(at(t, 'a').errors.join('\n')).toMatch(/did not answer within 100 ms/);
  });

  it('drops the oldest messages past maxQueuedPerPeer', async () => {
    const hung = await blackhole();
    const t = await transportsFor(['a'], { maxQueuedPerPeer: 10, messageTimeout: 60_000 });
    const a = at(t, 'a').transport;
    a.setPeerAddress('hung', hung.address);
    a.send('hung', ack('a', 0));
    await waitFor(() => hung.bytes() > 0, 'the first request in flight');
    for (let seq = 1; seq <= 25; seq++) a.send('hung', ack('a', seq));
    expect(a.stats.dropped).toBe(15);
  });

  it('drops the oldest messages past maxQueuedBytesPerPeer, keeping the newest even if it alone is larger', async () => {
    const hung = await blackhole();
    const t = await transportsFor(['a'], { maxQueuedBytesPerPeer: 10_000, messageTimeout: 60_000 });
    const a = at(t, 'a').transport;
    a.setPeerAddress('hung', hung.address);
    a.send('hung', ack('a', 0));
    await waitFor(() => hung.bytes() > 0, 'the first request in flight');
    // Probes of ~3 kB each to a peer that does not answer: at most three fit in 10 000 characters.
    const probe = () => heartbeat('a', [{ term: 1, index: 1, command: 'x'.repeat(3000) }]);
    for (let i = 0; i < 20; i++) a.send('hung', probe());
    expect(a.stats.dropped).toBe(17);
    a.send('hung', heartbeat('a', [{ term: 1, index: 1, command: 'y'.repeat(20_000) }]));
    expect(a.stats.dropped).toBe(20);
  });
});

describe('HttpTransport: forwarding client requests', () => {
  it('forwards a client request to a peer and returns its ClientResponse', async () => {
    const t = await transportsFor(['a', 'b']);
    const response = await at(t, 'a').transport.request('b', { type: 'propose', command: { put: 'k', value: 1 } });
    expect(response).toEqual({ ok: true, value: { servedBy: 'b', request: { type: 'propose', command: { put: 'k', value: 1 } } } });
    expect(at(t, 'b').forwarded).toEqual([{ type: 'propose', command: { put: 'k', value: 1 } }]);
    const read = await at(t, 'b').transport.request('a', { type: 'read', query: 'k' });
    expect(read).toMatchObject({ ok: true, value: { servedBy: 'a' } });
  });

  it('answers a forwarded proposal that outlives requestTimeout with outcome_unknown', async () => {
    const t = await transportsFor(['a', 'b'], { requestTimeout: 100, answer: () => new Promise(() => undefined) });
    const response = await at(t, 'a').transport.request('b', { type: 'propose', command: 'slow' });
    expect(response).toMatchObject({ ok: false, error: { code: 'outcome_unknown' } });
  });

  it('rejects a request to an unknown peer and refuses a forward body that is not a ClientRequest', async () => {
    const t = await transportsFor(['a', 'b']);
    await expect(at(t, 'a').transport.request('zz', { type: 'read', query: null })).rejects.toThrow(/no address/);
    const answer = await rawRequest(at(t, 'b').transport.address, { path: '/raft/forward', headers: { 'x-raft-from': 'a' }, body: JSON.stringify({ type: 'delete-everything' }) });
    expect(answer.status).toBe(400);
    expect(at(t, 'b').forwarded).toEqual([]);
  });
});

// ---------------------------------------------------------------- bad input changes nothing

describe('HttpTransport: authentication', () => {
  const secret = 'correct horse battery staple';

  it('answers 401 to a request without a signature and never hands it to the node', async () => {
    const t = await transportsFor(['a', 'b'], { secret });
    const address = at(t, 'b').transport.address;
    expect((await postMessages(address, 'a', [ack('a', 1)])).status).toBe(401);
    const forward = await rawRequest(address, { path: '/raft/forward', headers: { 'x-raft-from': 'a' }, body: JSON.stringify({ type: 'propose', command: 'x' }) });
    expect(forward.status).toBe(401);
    expect(at(t, 'b').inbox).toEqual([]);
    expect(at(t, 'b').forwarded).toEqual([]);
    // The control: the same request signed with the secret is accepted.
    expect((await postMessages(address, 'a', [ack('a', 1)], secret)).status).toBe(204);
    expect(at(t, 'b').inbox).toHaveLength(1);
  });

  it('answers 401 to a request signed with a wrong secret, or whose body was changed after signing', async () => {
    const t = await transportsFor(['a', 'b'], { secret });
    const address = at(t, 'b').transport.address;
    expect((await postMessages(address, 'a', [ack('a', 1)], 'wrong secret')).status).toBe(401);
    const signed = JSON.stringify({ from: 'a', messages: [ack('a', 1)] });
    const tampered = JSON.stringify({ from: 'a', messages: [ack('a', 2)] });
    const headers = { 'x-raft-from': 'a', 'x-raft-signature': signRequest(secret, 'a', 'POST', '/raft/messages', signed) };
    expect((await rawRequest(address, { headers, body: tampered })).status).toBe(401);
    expect(at(t, 'b').inbox).toEqual([]);
  });

  it('transports with different secrets exchange nothing; the sender reports the 401', async () => {
    const t = await transportsFor(['a', 'b'], (id) => ({ secret: id === 'a' ? secret : 'another secret' }));
    at(t, 'a').transport.send('b', ack('a', 1));
    await waitFor(() => at(t, 'a').transport.stats.dropped === 1, 'the batch to be dropped');
    expect(at(t, 'b').inbox).toEqual([]);
    expect(at(t, 'a').errors.join('\n')).toMatch(/HTTP 401/);
  });

  it('signed transports talk to each other (messages and forwards)', async () => {
    const t = await transportsFor(['a', 'b'], { secret });
    at(t, 'a').transport.send('b', ack('a', 1));
    await waitFor(() => at(t, 'b').inbox.length === 1, 'the message');
    expect(await at(t, 'b').transport.request('a', { type: 'read', query: 1 })).toMatchObject({ ok: true });
  });
});

describe('HttpTransport: bad requests get a 4xx and change nothing', () => {
  it('answers 413 to a declared body over bodyLimit without reading it', async () => {
    const t = await transportsFor(['a', 'b'], { bodyLimit: 1024 });
    const body = JSON.stringify({ from: 'a', messages: [heartbeat('a', [{ term: 1, index: 1, command: 'x'.repeat(2000) }])] });
    const answer = await rawRequest(at(t, 'b').transport.address, { headers: { 'x-raft-from': 'a' }, body });
    expect(answer.status).toBe(413);
    expect(at(t, 'b').inbox).toEqual([]);
  });

  it('answers 413 to a streamed body as soon as it passes bodyLimit, before the body ends', async () => {
    const t = await transportsFor(['a', 'b'], { bodyLimit: 64 * 1024 });
    const status = await new Promise<number>((resolve, reject) => {
      // Chunked, no Content-Length, and never finished: only a server that stops early can answer.
      const req = http.request({ ...hostPort(at(t, 'b').transport.address), method: 'POST', path: '/raft/messages', agent: false, headers: { 'x-raft-from': 'a' } });
      req.on('response', (res) => {
        res.resume();
        req.destroy();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write('{"from":"a","messages":["');
      for (let i = 0; i < 8; i++) req.write('x'.repeat(16 * 1024));
    });
    expect(status).toBe(413);
    expect(at(t, 'b').inbox).toEqual([]);
  });

  it('answers 400 with a reason to malformed JSON', async () => {
    const t = await transportsFor(['a', 'b']);
    const answer = await rawRequest(at(t, 'b').transport.address, { headers: { 'x-raft-from': 'a' }, body: '{"from":"a","messages":[' });
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'bad_request', reason: expect.stringMatching(/malformed JSON/) });
  });

  it("answers 400 with parseRpcMessage's reason to an AppendEntries with a gap in its entry indexes", async () => {
    const t = await transportsFor(['a', 'b']);
    const gap = heartbeat('a', [
      { term: 1, index: 1, command: 'x' },
      { term: 1, index: 3, command: 'y' },
    ]);
    const answer = await postMessages(at(t, 'b').transport.address, 'a', [gap]);
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toEqual({ error: 'bad_request', reason: expect.stringMatching(/messages\[0\]: rpc.appendEntries: entries.1.index: expected index 2, got 3/) });
    expect(at(t, 'b').inbox).toEqual([]);
  });

  it('delivers a batch whole or not at all: one bad message refuses the batch', async () => {
    const t = await transportsFor(['a', 'b']);
    const answer = await postMessages(at(t, 'b').transport.address, 'a', [ack('a', 1), { type: 'rpc.requestVote', from: 'a', term: -1 }, ack('a', 2)]);
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body).reason).toMatch(/^messages\[1\]/);
    expect(at(t, 'b').inbox).toEqual([]);
    expect(at(t, 'b').transport.stats).toMatchObject({ received: 0, rejected: 1 });
  });

  it('answers 403 to an unknown sender and to a sender whose ids disagree', async () => {
    const t = await transportsFor(['a', 'b', 'c']);
    const address = at(t, 'b').transport.address;
    expect((await postMessages(address, 'mallory', [ack('mallory', 1)])).status).toBe(403);
    // Claims to be b itself.
    expect((await postMessages(address, 'b', [ack('b', 1)])).status).toBe(403);
    // Header says a, body says c.
    expect((await rawRequest(address, { headers: { 'x-raft-from': 'a' }, body: JSON.stringify({ from: 'c', messages: [ack('c', 1)] }) })).status).toBe(403);
    // Envelope from a, a message inside from c.
    expect((await postMessages(address, 'a', [ack('a', 1), ack('c', 2)])).status).toBe(403);
    // No sender at all.
    expect((await rawRequest(address, { body: JSON.stringify({ from: 'a', messages: [ack('a', 1)] }) })).status).toBe(403);
    expect(at(t, 'b').inbox).toEqual([]);
  });

  it('refuses a batch older than one already delivered from the same sender (409), so order survives a late request', async () => {
    const t = await transportsFor(['a', 'b']);
    const address = at(t, 'b').transport.address;
    expect((await postMessages(address, 'a', [ack('a', 2)], undefined, { epoch: 'e1', batch: 2 })).status).toBe(204);
    expect((await postMessages(address, 'a', [ack('a', 1)], undefined, { epoch: 'e1', batch: 1 })).status).toBe(409);
    // A new epoch (the sender restarted) starts over.
    expect((await postMessages(address, 'a', [ack('a', 3)], undefined, { epoch: 'e2', batch: 1 })).status).toBe(204);
    expect(at(t, 'b').inbox.map((m) => (m as AppendEntriesResult).seq)).toEqual([2, 3]);
  });

  it('answers 405 to a wrong method, 404 to an unknown /raft path, and passes other paths to routes', async () => {
    const t = await transportsFor(['a', 'b'], {
      routes: (_req, res, url) => {
        if (url.pathname !== '/hello') return false;
        res.end('hi');
        return true;
      },
    });
    const address = at(t, 'b').transport.address;
    const wrongMethod = await rawRequest(address, { method: 'GET' });
    expect(wrongMethod.status).toBe(405);
    expect((await rawRequest(address, { path: '/raft/nothing-here', headers: { 'x-raft-from': 'a' }, body: '{}' })).status).toBe(404);
    expect(await rawRequest(address, { method: 'GET', path: '/hello' })).toEqual({ status: 200, body: 'hi' });
    expect((await rawRequest(address, { method: 'GET', path: '/elsewhere' })).status).toBe(404);
    expect(at(t, 'b').inbox).toEqual([]);
  });
});

// ---------------------------------------------------------------- isolation, TLS, lifecycle

describe('HttpTransport: isolation, TLS and stop', () => {
  it('isolate() refuses traffic both ways and rejoin() restores it', async () => {
    const t = await transportsFor(['a', 'b', 'c'], { backoff: { initial: 10, max: 50 } });
    const a = at(t, 'a').transport;
    a.isolate(['b']);
    expect([...a.isolated]).toEqual(['b']);
    a.send('b', ack('a', 1)); // a → b: dropped at the source
    at(t, 'b').transport.send('a', ack('b', 1)); // b → a: refused at a (503)
    at(t, 'c').transport.send('a', ack('c', 1)); // c → a: unaffected
    await waitFor(() => at(t, 'b').transport.stats.dropped === 1, "b's message to be refused");
    await waitFor(() => at(t, 'a').inbox.length === 1, "c's message");
    expect(at(t, 'a').inbox.map((m) => m.from)).toEqual(['c']);
    expect(at(t, 'b').inbox).toEqual([]);
    expect(a.stats.dropped).toBe(1);
    expect(a.stats.rejected).toBeGreaterThanOrEqual(1);
    await expect(a.request('b', { type: 'read', query: null })).rejects.toThrow(/isolated/);

    a.rejoin();
    expect(a.isolated.size).toBe(0);
    a.send('b', ack('a', 2));
    await waitFor(() => at(t, 'b').inbox.length === 1, "a's message after rejoin");
    at(t, 'b').transport.send('a', ack('b', 2));
    await waitFor(() => at(t, 'a').inbox.some((m) => m.from === 'b'), "b's message after rejoin");
    expect(
      at(t, 'a')
        .inbox.filter((m) => m.from === 'b')
        .map((m) => (m as AppendEntriesResult).seq),
    ).toEqual([2]);
  });

  it('talks over TLS with a self-signed certificate, and a peer that does not trust it delivers nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'xstate-raft-tls-'));
    tempDirs.push(dir);
    execFileSync(
      '/usr/bin/openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    const cert = readFileSync(join(dir, 'cert.pem'));
    const key = readFileSync(join(dir, 'key.pem'));
    const t = await transportsFor(['a', 'b', 'untrusting'], (id) => ({ tls: id === 'untrusting' ? { cert, key } : { cert, key, ca: cert } }));
    at(t, 'a').transport.send('b', ack('a', 1));
    await waitFor(() => at(t, 'b').inbox.length === 1, 'the message over TLS');
    expect(await at(t, 'b').transport.request('a', { type: 'read', query: 'k' })).toMatchObject({ ok: true, value: { servedBy: 'a' } });
    // Plain HTTP to a TLS port gets nowhere.
    await expect(rawRequest(at(t, 'b').transport.address, { headers: { 'x-raft-from': 'a' }, body: '{}' })).rejects.toThrow();

    at(t, 'untrusting').transport.send('b', ack('untrusting', 1));
    await waitFor(() => at(t, 'untrusting').transport.stats.dropped === 1, 'the untrusted batch to be dropped');
    expect(at(t, 'untrusting').errors.join('\n')).toMatch(/self[- ]signed/i);
    expect(at(t, 'b').inbox.map((m) => m.from)).toEqual(['a']);
  });

  it('stop() is idempotent, refuses further work and leaves no open handles', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = { sockets: openSockets().length, timers: timers() };
    const hung = await blackhole();
    const t = await transportsFor(['a', 'b']);
    const a = at(t, 'a').transport;
    a.setPeerAddress('hung', hung.address);
    a.send('b', ack('a', 1));
    a.send('hung', ack('a', 1));
    at(t, 'b').transport.send('a', ack('b', 1));
    await waitFor(() => at(t, 'b').inbox.length === 1 && at(t, 'a').inbox.length === 1 && hung.bytes() > 0, 'traffic on every connection');
    await waitFor(() => a.stats.sent === 1 && at(t, 'b').transport.stats.sent === 1, 'the acknowledgements');
    const pending = a.request('b', { type: 'read', query: null }).then(
      () => 'answered',
      (error: Error) => error.message,
    );
    const first = a.stop();
    expect(a.stop()).toBe(first);
    await first;
    expect(await pending).toMatch(/stopped|hang up|ECONNRESET/);
    // Once stop() resolves only b's and the hung peer's listening sockets remain: a closed its
    // server, its pooled connections both ways, and the one hanging on the hung peer.
    await new Promise((resolve) => setTimeout(resolve, 0)); // the peers' ends of those connections
    expect(openSockets()).toEqual(['TCPServerWrap', 'TCPServerWrap']);
    a.send('b', ack('a', 2)); // after stop: dropped, no throw
    await expect(a.request('b', { type: 'read', query: null })).rejects.toThrow(/stopped/);
    await expect(a.listen()).rejects.toThrow(/stopped/);
    const second = at(t, 'b').transport;
    await Promise.all([second.stop(), second.stop()]);
    await Promise.all(rawServers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
    await waitFor(() => openSockets().length === before.sockets, 'every socket to close');
    expect(timers()).toBeLessThanOrEqual(before.timers);
  });
});

describe('HttpTransport under RaftNode', () => {
  it("three nodes elect a leader over HTTP and a follower's proposal is forwarded, committed and applied everywhere", async () => {
    const ids = ['n1', 'n2', 'n3'];
    const t = await transportsFor(ids, { secret: 'cluster secret' });
    const applied: Record<NodeId, unknown[]> = { n1: [], n2: [], n3: [] };
    for (const [i, id] of ids.entries()) {
      const node = createRaftNode({
        id,
        peers: ids,
        transport: at(t, id).transport,
        storage: new MemoryStorage(),
        stateMachine: { apply: (command) => (applied[id]?.push(command), command), query: () => applied[id]?.length },
        random: i + 1,
        electionTimeout: [150, 300],
        heartbeatInterval: 30,
      });
      nodes.push(node);
    }
    await waitFor(() => nodes.some((n) => n.status().role === 'leader') && nodes.every((n) => n.status().leaderId !== null), 'a leader known to all', 10_000);
    const follower = nodes.find((n) => n.status().role !== 'leader') as RaftNode;
    const result = await follower.propose({ put: 'k', value: 1 });
    expect(result.index).toBeGreaterThan(0);
    await waitFor(() => ids.every((id) => applied[id]?.length === 1), 'the command applied on every node');
    expect(await follower.read(null)).toBe(1);
  }, 20_000);
});
