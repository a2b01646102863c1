/**
 * The MCP tools (src/mcp/server.ts) through the SDK's own Client over its InMemoryTransport,
 * against an in-memory cluster (mcp-fake.ts): every tool's result, the schemas' refusals, and
 * the texts of the errors a model has to act on.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';
import { mcpClientOf } from '../../src/cli/mcp.js';
import { MAX_TTL_MS, MIN_TTL_MS } from '../../src/coord/types.js';
import { NotLeaderError, OutcomeUnknownError, RaftError } from '../../src/errors.js';
import { MCP_TOOL_NAMES, createMcpServer, type McpClusterClient } from '../../src/mcp/server.js';
import { FakeCluster } from './mcp-fake.js';

const START = Date.UTC(2030, 0, 1);

let cluster: FakeCluster;
let client: Client;

async function open(backend: McpClusterClient, now: () => number): Promise<Client> {
  const server = createMcpServer(backend, { now, version: 'test' });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const opened = new Client({ name: 'mcp-tools-test', version: '0' });
  await opened.connect(clientSide);
  return opened;
}

beforeEach(async () => {
  cluster = new FakeCluster(START);
  client = await open(cluster, () => cluster.time);
});

afterEach(async () => {
  await client.close();
});

async function call(name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

function textOf(result: CallToolResult): string {
  const first = result.content[0];
  if (first?.type !== 'text') throw new Error(`expected text content, got ${JSON.stringify(result.content)}`);
  return first.text;
}

/** A successful call's result: the JSON text, which is also its structuredContent. */
async function ok(name: string, args: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const result = await call(name, args);
  if (result.isError) throw new Error(`${name} failed: ${textOf(result)}`);
  const parsed = JSON.parse(textOf(result)) as Record<string, unknown>;
  expect(result.structuredContent).toEqual(parsed);
  return parsed;
}

/** A refused call's text (isError: true). */
async function refused(name: string, args: Record<string, unknown> = {}): Promise<string> {
  const result = await call(name, args);
  expect(result.isError, `${name} should be refused, answered ${textOf(result)}`).toBe(true);
  return textOf(result);
}

describe('the tool list', () => {
  it('offers exactly the issue’s thirteen tools, each with an object schema and a description', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([...MCP_TOOL_NAMES].sort());
    for (const tool of tools) {
      expect(tool.inputSchema.type).toBe('object');
      expect(tool.description?.length ?? 0).toBeGreaterThan(20);
    }
  });

  it('publishes the limits a model must respect: required names, integer TTLs within bounds, integer tokens', async () => {
    const { tools } = await client.listTools();
    const acquire = tools.find((t) => t.name === 'lease_acquire');
    expect(acquire?.inputSchema.required?.sort()).toEqual(['holder', 'name', 'ttlMs']);
    expect(acquire?.inputSchema.properties?.ttlMs).toMatchObject({ type: 'integer', minimum: MIN_TTL_MS, maximum: MAX_TTL_MS });
    const renew = tools.find((t) => t.name === 'lease_renew');
    expect(renew?.inputSchema.required?.sort()).toEqual(['name', 'token']);
    expect(renew?.inputSchema.properties?.token).toMatchObject({ type: 'integer', minimum: 1 });
    const put = tools.find((t) => t.name === 'kv_put');
    expect(put?.inputSchema.required?.sort()).toEqual(['key', 'value']);
  });

  it('marks the reads read-only', async () => {
    const { tools } = await client.listTools();
    const readOnly = tools.filter((t) => t.annotations?.readOnlyHint === true).map((t) => t.name);
    expect(readOnly.sort()).toEqual(['cluster_status', 'kv_get', 'kv_list']);
  });
});

