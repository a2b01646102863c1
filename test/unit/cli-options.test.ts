/**
 * The command line's and the node server's small rules, without processes: flags that are
 * refused (a duration without a unit, a picture format chart does not write, a heartbeat too
 * close to the election timeout, --listen that is not the node's own --peers entry), peers given
 * as host:port or id=host:port alike, sim progress per 10%, one-line start-up errors, the client
 * token compared as a whole, a follower that stops naming a leader it no longer hears, and a
 * forward that could not connect being safe to retry.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runChart } from '../../src/cli/chart.js';
import { checkNodeConfig, startError, timingError, type NodeCommandOptions } from '../../src/cli/node.js';
import { parseAddresses, parseDuration, parsePeers } from '../../src/cli/parse.js';
import { runSimCommand } from '../../src/cli/sim.js';
import { NotLeaderError, OutcomeUnknownError } from '../../src/errors.js';
import { KvStateMachine } from '../../src/kv/state-machine.js';
import { forwardOrReject } from '../../src/runtime/forwarding.js';
import type { NodeStatus } from '../../src/runtime/raft-node.js';
import { bearerMatches } from '../../src/server/auth.js';
import { LeaderContact } from '../../src/server/leader-contact.js';
import type { Transport } from '../../src/transport/transport.js';

const nodeOptions = (overrides: Partial<NodeCommandOptions>): NodeCommandOptions => ({
  listen: { host: '127.0.0.1', port: 7001 },
  peers: { n1: '127.0.0.1:7001', n2: '127.0.0.1:7002', n3: '127.0.0.1:7003' },
  data: '/tmp/unused',
  electionTimeout: [150, 300],
  heartbeat: 50,
  bodyLimit: 1 << 20,
  logLevel: 'info',
  ...overrides,
});

describe('CLI flags', () => {
  it('a duration needs a unit: "5" is refused, not read as 5 ms', () => {
    expect(() => parseDuration('5')).toThrow(/needs a unit: 5s, 5ms or 5m/);
    expect(parseDuration('5s')).toBe(5000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('2m')).toBe(120_000);
  });

  it('peers may be host:port or id=host:port alike; host:port entries are named n1, n2, … by position', () => {
    expect(parsePeers('127.0.0.1:7001,127.0.0.1:7002')).toEqual({ n1: '127.0.0.1:7001', n2: '127.0.0.1:7002' });
    expect(parsePeers('a=127.0.0.1:7001,b=127.0.0.1:7002')).toEqual({ a: '127.0.0.1:7001', b: '127.0.0.1:7002' });
    expect(parsePeers('n1=127.0.0.1:7001,127.0.0.1:7002')).toEqual({ n1: '127.0.0.1:7001', n2: '127.0.0.1:7002' });
    expect(() => parsePeers('n2=127.0.0.1:7001,127.0.0.1:7002')).toThrow(/appears twice.*named by its position/);
    expect(parseAddresses('n1=127.0.0.1:7001,127.0.0.1:7002')).toEqual(['127.0.0.1:7001', '127.0.0.1:7002']);
    expect(() => parseAddresses('nowhere')).toThrow(/host:port/);
  });

  it('chart refuses an output file of a format it does not write, instead of writing SVG into it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xstate-raft-chart-'));
    try {
      for (const [options, pattern] of [
        [{ output: join(dir, 'x.png') }, /not png/],
        [{ output: join(dir, 'x.pdf'), format: 'svg' as const }, /not pdf/],
        [{ output: join(dir, 'x.txt') }, /cannot tell the chart format/],
        [{ output: join(dir, 'x.svg'), format: 'dot' as const }, /does not match/],
      ] as const) {
        const errors: string[] = [];
        expect(
          runChart(
            options,
            () => undefined,
            (line) => errors.push(line),
          ),
        ).toBe(2);
        expect(errors.join('\n')).toMatch(pattern);
      }
      expect(runChart({ output: join(dir, 'x.mmd') }, () => undefined)).toBe(0);
      expect(runChart({ output: join(dir, 'x.txt'), format: 'mermaid' }, () => undefined)).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('sim reports progress once per 10% of the seeds, and never for a batch under 10', async () => {
    const lines: string[] = [];
    const base = { seed: 1, nodes: 3, duration: 300, faults: [], clients: 1 };
    expect(await runSimCommand({ ...base, seeds: 20, progress: (line) => lines.push(line) }, () => undefined)).toBe(0);
    expect(lines).toHaveLength(10);
    expect(lines[0]).toMatch(/^sim: 10% — 2\/20 seeds, 0 failed so far$/);
    expect(lines[9]).toMatch(/^sim: 100% — 20\/20 seeds/);
    const few: string[] = [];
    await runSimCommand({ ...base, seeds: 3, progress: (line) => few.push(line) }, () => undefined);
    expect(few).toEqual([]);
  }, 60_000);
});

describe('node configuration, checked before anything starts', () => {
  it("--listen must be the node's own entry in --peers", () => {
    expect(checkNodeConfig(nodeOptions({ id: 'n1' }))).toEqual({ id: 'n1' });
    const wrong = checkNodeConfig(nodeOptions({ id: 'n2' }));
    expect('error' in wrong && wrong.error).toMatch(/--listen 127\.0\.0\.1:7001 is not n2's own entry in --peers \(n2=127\.0\.0\.1:7002\)/);
    // A wildcard listens on the peer's address too; localhost is 127.0.0.1.
    expect(checkNodeConfig(nodeOptions({ id: 'n1', listen: { host: '0.0.0.0', port: 7001 } }))).toEqual({ id: 'n1' });
    expect(checkNodeConfig(nodeOptions({ id: 'n1', listen: { host: 'localhost', port: 7001 } }))).toEqual({ id: 'n1' });
  });

  it('without --id, the node is the entry of --peers it listens on', () => {
    expect(checkNodeConfig(nodeOptions({ listen: { host: '127.0.0.1', port: 7003 } }))).toEqual({ id: 'n3' });
    const none = checkNodeConfig(nodeOptions({ listen: { host: '127.0.0.1', port: 7009 } }));
    expect('error' in none && none.error).toMatch(/--id is missing and no entry of --peers/);
    const unknown = checkNodeConfig(nodeOptions({ id: 'n9' }));
    expect('error' in unknown && unknown.error).toMatch(/--id n9 is not in --peers/);
  });

  it('--join is for a new server: it needs --id, and neither goes with --peers nor is replaced by nothing', () => {
    const joining = nodeOptions({ id: 'n4', listen: { host: '127.0.0.1', port: 7004 }, join: '127.0.0.1:7001' });
    delete joining.peers;
    expect(checkNodeConfig(joining)).toEqual({ id: 'n4' });
    const both = checkNodeConfig({ ...joining, peers: { n1: '127.0.0.1:7001' } });
    expect('error' in both && both.error).toMatch(/--join and --peers .* do not go together/);
    const anonymous = checkNodeConfig({ ...joining, id: undefined } as NodeCommandOptions);
    expect('error' in anonymous && anonymous.error).toMatch(/--join needs --id/);
    const nowhere = checkNodeConfig({ ...joining, join: 'nowhere' });
    expect('error' in nowhere && nowhere.error).toMatch(/--join nowhere: expected the host:port of a member/);
    const { join: _join, ...neither } = joining;
    const missing = checkNodeConfig(neither);
    expect('error' in missing && missing.error).toMatch(/give --peers .* or --join/);
    const badCluster = checkNodeConfig({ ...joining, clusterId: 'a cluster' });
    expect('error' in badCluster && badCluster.error).toMatch(/--cluster-id a cluster/);
  });

  it('the heartbeat must be at most a third of the shortest election timeout', () => {
    expect(timingError([150, 300], 50)).toBeUndefined();
    expect(timingError([150, 300], 51)).toMatch(/at most a third of the minimum \(50 ms here\)/);
    expect(timingError([1000, 2000], 400)).toMatch(/333 ms/);
    const checked = checkNodeConfig(nodeOptions({ id: 'n1', heartbeat: 100 }));
    expect('error' in checked && checked.error).toMatch(/^error: --heartbeat 100 is too close/);
  });

  it('a start-up failure is one line that says what to do, never a stack', () => {
    const inUse = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:7001'), { code: 'EADDRINUSE', syscall: 'listen' });
    const line = startError(inUse, { listen: { host: '127.0.0.1', port: 7001 }, data: '/d' });
    expect(line).toMatch(/^error: cannot listen on 127\.0\.0\.1:7001: the address is in use; .*choose another --listen port/);
    const multi = new Error('first line\n    at somewhere (file.js:1:1)');
    expect(startError(multi, { listen: { host: '127.0.0.1', port: 1 }, data: '/d' })).toBe('error: first line');
  });
});

describe('node server rules', () => {
  it('the client token must match as a whole Bearer value', () => {
    expect(bearerMatches('Bearer s3cret', 's3cret')).toBe(true);
    expect(bearerMatches('Bearer s3cre', 's3cret')).toBe(false);
    expect(bearerMatches('Bearer s3cretX', 's3cret')).toBe(false);
    expect(bearerMatches('s3cret', 's3cret')).toBe(false);
    expect(bearerMatches(undefined, 's3cret')).toBe(false);
    expect(bearerMatches('Bearer ', '')).toBe(true);
  });

  it('a follower stops naming a leader it has not heard from within an election timeout', () => {
    let now = 1000;
    let status: NodeStatus = { id: 'n2', role: 'follower', term: 3, leaderId: 'n1', commitIndex: 0, lastApplied: 0, lastLogIndex: 0 } as NodeStatus;
    const listeners: ((payload: { leaderId: string | null; term: number }) => void)[] = [];
    const node = {
      id: 'n2',
      status: () => status,
      on: (event: string, listener: (payload: { leaderId: string | null; term: number }) => void) => {
        if (event === 'leader') listeners.push(listener);
        return () => undefined;
      },
    };
    const contact = new LeaderContact(node as never, 300, () => now);
    // Named by the machine, never heard in this process: not a live leader.
    expect(contact.view().leaderId).toBeNull();
    for (const l of listeners) l({ leaderId: 'n1', term: 3 });
    expect(contact.view()).toEqual({ leaderId: 'n1', lastLeaderContactMs: 0 });
    now += 300;
    expect(contact.view().leaderId).toBe('n1');
    now += 1;
    expect(contact.view()).toEqual({ leaderId: null, lastLeaderContactMs: 301 });
    // Answering the leader's AppendEntries of this term is hearing from it; another term's is not.
    const reply = (to: string, requestTerm: number) => ({ type: 'send', to, message: { type: 'rpc.appendEntriesResult', term: 3, requestTerm } }) as never;
    contact.observe(reply('n1', 2));
    expect(contact.view().leaderId).toBeNull();
    contact.observe(reply('n1', 3));
    expect(contact.view().leaderId).toBe('n1');
    // A new term without a contact in it: no leader, whatever the machine names.
    status = { ...status, term: 4 };
    expect(contact.view().leaderId).toBeNull();
    status = { ...status, role: 'leader', leaderId: 'n2' };
    expect(contact.view().leaderId).toBe('n2');
  });

  it('a write that could not be forwarded because the connection was refused is NotLeaderError (safe to retry), not outcome unknown', async () => {
    const failing = (error: Error) => ({ request: () => Promise.reject(error), addressOf: () => undefined }) as unknown as Transport;
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:7001'), { code: 'ECONNREFUSED' });
    const context = { self: 'n2', leader: 'n1', forwardToLeader: undefined };
    await expect(forwardOrReject({ type: 'propose', command: 1 }, { ...context, transport: failing(refused) })).rejects.toBeInstanceOf(NotLeaderError);
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    await expect(forwardOrReject({ type: 'propose', command: 1 }, { ...context, transport: failing(reset) })).rejects.toBeInstanceOf(OutcomeUnknownError);
  });

  it('the KV list query pages through sorted keys with their values', () => {
    const kv = new KvStateMachine();
    let index = 1;
    for (const key of ['tasks/b', 'tasks/a', 'other', 'tasks/c']) kv.apply({ type: 'put', key, value: key.toUpperCase() }, { index: index++, term: 1, command: null });
    expect(kv.query({ type: 'list', prefix: 'tasks/', limit: 2 })).toEqual({
      entries: [
        { key: 'tasks/a', value: 'TASKS/A' },
        { key: 'tasks/b', value: 'TASKS/B' },
      ],
      more: true,
    });
    expect(kv.query({ type: 'list', prefix: 'tasks/', after: 'tasks/b', limit: 2 })).toEqual({ entries: [{ key: 'tasks/c', value: 'TASKS/C' }], more: false });
    expect(kv.query({ type: 'list', limit: 0 })).toMatchObject({ ok: false, reason: 'invalid_query' });
  });
});
