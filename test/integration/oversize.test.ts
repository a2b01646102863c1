/**
 * Entries larger than a peer message may carry. The leader caps each AppendEntries by bytes as
 * well as by count (maxBytesPerMessage), so two 12 kB commands under a 20 kB body limit travel in
 * separate messages and commit (regression: they once went together, every follower answered 413,
 * and the writes never committed). And the client API refuses up front a command that could
 * never fit one peer message.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { clientApi } from '../../src/server/client-api.js';
import { NodeMetrics } from '../../src/server/metrics.js';
import type { NodeId } from '../../src/core/types.js';
import { createRaftNode, type RaftNode } from '../../src/runtime/raft-node.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { HttpTransport } from '../../src/transport/http.js';

const nodes: RaftNode[] = [];
const transports: HttpTransport[] = [];
afterEach(async () => {
  for (const n of nodes.splice(0)) n.stop();
  await Promise.all(transports.splice(0).map((t) => t.stop()));
});

async function waitFor(condition: () => boolean, timeout: number): Promise<boolean> {
  const deadline = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

describe('entries larger than a peer message', () => {
  it('two 12 kB commands under a 20 kB body limit go in separate messages and commit', async () => {
    const ids = ['n1', 'n2', 'n3'];
    const errors: string[] = [];
    const applied: Record<NodeId, number> = { n1: 0, n2: 0, n3: 0 };
    for (const id of ids) {
      const t = new HttpTransport({
        id,
        listen: { host: '127.0.0.1', port: 0 },
        peers: Object.fromEntries(ids.map((p) => [p, '127.0.0.1:0'])),
        bodyLimit: 20_000,
        onError: (e, ctx) => errors.push(`${ctx}: ${(e as Error).message}`),
      });
      await t.listen();
      transports.push(t);
    }
    for (const t of transports) for (const [i, id] of ids.entries()) t.setPeerAddress(id, (transports[i] as HttpTransport).address);
    for (const [i, id] of ids.entries()) {
      nodes.push(
        createRaftNode({
          id,
          peers: ids,
          transport: transports[i] as HttpTransport,
          storage: new MemoryStorage(),
          stateMachine: { apply: () => (applied[id] = (applied[id] ?? 0) + 1), query: () => null },
          random: i + 1,
          electionTimeout: [300, 600],
          heartbeatInterval: 50,
          proposalTimeout: 3000,
          maxBytesPerMessage: 10_000, // what the node server derives from a 20 kB body limit
        }),
      );
    }
    expect(await waitFor(() => nodes.some((n) => n.status().role === 'leader'), 10_000)).toBe(true);
    const leader = nodes.find((n) => n.status().role === 'leader') as RaftNode;
    // A small command commits fine.
    await expect(leader.propose('small')).resolves.toMatchObject({ result: 1 });

    // Two proposals in the same turn: one client.propose, one AppendEntries with both entries.
    const big = (c: string) => c.repeat(12_000);
    const outcomes = await Promise.allSettled([leader.propose(big('a')), leader.propose(big('b'))]);
    const committedAnywhere = nodes.some((n) => n.status().commitIndex > 2);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(committedAnywhere).toBe(true);
    expect(errors.filter((e) => /413/.test(e))).toEqual([]);
  }, 30_000);

  it('the client API refuses with 413 a value too large to replicate in one peer message, and proposes nothing', async () => {
    const proposed: unknown[] = [];
    const node = {
      id: 'n1',
      status: () => ({ role: 'leader' }),
      propose: async (c: unknown) => (proposed.push(c), { index: 1, term: 1, result: { ok: true, index: 1 } }),
      on: () => () => {},
    };
    const metrics = new NodeMetrics(node as never);
    const api = clientApi({ node: node as never, metrics, bodyLimit: 20_000, maxCommandBytes: 8_976 });
    const server = createServer((req, res) => void api(req, res, new URL(req.url ?? '/', 'http://x')));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const put = (value: string) => fetch(`http://127.0.0.1:${port}/kv/k`, { method: 'PUT', body: JSON.stringify({ value }) });
      expect((await put('x'.repeat(15_000))).status).toBe(413);
      expect(proposed).toEqual([]);
      expect((await put('small')).status).toBe(200);
      expect(proposed).toHaveLength(1);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