describe('schemas refuse bad input before the cluster is asked', () => {
  it.each([
    ['kv_put', { key: 'a' }, 'value'],
    ['kv_put', { key: '', value: 1 }, 'key'],
    ['kv_put', { key: 'a', value: 1, fence: { lease: 'l', token: 3, extra: true } }, 'fence'],
    ['kv_cas', { key: 'a', to: 2 }, 'from'],
    ['kv_list', { limit: 0 }, 'limit'],
    ['lease_acquire', { name: 'l', holder: 'a', ttlMs: MIN_TTL_MS - 1 }, 'ttlMs'],
    ['lease_acquire', { name: 'l', holder: 'a', ttlMs: 1000.5 }, 'ttlMs'],
    ['lease_acquire', { name: 'l', ttlMs: 1000 }, 'holder'],
    ['lease_acquire', { name: 'x'.repeat(257), holder: 'a', ttlMs: 1000 }, 'name'],
    ['lease_renew', { name: 'l', token: 0 }, 'token'],
    ['lease_release', { name: 'l', token: '7' }, 'token'],
    ['task_post', { queue: 'q' }, 'task'],
    ['task_post', { queue: 'q', task: 1, maxAttempts: 0 }, 'maxAttempts'],
    ['task_claim', { queue: 'q', worker: 'w', ttlMs: MAX_TTL_MS + 1 }, 'ttlMs'],
    ['task_heartbeat', { id: 't1' }, 'token'],
    ['task_complete', { token: 1 }, 'id'],
    ['task_fail', { id: 't1', token: 1 }, 'reason'],
    ['task_fail', { id: 't1', token: 1, reason: 'x', retry: 'no' }, 'retry'],
  ])('%s %j is refused, naming %s', async (name, args, field) => {
    const before = await ok('kv_list');
    const text = await refused(name, args);
    expect(text).toMatch(/Input validation error/);
    expect(text).toContain(field);
    // Nothing reached the cluster: no write took an index.
    expect(await ok('kv_list')).toEqual(before);
    expect(await cluster.leases.list()).toEqual([]);
  });
});

