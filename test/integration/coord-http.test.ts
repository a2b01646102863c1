import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import type { TaskClaim, WatchMessage } from '../../src/coord/types.js';
import { InvalidRequestError, LeaseHeldError, NotFoundError, StaleTokenError } from '../../src/errors.js';
import type { NodeServer, NodeServerOptions } from '../../src/server/node-server.js';
import { NodeServers } from './node-servers.js';

const TOKEN = 'coord-test-token';
const cluster = new NodeServers();
const servers = cluster.servers;

afterEach(() => cluster.stopAll());

type Extra = Pick<NodeServerOptions, 'watchHistory' | 'watchKeepAliveMs' | 'bodyLimit'>;

/** Three nodes; resolves once one of them leads. Returns the addresses, and a follower's and the leader's. */
async function startCluster(extra: Extra = {}): Promise<{ peers: Record<string, string>; follower: string; leader: string }> {
  const peers = await cluster.start(TOKEN, 'xstate-raft-coord-', { electionTimeout: [150, 300], heartbeatInterval: 50, ...extra });
  const leader = await cluster.agreedLeader();
  const follower = [...servers.values()].find((s) => s !== leader) as NodeServer;
  return { peers, follower: follower.address, leader: leader.address };
}

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

async function call(address: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(`http://${address}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, ...headers },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

interface SseEvent {
  id?: string;
  event?: string;
  data?: string;
  comment?: string;
}

/** Read GET /v1/watch until `until` says enough (or the stream ends, or 10 s pass); the events, and whether the node ended the stream. */
async function watchRaw(
  address: string,
  query: string,
  headers: Record<string, string>,
  until: (events: SseEvent[]) => boolean,
): Promise<{ status: number; events: SseEvent[]; ended: boolean }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 10_000);
  const res = await fetch(`http://${address}/v1/watch?${query}`, { headers: { authorization: `Bearer ${TOKEN}`, ...headers }, signal: controller.signal });
  const events: SseEvent[] = [];
  if (res.status !== 200 || res.body === null) {
    clearTimeout(timer);
    return { status: res.status, events: [{ data: await res.text() }], ended: true };
  }
  let buffer = '';
  let current: SseEvent = {};
  let ended = false;
  try {
    for await (const chunk of res.body) {
      buffer += Buffer.from(chunk).toString('utf8');
      let nl = buffer.indexOf('\n');
      while (nl >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        nl = buffer.indexOf('\n');
        if (line === '') {
          events.push(current);
          current = {};
          continue;
        }
        const colon = line.indexOf(':');
        const field = line.slice(0, colon);
        const value = line.slice(colon + 1).trimStart();
        if (field === '') current.comment = value;
        else current[field as 'id' | 'event' | 'data'] = value;
      }
      if (until(events)) break;
    }
    ended = !until(events);
  } catch (error) {
    if (!controller.signal.aborted) throw error;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return { status: res.status, events, ended };
}

const batches = (events: SseEvent[]) => events.filter((e) => e.event === 'changes').map((e) => ({ id: Number(e.id), ...JSON.parse(e.data as string) }));

describe('coordination over HTTP', { timeout: 60_000 }, () => {
  it('leases: acquire, held by another (409 lease_held), renew, stale renew and release (409 stale_token), get, list, release', async () => {
    const { follower, leader } = await startCluster();
    const acquired = await call(follower, 'PUT', '/v1/leases/deploy/prod', { holder: 'agent-a', ttlMs: 30_000 });
    expect(acquired.status).toBe(200);
    const lease = acquired.body.lease as { name: string; holder: string; token: number; expiresAt: number; ttlMs: number };
    expect(lease).toMatchObject({ name: 'deploy/prod', holder: 'agent-a', ttlMs: 30_000 });
    expect(lease.token).toBeGreaterThan(0);

    const held = await call(follower, 'PUT', '/v1/leases/deploy/prod', { holder: 'agent-b', ttlMs: 30_000 });
    expect(held).toEqual({ status: 409, body: { error: 'lease_held', name: 'deploy/prod', holder: 'agent-a', token: lease.token, expiresAt: lease.expiresAt } });

    const renewed = await call(leader, 'POST', '/v1/leases/deploy/prod', { token: lease.token, ttlMs: 60_000 });
    expect(renewed.status).toBe(200);
    expect(renewed.body.lease).toMatchObject({ token: lease.token, ttlMs: 60_000 });
    const stale = await call(follower, 'POST', '/v1/leases/deploy/prod', { token: lease.token + 1000 });
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ error: 'stale_token', token: lease.token + 1000, current: { holder: 'agent-a', token: lease.token } });
    expect(stale.body.detail).toMatch(/granted again/);

    expect((await call(follower, 'GET', '/v1/leases/deploy/prod')).body.lease).toMatchObject({ holder: 'agent-a', token: lease.token });
    expect((await call(follower, 'GET', '/v1/leases')).body.leases).toEqual([renewed.body.lease]);

    expect((await call(follower, 'DELETE', `/v1/leases/deploy/prod?token=${lease.token + 1}`)).body).toMatchObject({ error: 'stale_token' });
    expect(await call(follower, 'DELETE', '/v1/leases/deploy/prod', { token: lease.token })).toEqual({ status: 200, body: {} });
    expect(await call(follower, 'GET', '/v1/leases/deploy/prod')).toMatchObject({ status: 404, body: { error: 'not_found' } });
    expect((await call(follower, 'DELETE', `/v1/leases/deploy/prod?token=${lease.token}`)).status).toBe(409);
    expect((await call(follower, 'GET', '/v1/leases')).body).toEqual({ leases: [] });
  });

  it('queues: post (and its duplicate), id taken, claim, nothing queued (204), heartbeat, complete, fail, stale tokens, another queue (404), views', async () => {
    const { follower } = await startCluster();
    const posted = await call(follower, 'POST', '/v1/queues/builds', { task: { repo: 'web' }, id: 'b1' });
    expect(posted.status).toBe(200);
    expect(posted.body).toMatchObject({ id: 'b1', duplicate: false });
    expect((await call(follower, 'POST', '/v1/queues/builds', { task: { repo: 'web' }, id: 'b1' })).body).toEqual({ ...posted.body, duplicate: true });
    const taken = await call(follower, 'POST', '/v1/queues/tests', { task: 1, id: 'b1' });
    expect(taken.status).toBe(409);
    expect(taken.body).toMatchObject({ error: 'id_taken', id: 'b1', queue: 'builds' });
    const second = await call(follower, 'POST', '/v1/queues/builds', { task: { repo: 'api' }, maxAttempts: 1 });
    expect(second.body.id).toMatch(/^t\d+$/);

    const claimed = await call(follower, 'POST', '/v1/queues/builds/claim', { worker: 'w1', ttlMs: 30_000 });
    expect(claimed.status).toBe(200);
    const claim = claimed.body.claim as TaskClaim;
    expect(claim).toMatchObject({ id: 'b1', queue: 'builds', task: { repo: 'web' }, worker: 'w1', attempt: 1 });

    const beat = await call(follower, 'POST', '/v1/queues/builds/b1/heartbeat', { token: claim.token, ttlMs: 40_000 });
    expect(beat.status).toBe(200);
    expect(beat.body.expiresAt).toBeGreaterThanOrEqual(claim.expiresAt);
    expect((await call(follower, 'POST', '/v1/queues/builds/b1/heartbeat', { token: claim.token + 7 })).body).toMatchObject({ error: 'stale_token' });
    // Refused in the log (the command names its queue), not by a read of the replica before it.
    expect(await call(follower, 'POST', '/v1/queues/tests/b1/complete', { token: claim.token })).toMatchObject({
      status: 404,
      body: { error: 'not_found', detail: 'task "b1" is not in queue "tests"' },
    });
    expect((await call(follower, 'GET', '/v1/queues/builds/b1')).body.task).toMatchObject({ state: 'claimed' });
    expect((await call(follower, 'POST', '/v1/queues/builds/nope/complete', { token: claim.token })).status).toBe(404);
    expect(await call(follower, 'POST', '/v1/queues/builds/b1/complete', { token: claim.token, result: { ok: 1 } })).toEqual({ status: 200, body: {} });
    const again = await call(follower, 'POST', '/v1/queues/builds/b1/complete', { token: claim.token });
    expect(again.status).toBe(409);
    expect(again.body.detail).toMatch(/already done/);

    const next = (await call(follower, 'POST', '/v1/queues/builds/claim', { worker: 'w2', ttlMs: 30_000 })).body.claim as TaskClaim;
    expect(next.id).toBe(second.body.id);
    expect(await call(follower, 'POST', `/v1/queues/builds/${next.id}/fail`, { token: next.token, reason: 'flaky' })).toEqual({ status: 200, body: { state: 'dead' } });
    expect(await call(follower, 'POST', '/v1/queues/builds/claim', { worker: 'w2', ttlMs: 30_000 })).toEqual({ status: 204, body: {} });

    const task = await call(follower, 'GET', '/v1/queues/builds/b1');
    expect(task.body.task).toMatchObject({ id: 'b1', state: 'done', result: { ok: 1 }, completedBy: { worker: 'w1', token: claim.token } });
    expect((await call(follower, 'GET', '/v1/queues/tests/b1')).status).toBe(404);
    expect((await call(follower, 'GET', '/v1/tasks/b1')).body.task).toEqual(task.body.task);
    const queue = await call(follower, 'GET', '/v1/queues/builds');
    expect(queue.body).toMatchObject({ queue: 'builds', counts: { queued: 0, claimed: 0, done: 1, dead: 1 } });
    expect((queue.body.tasks as { id: string }[]).map((t) => t.id)).toEqual(['b1', next.id]);
    expect((await call(follower, 'GET', '/v1/queues/builds?limit=1')).body.tasks).toHaveLength(1);
    expect(((await call(follower, 'GET', '/v1/queues')).body.queues as { queue: string }[]).map((q) => q.queue)).toEqual(['builds']);
  });

  it('a failed claim with retry goes back to the queue; a claim retried with the same X-Client-Id and X-Request-Seq is applied once', async () => {
    const { follower, leader } = await startCluster();
    await call(follower, 'POST', '/v1/queues/q', { task: 'a', id: 'a' });
    await call(follower, 'POST', '/v1/queues/q', { task: 'b', id: 'b' });
    const headers = { 'x-client-id': 'agent-7', 'x-request-seq': '1' };
    const first = await call(follower, 'POST', '/v1/queues/q/claim', { worker: 'w', ttlMs: 30_000 }, headers);
    const retried = await call(leader, 'POST', '/v1/queues/q/claim', { worker: 'w', ttlMs: 30_000 }, headers);
    expect(retried).toEqual(first);
    expect((await call(follower, 'GET', '/v1/queues/q')).body.counts).toEqual({ queued: 1, claimed: 1, done: 0, dead: 0 });
    const claim = first.body.claim as TaskClaim;
    expect((await call(follower, 'POST', '/v1/tasks/a/fail', { token: claim.token, reason: 'try later', retry: true })).body).toEqual({ state: 'queued' });
    // Back at its place: the oldest post is claimed first.
    expect(((await call(follower, 'POST', '/v1/queues/q/claim', { worker: 'w', ttlMs: 30_000 })).body.claim as TaskClaim).id).toBe('a');
  });

  it("a task read through a follower right after the leader completed it is done (GET is linearizable, not the follower's view)", async () => {
    const { follower, leader } = await startCluster();
    for (let i = 0; i < 10; i++) {
      await call(leader, 'POST', '/v1/queues/lin', { task: i, id: `l${i}` });
      const claim = (await call(leader, 'POST', '/v1/queues/lin/claim', { worker: 'w', ttlMs: 30_000 })).body.claim as TaskClaim;
      expect((await call(leader, 'POST', `/v1/queues/lin/l${i}/complete`, { token: claim.token })).status).toBe(200);
      expect(((await call(follower, 'GET', `/v1/tasks/l${i}`)).body.task as { state: string }).state).toBe('done');
      expect(((await call(follower, 'GET', `/v1/queues/lin/l${i}`)).body.task as { state: string }).state).toBe('done');
    }
  });

  it('a fenced KV write is applied while its token is current and refused with 409 stale_token after, the key unchanged', async () => {
    const { follower } = await startCluster();
    const lease = (await call(follower, 'PUT', '/v1/leases/config', { holder: 'a', ttlMs: 30_000 })).body.lease as { token: number };
    const fence = { 'x-fence-lease': 'config', 'x-fence-token': String(lease.token) };
    expect((await call(follower, 'PUT', '/kv/config/value', { value: 1 }, fence)).status).toBe(200);
    expect((await call(follower, 'POST', '/kv/config/value/cas', { from: 1, to: 2 }, fence)).body).toEqual({ ok: true });
    await call(follower, 'DELETE', `/v1/leases/config?token=${lease.token}`);
    const next = (await call(follower, 'PUT', '/v1/leases/config', { holder: 'b', ttlMs: 30_000 })).body.lease as { token: number };
    const refused = await call(follower, 'PUT', '/kv/config/value', { value: 'late' }, fence);
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ error: 'stale_token', token: lease.token, current: { holder: 'b', token: next.token } });
    expect((await call(follower, 'DELETE', '/kv/config/value', undefined, fence)).body.error).toBe('stale_token');
    expect((await call(follower, 'POST', '/kv/config/value/cas', { from: 2, to: 3 }, fence)).body.error).toBe('stale_token');
    expect((await call(follower, 'GET', '/kv/config/value')).body).toEqual({ value: 2 });

    // A task claim fences the same way.
    await call(follower, 'POST', '/v1/queues/q', { task: null, id: 'job' });
    const claim = (await call(follower, 'POST', '/v1/queues/q/claim', { worker: 'w', ttlMs: 30_000 })).body.claim as TaskClaim;
    const taskFence = { 'x-fence-task': 'job', 'x-fence-token': String(claim.token) };
    expect((await call(follower, 'PUT', '/kv/out/job', { value: 'partial' }, taskFence)).status).toBe(200);
    await call(follower, 'POST', '/v1/tasks/job/complete', { token: claim.token });
    expect((await call(follower, 'PUT', '/kv/out/job', { value: 'again' }, taskFence)).status).toBe(409);
    expect((await call(follower, 'GET', '/kv/out/job')).body).toEqual({ value: 'partial' });
  });

  it('bad input is 400 with a message (413 when too big), and changes nothing', async () => {
    const { follower } = await startCluster({ bodyLimit: 64 * 1024 });
    const lease = (await call(follower, 'PUT', '/v1/leases/l', { holder: 'a', ttlMs: 30_000 })).body.lease;
    await call(follower, 'POST', '/v1/queues/q', { task: 1, id: 'x' });
    const bad: [string, string, unknown, RegExp, Record<string, string>?][] = [
      ['PUT', '/v1/leases/l2', { holder: 'a', ttlMs: 5 }, /ttlMs is at least 100/],
      ['PUT', '/v1/leases/l2', { ttlMs: 1000 }, /holder is missing/],
      ['PUT', '/v1/leases/l2', { holder: '', ttlMs: 1000 }, /holder: must not be empty/],
      ['PUT', '/v1/leases/l2', { holder: 'a', ttlMs: 1000, extra: 1 }, /extra|Unrecognized/],
      ['PUT', '/v1/leases/l2', '{not json', /not JSON/],
      ['POST', '/v1/leases/l', { token: 'one' }, /token/],
      ['DELETE', '/v1/leases/l?token=abc', undefined, /token/],
      ['DELETE', '/v1/leases/l', undefined, /token is missing/],
      ['POST', '/v1/queues/q', { id: 'y' }, /task is missing/],
      ['POST', '/v1/queues/q', { task: 1, maxAttempts: 0 }, /maxAttempts is at least 1/],
      ['POST', '/v1/queues/q/claim', { worker: 'w', ttlMs: 10 ** 10 }, /ttlMs is at most/],
      ['POST', '/v1/queues/q/x/fail', { token: 1 }, /reason is missing/],
      ['GET', '/v1/queues/q?limit=0', undefined, /limit/],
      ['GET', '/v1/leases?frob=1', undefined, /unknown parameter frob/],
      ['PUT', '/kv/k', { value: 1 }, /X-Fence-Token/, { 'x-fence-lease': 'l' }],
      ['PUT', '/kv/k', { value: 1 }, /exactly one/, { 'x-fence-lease': 'l', 'x-fence-task': 'x', 'x-fence-token': '1' }],
      ['PUT', `/v1/leases/${'n'.repeat(300)}`, { holder: 'a', ttlMs: 1000 }, /1 to 256 characters/],
    ];
    for (const [method, path, body, reason, headers] of bad) {
      const reply = await call(follower, method, path, body, headers);
      expect(reply.status, `${method} ${path}`).toBe(400);
      expect(reply.body.error).toBe('bad_request');
      expect(String(reply.body.reason), `${method} ${path}`).toMatch(reason);
    }
    const watch = await watchRaw(follower, 'kinds=kv,files', {}, () => true);
    expect(watch.status).toBe(400);
    expect(watch.events[0]?.data).toMatch(/kinds is a comma-separated list of kv, lease, task/);
    expect((await watchRaw(follower, 'from=0', {}, () => true)).status).toBe(400);
    const big = await call(follower, 'POST', '/v1/queues/q', { task: 'x'.repeat(100 * 1024) });
    expect(big.status).toBe(413);
    // Nothing changed: the one lease, the one task, no key.
    expect((await call(follower, 'GET', '/v1/leases')).body).toEqual({ leases: [lease] });
    expect((await call(follower, 'GET', '/v1/queues/q')).body.counts).toEqual({ queued: 1, claimed: 0, done: 0, dead: 0 });
    expect((await call(follower, 'GET', '/kv/k')).status).toBe(404);
  });

  it('watch: one SSE message per entry from an index, filtered by prefix and kind; Last-Event-ID resumes after it; keep-alives carry the position', async () => {
    const { follower, leader } = await startCluster({ watchKeepAliveMs: 200 });
    const first = (await call(leader, 'PUT', '/kv/app/a', { value: 1 })).body.index as number;
    await call(leader, 'PUT', '/v1/leases/app/lock', { holder: 'x', ttlMs: 30_000 });
    await call(leader, 'PUT', '/kv/other', { value: 'not watched' });
    await call(leader, 'POST', '/v1/queues/app', { task: 't', id: 'job' });
    await call(leader, 'DELETE', '/kv/app/a');

    const all = await watchRaw(follower, `prefix=app&from=${first}`, {}, (events) => batches(events).length >= 4);
    const seen = batches(all.events);
    expect(seen.map((b) => b.changes.map((c: { kind: string; key: string; op: string }) => `${c.kind} ${c.key} ${c.op}`))).toEqual([
      ['kv app/a put'],
      ['lease app/lock acquired'],
      ['task app/job posted'],
      ['kv app/a delete'],
    ]);
    for (const b of seen) expect(b.id).toBe(b.index);
    expect(seen.map((b) => b.index)).toEqual([...seen.map((b) => b.index)].sort((a, b) => a - b));

    const kvOnly = batches((await watchRaw(follower, `prefix=app&from=${first}&kinds=kv`, {}, (events) => batches(events).length >= 2)).events);
    expect(kvOnly.map((b) => b.changes[0].op)).toEqual(['put', 'delete']);

    // Resume after the second batch: the third comes next, whatever `from` says.
    const resumed = await watchRaw(follower, 'prefix=app&from=1', { 'last-event-id': String(seen[1].index) }, (events) => batches(events).length >= 1);
    expect(batches(resumed.events)[0].index).toBe(seen[2].index);

    // From now on: nothing old; then a keep-alive naming the position, then the next write.
    const live = watchRaw(follower, 'prefix=app', {}, (events) => batches(events).length >= 1);
    await new Promise((r) => setTimeout(r, 500));
    const later = (await call(leader, 'PUT', '/kv/app/b', { value: 2 })).body.index as number;
    const liveEvents = (await live).events;
    expect(batches(liveEvents).map((b) => b.index)).toEqual([later]);
    const keepAlive = liveEvents.find((e) => e.comment === 'keep-alive');
    expect(Number(keepAlive?.id)).toBeGreaterThanOrEqual(seen[3].index);
  });

  it('watch: history that is gone is answered `compacted` with where to watch from, and the stream ends', async () => {
    const { follower, leader } = await startCluster({ watchHistory: 5 });
    for (let i = 0; i < 15; i++) await call(leader, 'PUT', `/kv/k${i}`, { value: i });
    const last = (await call(leader, 'PUT', '/kv/last', { value: 0 })).body.index as number;
    // The follower has applied it once a linearizable read through it answers.
    await call(follower, 'GET', '/kv/last');
    const gone = await watchRaw(follower, 'from=1', {}, () => false);
    expect(gone.ended).toBe(true);
    const compacted = gone.events.find((e) => e.event === 'compacted');
    const told = JSON.parse(compacted?.data as string) as { index: number; detail: string };
    expect(told.index).toBeGreaterThan(last);
    expect(told.detail).toMatch(/no longer kept/);
    expect(batches(gone.events)).toEqual([]);
    // Recent history is still there.
    expect(batches((await watchRaw(follower, `from=${last}`, {}, (events) => batches(events).length >= 1)).events)[0].index).toBe(last);
  });
});

