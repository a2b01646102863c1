/**
 * Membership across real processes (issue 11's process test): three `xstate-raft node` processes
 * over HTTP with a cluster secret take writes the whole time while a fourth, started empty with
 * `--join`, is added as a learner (`xstate-raft member add --learner`) and promoted (`member
 * promote`), and then the original leader is removed (`member remove`). Every acknowledged write
 * is read back at the end through the new leader (GET /kv pages: linearizable reads);
 * `xstate-raft member list` shows the new configuration; a voter restarted with its original
 * --peers takes its configuration from its log. Ports are chosen at run time, deadlines are
 * generous, and every process is stopped, also when the test fails.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ClusterProcesses, freePorts, http, sleep, type HttpReply } from './processes.js';

const SECRET = 'membership-processes-secret';
const auth = { authorization: `Bearer ${SECRET}` };
const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
/** Writers in flight at once (each a client with its own id, so a retried write is applied once). */
const WRITERS = 8;

let c: ClusterProcesses | undefined;
afterAll(async () => {
  await c?.cleanup();
});

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, XSTATE_RAFT_SECRET: SECRET }, timeout: 180_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function status(address: string): Promise<Record<string, unknown> | undefined> {
  try {
    return (await http(address, 'GET', '/status')).body;
  } catch {
    return undefined;
  }
}

/** The leader every node in `addresses` names, once they agree (among the voters they list). */
async function agreedLeader(addresses: readonly string[], timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const statuses = await Promise.all(addresses.map(status));
    const leader = statuses.find((s) => s?.role === 'leader')?.id as string | undefined;
    if (leader !== undefined && statuses.every((s) => s?.leaderId === leader)) return leader;
    await sleep(100);
  }
  throw new Error(`no agreed leader among ${addresses.join(', ')} within ${timeoutMs} ms\n${c?.dump()}`);
}

/**
 * Writers that PUT w<n> = n until told to stop, through `addresses()` in turn. A write that finds
 * no leader (503), times out with its outcome unknown (504) or loses its connection is retried
 * with the same client id and sequence number (applied once); only a 200 is an acknowledgement.
 */
function startWriters(addresses: () => readonly string[]) {
  const acknowledged = new Map<string, number>();
  let next = 0;
  let stopped = false;
  const writer = async (w: number) => {
    const headers = { ...auth, 'x-client-id': `membership-writer-${w}` };
    for (let seq = 1; !stopped; seq++) {
      const n = next++;
      const deadline = Date.now() + 120_000;
      let last: HttpReply | string | undefined;
      for (let attempt = 0; ; attempt++) {
        if (Date.now() > deadline) throw new Error(`w${n} was not acknowledged in 120 s (last: ${JSON.stringify(last)})\n${c?.dump()}`);
        const list = addresses();
        try {
          const reply = await http(list[(n + attempt) % list.length] as string, 'PUT', `/kv/w${n}`, { value: n }, { ...headers, 'x-request-seq': String(seq) });
          if (reply.status === 200) {
            acknowledged.set(`w${n}`, n);
            break;
          }
          if (reply.status !== 503 && reply.status !== 504) throw new Error(`w${n}: ${reply.status} ${JSON.stringify(reply.body)}`);
          last = reply;
        } catch (error) {
          if (error instanceof Error && error.message.startsWith(`w${n}:`)) throw error;
          last = error instanceof Error ? error.message : String(error);
        }
        await sleep(50);
      }
    }
  };
  const done = Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
  return {
    acknowledged,
    count: () => acknowledged.size,
    stop: async () => {
      stopped = true;
      await done;
    },
  };
}

