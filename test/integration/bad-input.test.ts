/**
 * Bad input at a real node's edges: peer requests without the secret or with a wrong one,
 * malformed, oversized or ill-typed bodies, unknown senders, and bad client requests. Each gets
 * the right status code; no node crashes; no log changes.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MESSAGES_PATH, signRequest } from '../../src/transport/http.js';
import { ClusterProcesses, http, httpRetry } from './processes.js';

const SECRET = 'correct horse battery staple';
let c: ClusterProcesses;
let lastLogIndexes: number[];

beforeAll(async () => {
  c = await ClusterProcesses.create({ size: 3, secret: SECRET });
  c.startAll();
  await c.waitForLeader(15_000);
  expect((await httpRetry(c.addresses, 'PUT', '/kv/stable', { value: 1 })).status).toBe(200);
  await new Promise((r) => setTimeout(r, 300));
  lastLogIndexes = await Promise.all(c.ids.map(async (id) => (await c.status(id))?.lastLogIndex as number));
}, 60_000);

afterAll(async () => {
  await c?.cleanup();
});

function peerRequest(body: string, headers: Record<string, string>) {
  return fetch(`http://${c.address('n1')}${MESSAGES_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
}

/**
 * The status a server gives an upload it refuses from its declared size alone: send the headers
 * (Content-Length over the limit), not the body, and read the answer. (Writing the body races
 * the server closing the connection after its early 413.)
 */
function statusOfUpload(address: string, path: string, body: string, headers: Record<string, string>, method = 'POST'): Promise<number> {
  const [host, port] = address.split(':') as [string, string];
  return new Promise((resolve, reject) => {
    const req = request(
      { host, port: Number(port), path, method, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      },
    );
    req.on('error', reject);
    req.flushHeaders();
  });
}

function signed(from: string, body: string, secret = SECRET): Record<string, string> {
  return { 'x-raft-from': from, 'x-raft-signature': signRequest(secret, from, 'POST', MESSAGES_PATH, body) };
}

const vote = (from: string) => ({ type: 'rpc.requestVote', from, term: 99, candidateId: from, lastLogIndex: 999, lastLogTerm: 98 });

describe('bad input to a node with a secret', { timeout: 60_000 }, () => {
  it('answers 401 to a peer request without the secret or with a wrong one, and the vote never happens', async () => {
    const body = JSON.stringify({ from: 'n2', messages: [vote('n2')] });
    expect((await peerRequest(body, { 'x-raft-from': 'n2' })).status).toBe(401);
    expect((await peerRequest(body, signed('n2', body, 'wrong secret'))).status).toBe(401);
    expect((await c.status('n1'))?.term).not.toBe(99);
  });

  it('answers 400 to malformed JSON and to messages of the wrong shape', async () => {
    const garbage = '{"from": "n2", "messages": [';
    expect((await peerRequest(garbage, signed('n2', garbage))).status).toBe(400);
    const wrongTypes = JSON.stringify({ from: 'n2', messages: [{ ...vote('n2'), term: 'ninety-nine' }] });
    const reply = await peerRequest(wrongTypes, signed('n2', wrongTypes));
    expect(reply.status).toBe(400);
    expect(((await reply.json()) as { reason: string }).reason).toMatch(/term/);
    const gap = JSON.stringify({
      from: 'n2',
      messages: [
        {
          type: 'rpc.appendEntries',
          from: 'n2',
          term: 99,
          leaderId: 'n2',
          prevLogIndex: 0,
          prevLogTerm: 0,
          entries: [{ term: 99, index: 7, command: 'x' }],
          leaderCommit: 0,
          seq: 0,
        },
      ],
    });
    expect((await peerRequest(gap, signed('n2', gap))).status).toBe(400);
  });

  it('answers 403 to an unknown sender and 413 to an oversized body', async () => {
    const body = JSON.stringify({ from: 'mallory', messages: [vote('mallory')] });
    expect((await peerRequest(body, signed('mallory', body))).status).toBe(403);
    const huge = JSON.stringify({ from: 'n2', messages: [], pad: 'x'.repeat(5 * 1024 * 1024) });
    expect(await statusOfUpload(c.address('n1'), MESSAGES_PATH, huge, signed('n2', huge))).toBe(413);
  });

  it('answers 400 / 404 / 405 / 413 to bad client requests', async () => {
    const a = c.address('n2');
    expect((await http(a, 'PUT', '/kv/x', '{not json')).status).toBe(400);
    expect((await http(a, 'PUT', '/kv/x', { val: 1 })).status).toBe(400);
    expect((await http(a, 'PUT', '/kv/x', { value: 1, extra: true })).status).toBe(400);
    expect((await http(a, 'POST', '/kv/x/cas', { from: 1 })).status).toBe(400);
    expect((await http(a, 'GET', `/kv/${'k'.repeat(2000)}`)).status).toBe(400);
    expect((await http(a, 'PATCH', '/kv/x', { value: 1 })).status).toBe(405);
    expect((await http(a, 'GET', '/nope')).status).toBe(404);
    expect((await http(a, 'PUT', '/kv/x', { value: 1 }, { 'x-client-id': 'c1' })).status).toBe(400);
    expect(await statusOfUpload(a, '/kv/x', JSON.stringify({ value: 'y'.repeat(5 * 1024 * 1024) }), {}, 'PUT')).toBe(413);
  });

  it('survives all of it: every node still answers, and no log changed', async () => {
    const after = await Promise.all(c.ids.map(async (id) => (await c.status(id))?.lastLogIndex as number));
    expect(after).toEqual(lastLogIndexes);
    for (const id of c.ids) expect(c.isRunning(id)).toBe(true);
  });

  it('applies a retried write with the same X-Client-Id and X-Request-Seq once', async () => {
    const headers = { 'x-client-id': 'agent-7', 'x-request-seq': '1' };
    const first = await httpRetry(c.addresses, 'PUT', '/kv/once', { value: 'a' }, 10_000, headers);
    const again = await httpRetry(c.addresses, 'PUT', '/kv/once', { value: 'a' }, 10_000, headers);
    expect(first.status).toBe(200);
    expect(again.body.index).toBe(first.body.index);
    // The retry was appended (Raft cannot know) but applied once: the answer is the first one's.
    const next = await httpRetry(c.addresses, 'PUT', '/kv/once', { value: 'b' }, 10_000, { 'x-client-id': 'agent-7', 'x-request-seq': '2' });
    expect(next.body.index).toBeGreaterThan(first.body.index as number);
  });
});