describe('connect(): leases, tasks, fenced writes and watch', { timeout: 90_000 }, () => {
  it('acquires, renews and releases leases, turning refusals into LeaseHeldError and StaleTokenError', async () => {
    const { peers } = await startCluster();
    const client = connect({ peers, token: TOKEN, timeout: 30_000 });
    const lease = await client.leases.acquire('build', { holder: 'a', ttlMs: 30_000 });
    expect(lease).toMatchObject({ name: 'build', holder: 'a' });
    const held = await client.leases.acquire('build', { holder: 'b', ttlMs: 30_000 }).catch((e: unknown) => e);
    expect(held).toBeInstanceOf(LeaseHeldError);
    expect(held).toMatchObject({ holder: 'a', token: lease.token, expiresAt: lease.expiresAt });
    expect((await client.leases.renew('build', lease.token, { ttlMs: 50_000 })).ttlMs).toBe(50_000);
    await expect(client.leases.renew('build', lease.token + 99)).rejects.toBeInstanceOf(StaleTokenError);
    expect(await client.leases.get('build')).toMatchObject({ token: lease.token });
    expect((await client.leases.list()).map((l) => l.name)).toEqual(['build']);

    await client.put('out', 1, { fence: { lease: 'build', token: lease.token } });
    await client.leases.release('build', lease.token);
    expect(await client.leases.get('build')).toBeUndefined();
    await expect(client.leases.release('build', lease.token)).rejects.toBeInstanceOf(StaleTokenError);
    const late = await client.kv.put('out', 2, { fence: { lease: 'build', token: lease.token } }).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(StaleTokenError);
    await expect(client.delete('out', { fence: { lease: 'build', token: lease.token } })).rejects.toBeInstanceOf(StaleTokenError);
    expect(await client.kv.get('out')).toEqual({ found: true, value: 1 });
    expect(await client.get('out')).toEqual({ found: true, value: 1 });
  });

  it('posts, claims, heartbeats, completes and fails tasks by id alone', async () => {
    const { peers } = await startCluster();
    const client = connect({ peers, token: TOKEN, timeout: 30_000 });
    const posted = await client.tasks.post('jobs', { n: 1 }, { id: 'j1' });
    expect(posted).toMatchObject({ id: 'j1', duplicate: false });
    expect((await client.tasks.post('jobs', { n: 1 }, { id: 'j1' })).duplicate).toBe(true);
    await client.tasks.post('jobs', { n: 2 }, { id: 'j2' });
    const claim = (await client.tasks.claim('jobs', { worker: 'w', ttlMs: 30_000 })) as TaskClaim;
    expect(claim).toMatchObject({ id: 'j1', task: { n: 1 }, attempt: 1 });
    expect((await client.tasks.heartbeat('j1', claim.token)).expiresAt).toBeGreaterThanOrEqual(claim.expiresAt);
    await expect(client.tasks.heartbeat('j1', claim.token + 1)).rejects.toBeInstanceOf(StaleTokenError);
    await expect(client.tasks.complete('missing', claim.token)).rejects.toBeInstanceOf(NotFoundError);
    await client.tasks.complete('j1', claim.token, 'built');
    await expect(client.tasks.complete('j1', claim.token)).rejects.toBeInstanceOf(StaleTokenError);
    const second = (await client.tasks.claim('jobs', { worker: 'w', ttlMs: 30_000 })) as TaskClaim;
    expect(await client.tasks.fail(second.id, second.token, 'broken', { retry: false })).toEqual({ state: 'dead' });
    expect(await client.tasks.claim('jobs', { worker: 'w', ttlMs: 30_000 })).toBeUndefined();
    expect(await client.tasks.get('j1')).toMatchObject({ state: 'done', result: 'built' });
    expect(await client.tasks.get('nope')).toBeUndefined();
    expect((await client.tasks.list('jobs')).counts).toEqual({ queued: 0, claimed: 0, done: 1, dead: 1 });
  });

  it('watch keeps going when the node it reads from stops: every batch once, in order', async () => {
    const { peers, follower } = await startCluster();
    // The watch reads from the first node it is given (a follower: stopping a leader can take
    // 15 s of the transport's, which is not what this test is about); writes go through the others.
    const others = Object.values(peers).filter((address) => address !== follower);
    const watchClient = connect({ peers: [follower, ...others], token: TOKEN, timeout: 30_000 });
    const writer = connect({ peers: others, token: TOKEN, timeout: 30_000 });
    const from = (await writer.put('w/0', 0)).index;
    const controller = new AbortController();
    const got: WatchMessage[] = [];
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const reading = (async () => {
      for await (const message of watchClient.watch('w/', { from, signal: controller.signal })) {
        got.push(message);
        // A slow reader: it takes the rest only after its node stopped, so they come from another.
        if (got.length === 8) await gate;
        if (got.length === 20) controller.abort();
      }
    })();
    for (let i = 1; i < 8; i++) await writer.put(`w/${i}`, i);
    await until(() => got.length >= 8);
    for (let i = 8; i < 20; i++) await writer.put(`w/${i}`, i);
    // Stop the node the watch reads from: it resumes on another from the last index it saw + 1.
    const stopped = [...servers.entries()].find(([, s]) => s.address === follower) as [string, NodeServer];
    await stopped[1].stop();
    servers.delete(stopped[0]);
    open();
    // A watch that misses a batch never gets to 20: stop it and show what it got.
    const giveUp = setTimeout(() => controller.abort(), 20_000);
    await reading;
    clearTimeout(giveUp);
    const keys = got.map((m) => (m.type === 'changes' ? m.changes.map((c) => c.key).join() : m.type));
    expect(keys).toEqual(Array.from({ length: 20 }, (_, i) => `w/${i}`));
    const indexes = got.map((m) => m.index);
    expect(new Set(indexes).size).toBe(20);
    expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
  });

  it('watch yields `compacted` and ends when the history it asks for is gone', async () => {
    const { leader } = await startCluster({ watchHistory: 3 });
    for (let i = 0; i < 10; i++) await call(leader, 'PUT', `/kv/k${i}`, { value: i });
    const client = connect({ peers: [leader], token: TOKEN, timeout: 30_000 });
    const got: WatchMessage[] = [];
    for await (const message of client.watch('', { from: 1 })) got.push(message);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ type: 'compacted' });
  });
});

