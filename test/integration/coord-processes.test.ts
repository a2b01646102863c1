/**
 * Exactly once, across real processes: 3 `xstate-raft node` processes (SQLite, fsync on) and 5
 * agent processes (test/integration/agent-process.ts) working one queue over HTTP, while the test
 * kills the leader with SIGKILL (and restarts it), kills agents holding claims with SIGKILL (and
 * starts fresh ones in their place), and stops an agent holding a claim with SIGSTOP for longer
 * than its TTL before letting it go on (it then tries to heartbeat, write and complete with its old
 * token). At the end every task is done, exactly once: no task has two acknowledged completions,
 * each completion was made with the token of the task's last claim, the result each task holds was
 * written under that token, and the paused agent was refused.
 *
 * Bounded: TASKS tasks (default 40), every wait polled with a generous deadline.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/connect.js';
import { ClusterProcesses, sleep } from './processes.js';

const TASKS = Number(process.env.COORD_TASKS ?? 40);
const TTL = 1500;
const WORK = 900;
const AGENT = join(import.meta.dirname, 'agent-process.ts');

interface AgentLine {
  worker: string;
  event: string;
  id?: string;
  token?: number;
  op?: string;
  code?: string;
}

class Agents {
  readonly lines: AgentLine[] = [];
  readonly processes = new Map<string, ChildProcess>();

  start(worker: string, peers: string): void {
    const child = spawn(process.execPath, ['--import', 'tsx', AGENT, worker, peers, String(TTL), String(WORK)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buffered = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          this.lines.push(JSON.parse(line) as AgentLine);
        } catch {
          // not one of ours
        }
      }
    });
    child.stderr?.on('data', () => undefined);
    this.processes.set(worker, child);
  }

  /** A worker holding a claim now (its last claimed line not followed by anything about that claim), and the claim. */
  holding(among: readonly string[]): { worker: string; id: string; token: number } | undefined {
    for (const worker of among) {
      const mine = this.lines.filter((l) => l.worker === worker);
      const last = mine[mine.length - 1];
      if (last?.event === 'claimed' && last.id !== undefined && last.token !== undefined) return { worker, id: last.id, token: last.token };
    }
    return undefined;
  }

  signal(worker: string, signal: NodeJS.Signals): void {
    this.processes.get(worker)?.kill(signal);
  }

  async stopAll(): Promise<void> {
    for (const child of this.processes.values()) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
    await Promise.all([...this.processes.values()].map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
  }
}

let nodes: ClusterProcesses | undefined;
const agents = new Agents();

afterAll(async () => {
  await agents.stopAll();
  await nodes?.cleanup();
});

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('exactly once across processes', () => {
  it(`${TASKS} tasks, 5 agents, kill -9 of the leader and of agents holding claims, SIGSTOP past the TTL`, async () => {
    nodes = await ClusterProcesses.create({ size: 3, electionTimeout: '300-600', heartbeat: 100 });
    nodes.startAll();
    await nodes.waitForLeader(60_000);
    const peers = nodes.addresses.join(',');
    const client = connect({ peers, timeout: 30_000 });
    for (let n = 0; n < TASKS; n++) await client.tasks.post('jobs', { n }, { id: `job-${n}` });

    const live = ['a1', 'a2', 'a3', 'a4', 'a5'];
    for (const worker of live) agents.start(worker, peers);
    const completed = () => agents.lines.filter((l) => l.event === 'completed').length;

    // 1. SIGSTOP an agent while it holds a claim, until its claim has expired and another agent
    // has claimed the task: woken, it carries on with its old token.
    await until('a claim to hold', () => agents.holding(live));
    const paused = agents.holding(live) as NonNullable<ReturnType<Agents['holding']>>;
    agents.signal(paused.worker, 'SIGSTOP');
    await until("the paused agent's task claimed by another", () =>
      agents.lines.some((l) => l.event === 'claimed' && l.id === paused.id && l.worker !== paused.worker) ? true : undefined,
    );
    agents.signal(paused.worker, 'SIGCONT');

    // 2. kill -9 of the leader, restarted a second later.
    await until('a quarter of the tasks', () => (completed() >= TASKS / 4 ? true : undefined));
    const leader = await nodes.waitForLeader(60_000);
    await nodes.signal(leader, 'SIGKILL');
    await sleep(1000);
    nodes.start(leader);

    // 3. kill -9 of two agents holding claims; fresh agents take their places.
    for (const replacement of ['a6', 'a7']) {
      const victim = await until('an agent holding a claim', () => agents.holding(live.filter((w) => w !== paused.worker)));
      agents.signal(victim.worker, 'SIGKILL');
      live.splice(live.indexOf(victim.worker), 1);
      agents.start(replacement, peers);
      live.push(replacement);
    }

    // Every task done (the killed agents' claims expire and are claimed again).
    const view = await until(
      'every task done',
      async () => {
        try {
          const queue = await client.tasks.list('jobs');
          return queue.counts.done + queue.counts.dead === TASKS ? queue : undefined;
        } catch {
          return undefined;
        }
      },
      240_000,
    );
    expect(view.counts.dead).toBe(0);

    const claims = new Map<string, number[]>();
    for (const line of agents.lines) if (line.event === 'claimed') claims.set(line.id as string, [...(claims.get(line.id as string) ?? []), line.token as number]);
    let reclaimed = 0;
    for (const task of view.tasks) {
      const tokens = claims.get(task.id) ?? [];
      if (tokens.length > 1) reclaimed++;
      const acks = agents.lines.filter((l) => l.event === 'completed' && l.id === task.id);
      // Completed at most once as far as any agent was told, and with the token of its last claim.
      expect(acks.length, `acknowledged completions of ${task.id}`).toBeLessThanOrEqual(1);
      expect(task.state).toBe('done');
      expect(task.completedBy?.token, `${task.id} completed with its last claim's token`).toBe(Math.max(...tokens));
      if (acks[0] !== undefined) expect(acks[0].token).toBe(task.completedBy?.token);
      // The result it holds was written under the completing claim.
      const result = await client.get(`results/${task.id}`);
      expect(result.found && (result.value as { token: number }).token, `results/${task.id}`).toBe(task.completedBy?.token);
    }
    // The paused agent came back to a stale claim and was refused.
    const refusedAfterPause = agents.lines.filter((l) => l.worker === paused.worker && l.event === 'refused' && l.id === paused.id && l.token === paused.token);
    expect(refusedAfterPause.length, `${paused.worker} refused after SIGSTOP`).toBeGreaterThan(0);
    const exactlyOnce = view.tasks.filter((t) => agents.lines.filter((l) => l.event === 'completed' && l.id === t.id).length === 1).length;
    console.log(
      `coord processes: ${TASKS} tasks done exactly once (${exactlyOnce} acknowledged to their agent, ${TASKS - exactlyOnce} completed while the agent was told the outcome was unknown or was killed); ` +
        `${reclaimed} claimed more than once; refused stale operations: ${agents.lines.filter((l) => l.event === 'refused').length}; ` +
        `claims: ${agents.lines.filter((l) => l.event === 'claimed').length}`,
    );
  }, 400_000);
});
