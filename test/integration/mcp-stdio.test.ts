/**
 * The MCP server as an MCP client runs it: `xstate-raft mcp --peers …` started over stdio by the
 * SDK's own Client (StdioClientTransport), against a real 3-process cluster. A model's session:
 * list the tools, post a task, claim it, complete it with its token; take a lease and be told,
 * as a tool error, who holds it when another agent asks.
 */
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, describe, expect, it } from 'vitest';
import { ClusterProcesses } from './processes.js';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
let nodes: ClusterProcesses | undefined;
let client: Client | undefined;

afterAll(async () => {
  await client?.close();
  await nodes?.cleanup();
});

function text(result: CallToolResult): string {
  const first = result.content[0];
  return first?.type === 'text' ? first.text : JSON.stringify(result.content);
}

describe('xstate-raft mcp over stdio', () => {
  it('an MCP client claims and completes a task through the tools, and is told who holds a lease', async () => {
    nodes = await ClusterProcesses.create({ size: 3, electionTimeout: '300-600', heartbeat: 100 });
    nodes.startAll();
    await nodes.waitForLeader(60_000);
    client = new Client({ name: 'mcp-stdio-test', version: '0' });
    await client.connect(new StdioClientTransport({ command: process.execPath, args: ['--import', 'tsx', CLI, 'mcp', '--peers', nodes.addresses.join(',')], stderr: 'ignore' }));

    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(
      [
        'cluster_status',
        'kv_cas',
        'kv_get',
        'kv_list',
        'kv_put',
        'lease_acquire',
        'lease_release',
        'lease_renew',
        'task_claim',
        'task_complete',
        'task_fail',
        'task_heartbeat',
        'task_post',
      ].sort(),
    );
    const call = async (name: string, args: Record<string, unknown>) => (await client?.callTool({ name, arguments: args })) as CallToolResult;
    const ok = async (name: string, args: Record<string, unknown>) => {
      const result = await call(name, args);
      expect(result.isError, `${name}: ${text(result)}`).toBeFalsy();
      return JSON.parse(text(result)) as Record<string, unknown>;
    };

    await ok('task_post', { queue: 'reviews', task: { pr: 7 }, id: 'pr-7' });
    const claim = (await ok('task_claim', { queue: 'reviews', worker: 'model-1', ttlMs: 30_000 })) as { claimed: boolean; id: string; token: number };
    expect(claim).toMatchObject({ claimed: true, id: 'pr-7' });
    await ok('task_complete', { id: claim.id, token: claim.token, result: 'looks good' });
    // Completing again with the same token is refused, in words a model can act on.
    const again = await call('task_complete', { id: claim.id, token: claim.token, result: 'twice' });
    expect(again.isError).toBe(true);
    expect(text(again)).toMatch(/already done|stale/);

    await ok('lease_acquire', { name: 'coordinator', holder: 'model-1', ttlMs: 30_000 });
    const held = await call('lease_acquire', { name: 'coordinator', holder: 'model-2', ttlMs: 30_000 });
    expect(held.isError).toBe(true);
    expect(text(held)).toMatch(/held by "model-1"/);
    const status = await ok('cluster_status', {});
    expect(JSON.stringify(status)).toMatch(/leader/);
  }, 180_000);
});