/** Every w… key through `address` (GET /kv pages: linearizable reads through the leader). */
async function readAll(address: string): Promise<Map<string, unknown>> {
  const values = new Map<string, unknown>();
  let after: string | undefined;
  for (;;) {
    const query = new URLSearchParams({ prefix: 'w', limit: '1000', ...(after !== undefined ? { after } : {}) });
    const page = await http(address, 'GET', `/kv?${query}`, undefined, auth);
    expect(page.status, JSON.stringify(page.body)).toBe(200);
    for (const { key, value } of page.body.entries as { key: string; value: unknown }[]) values.set(key, value);
    if (!page.body.more) return values;
    after = page.body.next as string;
  }
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms\n${c?.dump()}`);
    await sleep(100);
  }
}

describe('membership on a cluster of processes under writes', () => {
  it('a server joins, is added as a learner and promoted, the original leader is removed; every acknowledged write survives', { timeout: 600_000 }, async () => {
    c = await ClusterProcesses.create({ size: 3, secret: SECRET });
    const cluster = c;
    cluster.startAll();
    const first = await agreedLeader(cluster.addresses);
    const [n4Port] = (await freePorts(1)) as [number];
    const n4Address = `127.0.0.1:${n4Port}`;
    let voters = ['n1', 'n2', 'n3'];
    const writers = startWriters(() => voters.map((id) => cluster.cluster.address(id)));
    await until('writes flowing', async () => writers.count() >= 200);

    // A new, empty server: it asks a follower for the cluster and waits to be added.
    const follower = cluster.ids.find((id) => id !== first) as string;
    cluster.cluster.join('n4', n4Port, cluster.address(follower));
    await until('n4 answering', async () => (await http(n4Address, 'GET', '/health').catch(() => undefined))?.status === 200);
    const waiting = await http(n4Address, 'GET', '/admin/members', undefined, auth);
    expect(waiting.body).toMatchObject({ voters: [], learners: [], leaderId: null });
    const peers = cluster.addresses.join(',');

    // Added as a learner through any node (the CLI follows the follower's answer to the leader).
    const added = await cli('member', 'add', 'n4', '--address', n4Address, '--learner', '--peers', cluster.address(follower));
    expect(added.code, `${added.stdout}${added.stderr}\n${cluster.dump()}`).toBe(0);
    expect(added.stdout).toMatch(/^ok: n4 added as a learner at index \d+/m);
    expect(added.stdout).toMatch(/^n4\s+learner\s+127\.0\.0\.1:\d+/m);
    const learnerCount = writers.count();
    await until('writes going on while n4 is a learner', async () => writers.count() >= learnerCount + 100);

    const promoted = await cli('member', 'promote', 'n4', '--peers', peers);
    expect(promoted.code, `${promoted.stdout}${promoted.stderr}\n${cluster.dump()}`).toBe(0);
    expect(promoted.stdout).toMatch(/^ok: n4 promoted to voter at index \d+/m);
    expect(promoted.stdout).toMatch(/^n4\s+voter\s+/m);
    voters = ['n1', 'n2', 'n3', 'n4'];
    const promotedCount = writers.count();
    await until('writes going on with four voters', async () => writers.count() >= promotedCount + 100);

    // The original leader goes (it hands leadership over once its removal is committed).
    // If an election moved leadership meanwhile, hand it back first (the CLI's transfer-leadership),
    // so that the server removed is the original leader and the leader at the time.
    for (let attempt = 1; (await agreedLeader(voters.map((id) => cluster.cluster.address(id)))) !== first; attempt++) {
      const back = await cli('transfer-leadership', '--to', first, '--peers', peers);
      if (back.code === 0) expect(back.stdout).toMatch(new RegExp(`^ok: ${first} leads in term \\d+`, 'm'));
      else if (attempt >= 5) throw new Error(`transfer-leadership --to ${first} kept failing: ${back.stdout}${back.stderr}\n${cluster.dump()}`);
    }
    const removed = await cli('member', 'remove', first, '--peers', peers);
    expect(removed.code, `${removed.stdout}${removed.stderr}\n${cluster.dump()}`).toBe(0);
    expect(removed.stdout).toMatch(new RegExp(`^ok: ${first} removed at index \\d+`, 'm'));
    voters = voters.filter((id) => id !== first);
    const next = await agreedLeader(voters.map((id) => cluster.cluster.address(id)));
    expect(voters).toContain(next);
    const removedCount = writers.count();
    await until('writes going on after the removal', async () => writers.count() >= removedCount + 100);
    await writers.stop();

    // Every acknowledged write, read back linearizably through the new configuration.
    const values = await readAll(cluster.cluster.address(next));
    const lost = [...writers.acknowledged].filter(([key, value]) => values.get(key) !== value);
    expect(lost, `acknowledged writes missing or wrong: ${lost.slice(0, 10).map(([k]) => k)}`).toEqual([]);
    expect(writers.acknowledged.size).toBeGreaterThan(500);

    const list = await cli('member', 'list', '--peers', [...cluster.addresses, n4Address].join(','));
    expect(list.code, `${list.stdout}${list.stderr}`).toBe(0);
    const rows = list.stdout.split('\n').filter((line) => /^n\d\s/.test(line));
    expect(rows.map((line) => line.split(/\s+/).slice(0, 2).join(' ')).sort()).toEqual(voters.map((id) => `${id} voter`).sort());
    expect(list.stdout).toMatch(new RegExp(`leader ${next}`));
    expect(list.stdout).not.toMatch(new RegExp(`^${first}\\s`, 'm'));

    // A voter restarted with its original --peers (n1, n2, n3) takes its configuration from its log.
    const restarted = voters.find((id) => id !== next && id !== 'n4') as string;
    await cluster.cluster.restart(restarted);
    await until(`${restarted} back with the configuration of its log`, async () => {
      const s = await status(cluster.address(restarted));
      return s?.leaderId === next && JSON.stringify([...((s.voters as string[]) ?? [])].sort()) === JSON.stringify([...voters].sort());
    });
    const members = await http(cluster.address(restarted), 'GET', '/admin/members', undefined, auth);
    expect(members.body).toMatchObject({ learners: [], leaderId: next });
    expect([...(members.body.voters as string[])].sort()).toEqual([...voters].sort());
    expect(members.body.clusterId).toBe(waiting.body.clusterId);
  });
});
