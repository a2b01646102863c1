/**
 * What a client is told when the node it asked stops: a proposal already in the log may still
 * commit, so it must hear "outcome unknown" (504), never "stopped, safe to retry" (regression: it
 * was told StoppedError → 503 retry and could apply a write twice). Errors a leader returns to a
 * forwarding follower keep their meaning too (regression: they became 400).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { OutcomeUnknownError, ReadTimeoutError, StoppedError } from '../../src/errors.js';
import { clientApi, type KvRaftNode } from '../../src/server/client-api.js';
import { NodeMetrics } from '../../src/server/metrics.js';
import { Simulation } from '../../src/sim/simulation.js';

describe('answers when a node stops or a leader fails a forwarded request', () => {
  it('a proposal that the rest of the cluster commits is answered outcome unknown, not StoppedError', async () => {
    const sim = new Simulation({ nodes: 3, seed: 11 });
    sim.runUntil(() => sim.leader() !== undefined, { timeout: 5000 });
    sim.run(300);
    const leader = sim.leader() as string;
    const followers = sim.ids.filter((id) => id !== leader);
    const outcome = (sim.node(leader)?.propose('write-once') as Promise<unknown>).then(
      () => 'resolved',
      (e: unknown) => (e instanceof StoppedError ? 'StoppedError' : String(e)),
    );
    // Deliver the AppendEntries, lose the acknowledgements, then stop the leader cleanly.
    for (const f of followers) sim.network.block(f, leader);
    for (let t = 0; t < 20; t++) {
      sim.run(1);
      await new Promise((resolve) => setImmediate(resolve));
    }
    sim.node(leader)?.stop({ flush: true });
    const answer = await outcome;
    sim.heal();
    const committed = sim.runUntil(() => followers.every((f) => sim.applied(f).some((e) => e.command === 'write-once')), { timeout: 5000 });
    sim.stop();
    expect(committed).toBe(true); // the write did take effect...
    // ...so the answer must say "outcome unknown".
    expect(answer).toMatch(/OutcomeUnknownError|outcome is unknown/);
  }, 30_000);

  it('the client API answers 504 for a write whose outcome is unknown and 503 for a read that could not be served', async () => {
    const node = {
      id: 'n2',
      status: () => ({ id: 'n2', role: 'follower', term: 1, leaderId: 'n1', commitIndex: 0, lastApplied: 0, lastLogIndex: 0 }),
      on: () => () => undefined,
      // What forwardOrReject now makes of a leader's 'stopped' / 'timeout' answers.
      propose: () => Promise.reject(new OutcomeUnknownError('the leader could not finish the proposal (stopped: the node stopped)')),
      read: () => Promise.reject(new ReadTimeoutError(-1, 'the leader could not serve the read (timeout)')),
    } as unknown as KvRaftNode;
    const api = clientApi({ node, metrics: new NodeMetrics(node), bodyLimit: 1 << 20, maxCommandBytes: 1 << 19 });
    const server = http.createServer((req, res) => void api(req, res, new URL(req.url ?? '/', 'http://x')));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const put = await fetch(`http://127.0.0.1:${port}/kv/a`, { method: 'PUT', body: JSON.stringify({ value: 1 }), headers: { connection: 'close' } });
    const get = await fetch(`http://127.0.0.1:${port}/kv/a`, { headers: { connection: 'close' } });
    const bodies = [await put.json(), await get.json()];
    await new Promise((resolve) => server.close(resolve));
    expect(bodies[0]).toMatchObject({ error: 'timeout', outcome: 'unknown' });
    expect(put.status).toBe(504);
    expect(get.status).toBe(503);
  });
});