async function until(condition: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('the coordination HTTP layer refuses what it cannot serve correctly', { timeout: 60_000 }, () => {
  it('a write that carries Origin or Sec-Fetch-Site: cross-site (a web page) is 403 cross_site and changes nothing; the same write without them is applied', async () => {
    const { follower, leader } = await startCluster();
    // A "simple" request a page can send without a preflight: text/plain, no credentials of ours needed.
    const page = { 'content-type': 'text/plain;charset=UTF-8', origin: 'https://evil.example' };
    const queued = await call(follower, 'POST', '/v1/queues/tasks', { task: { run: 'rm -rf' } }, page);
    expect(queued).toMatchObject({ status: 403, body: { error: 'cross_site' } });
    expect(queued.body.reason).toMatch(/Origin/);
    expect((await call(follower, 'PUT', '/kv/owned', { value: 1 }, { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await call(follower, 'POST', '/v1/queues/tasks/claim', { worker: 'w', ttlMs: 10_000 }, { 'sec-fetch-site': 'same-site' })).status).toBe(403);
    expect((await call(leader, 'POST', '/admin/snapshot', {}, page)).status).toBe(403);
    expect((await call(leader, 'GET', '/v1/queues/tasks')).body.counts).toMatchObject({ queued: 0 });
    expect((await call(leader, 'GET', '/kv/owned')).status).toBe(404);
    // A read from a page is not refused (it cannot read the answer anyway: no CORS headers).
    expect((await call(follower, 'GET', '/v1/queues', undefined, page)).status).toBe(200);
    // Plain clients (curl, the CLI, connect()) send neither header; any content-type is fine.
    expect((await call(follower, 'POST', '/v1/queues/tasks', { task: 1 }, { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(200);
    expect((await call(follower, 'PUT', '/kv/owned', { value: 1 }, { 'sec-fetch-site': 'none' })).status).toBe(200);
  });

  it("a keep-alive's id never goes back: after a replay of history from Last-Event-ID: 0 it names the last entry given, also of a watch that filtered everything", async () => {
    const { leader } = await startCluster({ watchKeepAliveMs: 200 });
    for (let i = 0; i < 3; i++) await call(leader, 'PUT', `/kv/app/${i}`, { value: i });
    const last = (await call(leader, 'PUT', '/kv/app/last', { value: 'x' })).body.index as number;
    const keepAlives = (events: SseEvent[]) => events.filter((e) => e.comment === 'keep-alive');
    const replayed = await watchRaw(leader, 'prefix=app', { 'last-event-id': '0' }, (events) => keepAlives(events).length >= 1);
    const ids = replayed.events.filter((e) => e.id !== undefined).map((e) => Number(e.id));
    expect(batches(replayed.events).at(-1)?.index).toBe(last);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(Number(keepAlives(replayed.events)[0]?.id)).toBeGreaterThanOrEqual(last);
    const filtered = await watchRaw(leader, 'prefix=nothing-here', { 'last-event-id': '0' }, (events) => keepAlives(events).length >= 1);
    expect(batches(filtered.events)).toEqual([]);
    expect(Number(keepAlives(filtered.events)[0]?.id)).toBeGreaterThanOrEqual(last);
  });

  it('a fence names any lease (percent-encoded in X-Fence-Lease): "日本 " with its trailing space, through connect() and raw', async () => {
    const { peers, follower } = await startCluster();
    const client = connect({ peers, token: TOKEN, timeout: 10_000 });
    const grant = await client.leases.acquire('日本 ', { holder: 'a', ttlMs: 30_000 });
    await client.put('jp/result', 'v1', { fence: { lease: '日本 ', token: grant.token } });
    expect(await client.get('jp/result')).toEqual({ found: true, value: 'v1' });
    const raw = { 'x-fence-lease': encodeURIComponent('日本 '), 'x-fence-token': String(grant.token) };
    expect((await call(follower, 'PUT', '/kv/jp/result', { value: 'v2' }, raw)).status).toBe(200);
    // The name without its space is another lease, which nobody holds.
    const trimmed = { ...raw, 'x-fence-lease': encodeURIComponent('日本') };
    expect((await call(follower, 'PUT', '/kv/jp/result', { value: 'v3' }, trimmed)).body).toMatchObject({ error: 'stale_token' });
    expect((await call(follower, 'PUT', '/kv/jp/result', { value: 'v3' }, { ...raw, 'x-fence-lease': '%E6' })).status).toBe(400);
    await client.leases.release('日本 ', grant.token);
    await expect(client.put('jp/result', 'late', { fence: { lease: '日本 ', token: grant.token } })).rejects.toBeInstanceOf(StaleTokenError);
    expect(await client.get('jp/result')).toEqual({ found: true, value: 'v2' });
    expect(() => connect({ peers, clientId: 'agent-日本' })).toThrow(InvalidRequestError);
    expect(() => connect({ peers, clientId: ' agent' })).toThrow(InvalidRequestError);
  });

  it('a task or key named `..` or `.` is reached (the path is read as sent, not resolved): post, claim, complete and read through connect()', async () => {
    const { peers, follower } = await startCluster();
    const client = connect({ peers, token: TOKEN, timeout: 10_000 });
    await client.tasks.post('dots', { n: 1 }, { id: '..' });
    const claim = (await client.tasks.claim('dots', { worker: 'w', ttlMs: 30_000 })) as TaskClaim;
    expect(claim.id).toBe('..');
    await client.tasks.heartbeat('..', claim.token);
    await client.tasks.complete('..', claim.token, 'done');
    expect(await client.tasks.get('..')).toMatchObject({ state: 'done', result: 'done' });
    await client.put('.', 'dot');
    expect(await client.get('.')).toEqual({ found: true, value: 'dot' });
    // curl --path-as-is /v1/tasks/%2E%2E is the task "..", not /v1.
    const raw = await rawGet(follower, '/v1/tasks/%2E%2E');
    expect(raw.status).toBe(200);
    expect(JSON.parse(raw.text).task).toMatchObject({ id: '..', state: 'done' });
  });

  it('a node cut off from the leader ends its watches (its keep-alives would hide that it applies nothing)', async () => {
    const { follower } = await startCluster({ watchKeepAliveMs: 100 });
    const cutOff = [...servers.values()].find((s) => s.address === follower) as NodeServer;
    const started = Date.now();
    const watching = watchRaw(follower, 'prefix=', {}, () => false);
    await new Promise((r) => setTimeout(r, 300));
    cutOff.transport.isolate([...servers.values()].filter((s) => s !== cutOff).map((s) => s.node.id));
    const { ended, events } = await watching;
    expect(ended).toBe(true);
    expect(events.some((e) => e.comment?.includes('no live leader'))).toBe(true);
    // The election timeout is 150-300 ms: without contact for 300 ms, then 300 ms more.
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

/** A GET with its path sent as it is (fetch would resolve dot segments). */
function rawGet(address: string, path: string): Promise<{ status: number; text: string }> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port: Number(port), path, headers: { authorization: `Bearer ${TOKEN}` } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });
}