describe('cluster_status and the KV tools', () => {
  it('cluster_status names the leader and reports every node, the unreachable one included', async () => {
    const status = await ok('cluster_status');
    expect(status.leader).toBe('n1');
    expect(status.nodes).toHaveLength(3);
    expect((status.nodes as { ok: boolean }[])[2]).toMatchObject({ ok: false, address: '127.0.0.1:7003' });
  });

  it('kv_put writes any JSON value and kv_get reads it back; a missing key is found: false', async () => {
    const put = await ok('kv_put', { key: 'config/a', value: { replicas: 3, tags: ['x'], on: true, none: null } });
    expect(put).toMatchObject({ key: 'config/a', index: expect.any(Number) });
    expect(await ok('kv_get', { key: 'config/a' })).toEqual({ key: 'config/a', found: true, value: { replicas: 3, tags: ['x'], on: true, none: null } });
    await ok('kv_put', { key: 'config/b', value: null });
    expect(await ok('kv_get', { key: 'config/b' })).toEqual({ key: 'config/b', found: true, value: null });
    expect(await ok('kv_get', { key: 'nope' })).toEqual({ key: 'nope', found: false });
  });

  it('kv_list returns the keys under a prefix in order, at most limit, and says when there are more', async () => {
    for (const key of ['b/2', 'a/1', 'b/1', 'b/3']) await ok('kv_put', { key, value: key });
    expect(await ok('kv_list', { prefix: 'b/' })).toEqual({
      prefix: 'b/',
      count: 3,
      more: false,
      entries: [
        { key: 'b/1', value: 'b/1' },
        { key: 'b/2', value: 'b/2' },
        { key: 'b/3', value: 'b/3' },
      ],
    });
    const page = await ok('kv_list', { limit: 2 });
    expect(page).toMatchObject({ prefix: '', count: 2, more: true });
    expect((page.entries as { key: string }[]).map((e) => e.key)).toEqual(['a/1', 'b/1']);
  });

  it('kv_cas writes when the key holds from, and otherwise is refused with the value it holds', async () => {
    await ok('kv_put', { key: 'counter', value: { n: 1 } });
    expect(await ok('kv_cas', { key: 'counter', from: { n: 1 }, to: { n: 2 } })).toEqual({ key: 'counter', ok: true });
    const result = await call('kv_cas', { key: 'counter', from: { n: 1 }, to: { n: 3 } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe(
      'compare-and-set refused: key "counter" holds {"n":2}, not {"n":1}; nothing was written. Decide again with the value it holds, then call kv_cas with from set to it.',
    );
    expect(result.structuredContent).toEqual({ key: 'counter', ok: false, reason: 'precondition_failed', value: { n: 2 } });
    expect(await ok('kv_get', { key: 'counter' })).toMatchObject({ value: { n: 2 } });
  });

  it('kv_cas on a missing key says to create it with kv_put', async () => {
    expect(await refused('kv_cas', { key: 'ghost', from: 1, to: 2 })).toBe('compare-and-set refused: key "ghost" does not exist; nothing was written. Create it with kv_put.');
  });
});

describe('leases', () => {
  it('lease_acquire grants a token and an expiry; lease_renew extends it; lease_release frees it for the next holder', async () => {
    const grant = await ok('lease_acquire', { name: 'deploy', holder: 'agent-1', ttlMs: 10_000 });
    expect(grant).toEqual({ name: 'deploy', holder: 'agent-1', token: expect.any(Number), expiresAt: START + 10_000, ttlMs: 10_000, expiresAtIso: '2030-01-01T00:00:10.000Z' });
    cluster.advance(5000);
    const renewed = await ok('lease_renew', { name: 'deploy', token: grant.token, ttlMs: 20_000 });
    expect(renewed).toMatchObject({ token: grant.token, expiresAt: START + 25_000, ttlMs: 20_000 });
    expect(await ok('lease_release', { name: 'deploy', token: grant.token })).toEqual({ name: 'deploy', released: true });
    const next = await ok('lease_acquire', { name: 'deploy', holder: 'agent-2', ttlMs: 1000 });
    expect(next.token as number).toBeGreaterThan(grant.token as number);
  });

  it('a lease held by another is refused with who holds it, until when, and when to try again', async () => {
    const grant = await ok('lease_acquire', { name: 'deploy', holder: 'agent-2', ttlMs: 4200 });
    const result = await call('lease_acquire', { name: 'deploy', holder: 'agent-1', ttlMs: 1000 });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe(
      `lease "deploy" is held by "agent-2" (token ${grant.token}) until 2030-01-01T00:00:04.200Z (in 4.2 s); nothing changed. Call lease_acquire again after that, or do other work meanwhile.`,
    );
    expect(result.structuredContent).toEqual({ error: 'lease_held' });
    // After that, it is free: the next grant has a larger token.
    cluster.advance(4300);
    const mine = await ok('lease_acquire', { name: 'deploy', holder: 'agent-1', ttlMs: 1000 });
    expect(mine.token as number).toBeGreaterThan(grant.token as number);
  });

  it('renewing a lease that expired and went to another says it is lost, who has it, and to stop acting as its holder', async () => {
    const old = await ok('lease_acquire', { name: 'deploy', holder: 'agent-1', ttlMs: 1000 });
    cluster.advance(1500);
    const taken = await ok('lease_acquire', { name: 'deploy', holder: 'agent-2', ttlMs: 3000 });
    const text = await refused('lease_renew', { name: 'deploy', token: old.token });
    expect(text).toBe(
      `your lease "deploy" is lost: token ${old.token} is stale (lease "deploy" was granted again since (to "agent-2", token ${taken.token})). It is held by "agent-2" (token ${taken.token}) until 2030-01-01T00:00:04.500Z (in 3.0 s). Stop acting as its holder (no more writes fenced with this token); call lease_acquire to take it again.`,
    );
  });

  it('renewing an expired lease nobody took says it is not held and to acquire it again', async () => {
    const old = await ok('lease_acquire', { name: 'deploy', holder: 'agent-1', ttlMs: 1000 });
    cluster.advance(1001);
    const text = await refused('lease_renew', { name: 'deploy', token: old.token });
    expect(text).toMatch(/^your lease "deploy" is lost: token \d+ is stale \(lease "deploy" is not held \(it expired or was released\)\)\. Stop acting as its holder/);
    expect(text).toContain('call lease_acquire to take it again');
  });

  it('releasing twice says there is nothing of yours to release', async () => {
    const grant = await ok('lease_acquire', { name: 'deploy', holder: 'agent-1', ttlMs: 1000 });
    await ok('lease_release', { name: 'deploy', token: grant.token });
    expect(await refused('lease_release', { name: 'deploy', token: grant.token })).toContain('There is nothing of yours to release; stop acting as its holder.');
  });

  it('a write fenced with the lease is made while it is held and refused, writing nothing, once it is lost', async () => {
    const grant = await ok('lease_acquire', { name: 'leader', holder: 'agent-1', ttlMs: 1000 });
    await ok('kv_put', { key: 'plan', value: 'v1', fence: { lease: 'leader', token: grant.token } });
    expect(await ok('kv_cas', { key: 'plan', from: 'v1', to: 'v2', fence: { lease: 'leader', token: grant.token } })).toMatchObject({ ok: true });
    cluster.advance(2000);
    const taken = await ok('lease_acquire', { name: 'leader', holder: 'agent-2', ttlMs: 5000 });
    const text = await refused('kv_put', { key: 'plan', value: 'late', fence: { lease: 'leader', token: grant.token } });
    expect(text).toMatch(/^your fenced write to key "plan" was refused; nothing was written\. your lease "leader" is lost: token \d+ is stale/);
    expect(text).toContain(`It is held by "agent-2" (token ${taken.token})`);
    expect(await refused('kv_cas', { key: 'plan', from: 'v2', to: 'late', fence: { lease: 'leader', token: grant.token } })).toContain('nothing was written');
    expect(await ok('kv_get', { key: 'plan' })).toMatchObject({ value: 'v2' });
  });
});

describe('tasks', () => {
  it('task_post → task_claim → task_heartbeat → task_complete runs a task to done', async () => {
    const posted = await ok('task_post', { queue: 'builds', task: { repo: 'x', ref: 'main' }, id: 'build-1' });
    expect(posted).toEqual({ queue: 'builds', id: 'build-1', index: expect.any(Number), duplicate: false });
    expect(await ok('task_post', { queue: 'builds', task: { repo: 'x', ref: 'main' }, id: 'build-1' })).toMatchObject({ id: 'build-1', duplicate: true });
    const claim = await ok('task_claim', { queue: 'builds', worker: 'worker-1', ttlMs: 2000 });
    expect(claim).toEqual({
      claimed: true,
      id: 'build-1',
      queue: 'builds',
      task: { repo: 'x', ref: 'main' },
      worker: 'worker-1',
      token: expect.any(Number),
      expiresAt: START + 2000,
      expiresAtIso: '2030-01-01T00:00:02.000Z',
      attempt: 1,
    });
    cluster.advance(1500);
    expect(await ok('task_heartbeat', { id: 'build-1', token: claim.token, ttlMs: 3000 })).toEqual({
      id: 'build-1',
      token: claim.token,
      expiresAt: START + 4500,
      expiresAtIso: '2030-01-01T00:00:04.500Z',
    });
    await ok('kv_put', { key: 'results/build-1', value: 'green', fence: { task: 'build-1', token: claim.token } });
    expect(await ok('task_complete', { id: 'build-1', token: claim.token, result: { status: 'green' } })).toEqual({ id: 'build-1', state: 'done' });
    expect(await cluster.tasks.get('build-1')).toMatchObject({ state: 'done', result: { status: 'green' } });
  });

  it('task_claim on an empty queue is not an error: claimed false, with when to try again', async () => {
    expect(await ok('task_claim', { queue: 'empty', worker: 'w', ttlMs: 1000 })).toEqual({
      claimed: false,
      queue: 'empty',
      hint: 'queue "empty" has no queued task now; call task_claim again later',
    });
  });

  it('a claim that expired and went to another worker is stale: do not complete it, claim another', async () => {
    await ok('task_post', { queue: 'q', task: 'work', id: 'job' });
    const mine = await ok('task_claim', { queue: 'q', worker: 'worker-1', ttlMs: 1000 });
    cluster.advance(1500);
    const theirs = await ok('task_claim', { queue: 'q', worker: 'worker-2', ttlMs: 10_000 });
    expect(theirs).toMatchObject({ id: 'job', attempt: 2 });
    const text = await refused('task_complete', { id: 'job', token: mine.token, result: 'late' });
    expect(text).toBe(
      `your claim on task "job" is stale (token ${mine.token}): task "job" was claimed again since (by "worker-2", token ${theirs.token}). Another worker, "worker-2", holds it now (token ${theirs.token}) until 2030-01-01T00:00:11.500Z (in 10.0 s). Do not complete it or write its results; claim another with task_claim.`,
    );
    expect(await refused('task_heartbeat', { id: 'job', token: mine.token })).toContain('your claim on task "job" is stale');
    expect(await refused('task_fail', { id: 'job', token: mine.token, reason: 'gave up' })).toContain('claim another with task_claim');
    const fenced = await refused('kv_put', { key: 'results/job', value: 'late', fence: { task: 'job', token: mine.token } });
    expect(fenced).toMatch(/^your fenced write to key "results\/job" was refused; nothing was written\. your claim on task "job" is stale/);
    expect(await ok('kv_get', { key: 'results/job' })).toEqual({ key: 'results/job', found: false });
    expect(await cluster.tasks.get('job')).toMatchObject({ state: 'claimed', claim: { worker: 'worker-2' } });
  });

  it('completing a task twice says it is already done', async () => {
    await ok('task_post', { queue: 'q', task: 1, id: 'once' });
    const claim = await ok('task_claim', { queue: 'q', worker: 'w', ttlMs: 1000 });
    await ok('task_complete', { id: 'once', token: claim.token });
    expect(await refused('task_complete', { id: 'once', token: claim.token })).toContain('task "once" is already done');
  });

  it('task_fail puts a task back while attempts remain, dead-letters it with retry false or none left', async () => {
    await ok('task_post', { queue: 'q', task: 1, id: 'flaky', maxAttempts: 2 });
    const first = await ok('task_claim', { queue: 'q', worker: 'w', ttlMs: 1000 });
    expect(await ok('task_fail', { id: 'flaky', token: first.token, reason: 'timeout' })).toEqual({ id: 'flaky', state: 'queued' });
    const second = await ok('task_claim', { queue: 'q', worker: 'w', ttlMs: 1000 });
    expect(second).toMatchObject({ id: 'flaky', attempt: 2 });
    expect(await ok('task_fail', { id: 'flaky', token: second.token, reason: 'timeout' })).toEqual({ id: 'flaky', state: 'dead' });
    await ok('task_post', { queue: 'q', task: 2, id: 'bad' });
    const claim = await ok('task_claim', { queue: 'q', worker: 'w', ttlMs: 1000 });
    expect(await ok('task_fail', { id: 'bad', token: claim.token, reason: 'malformed', retry: false })).toEqual({ id: 'bad', state: 'dead' });
  });

  it('an unknown task id says to check the id', async () => {
    expect(await refused('task_heartbeat', { id: 'nope', token: 5 })).toBe(
      'no task "nope": nothing changed. Check the task id (task_post returns it; task_claim gives it with the claim).',
    );
  });
});

describe('errors of the cluster itself', () => {
  it('no leader: retry in a few seconds', async () => {
    cluster.failWith = new NotLeaderError(undefined);
    const result = await call('kv_get', { key: 'a' });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/^not_leader: .*The cluster has no leader right now .*Retry in a few seconds; cluster_status shows the nodes\.$/);
    expect(result.structuredContent).toEqual({ error: 'not_leader' });
  });

  it('an unknown outcome: how to find out, or whether repeating is safe, for the tool called', async () => {
    cluster.failWith = new OutcomeUnknownError('the leader did not answer');
    expect(await refused('kv_put', { key: 'a', value: 1 })).toMatch(/^outcome_unknown: .*may or may not have been applied\. Read the key \(kv_get\) before you repeat it\.$/);
    expect(await refused('task_claim', { queue: 'q', worker: 'w', ttlMs: 1000 })).toMatch(/a claim made unseen expires after its ttlMs and its task goes back to the queue\.$/);
  });

  it('a refused token: retrying will not help', async () => {
    cluster.failWith = new RaftError('unauthorized', 'missing bearer token');
    expect(await refused('cluster_status')).toMatch(/--token is missing or wrong.*retrying will not help/);
  });

  it('an unexpected error is reported, not thrown through the protocol', async () => {
    cluster.failWith = new Error('boom');
    expect(await refused('lease_acquire', { name: 'l', holder: 'a', ttlMs: 1000 })).toBe(
      'internal error in lease_acquire: boom. Check with cluster_status; retrying may not help.',
    );
  });
});

describe('the mcp command', () => {
  it('is registered with --peers and --token', () => {
    const mcp = buildProgram().commands.find((c) => c.name() === 'mcp');
    expect(mcp?.options.map((o) => o.long)).toEqual(['--peers', '--token']);
  });

  it('over a connect() without leases and tasks, the KV tools work and the others fail at call time, fenced writes included', async () => {
    const flat = {
      get: cluster.kv.get,
      put: cluster.kv.put,
      cas: cluster.kv.cas,
      list: cluster.kv.list,
      status: () => cluster.status(),
    };
    const old = await open(mcpClientOf(flat), () => cluster.time);
    try {
      expect((await old.listTools()).tools).toHaveLength(MCP_TOOL_NAMES.length);
      const put = (await old.callTool({ name: 'kv_put', arguments: { key: 'a', value: 1 } })) as CallToolResult;
      expect(put.isError).toBeFalsy();
      const lease = (await old.callTool({ name: 'lease_acquire', arguments: { name: 'l', holder: 'a', ttlMs: 1000 } })) as CallToolResult;
      expect(lease.isError).toBe(true);
      expect(textOf(lease)).toMatch(/^not_supported: leases need a connect\(\) with leases and tasks/);
      const fenced = (await old.callTool({ name: 'kv_put', arguments: { key: 'a', value: 2, fence: { lease: 'l', token: 1 } } })) as CallToolResult;
      expect(textOf(fenced)).toMatch(/^not_supported: fenced writes need/);
      expect(await cluster.kv.get('a')).toEqual({ found: true, value: 1 });
    } finally {
      await old.close();
    }
  });

  it('over a connect() with leases and tasks, the client is used as it is', () => {
    expect(mcpClientOf(cluster).leases).toBe(cluster.leases);
  });
});
