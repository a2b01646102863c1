/**
 * Agents under faults (src/sim/agent-workload.ts): every seed must end with every posted task done
 * or dead-lettered, no task completed twice, every completion made with its task's last claim, no
 * fenced write accepted with a stale token (checked against the replicas' own history by
 * CoordAudit), and the KV history linearizable — while the nemesis partitions, crashes and degrades
 * the cluster and the agents crash and pause past their TTLs.
 */
import { describe, expect, it } from 'vitest';
import type { CoordCommand } from '../../src/coord/state-machine.js';
import type { CoordStateMachine } from '../../src/coord/state-machine.js';
import { ALL_FAULTS, randomRun, type RandomRunResult } from '../../src/sim/random-run.js';
import type { StateMachine } from '../../src/state-machine.js';

const SEEDS = Number(process.env.SIM_AGENT_SEEDS ?? 30);

function describeFailure(result: RandomRunResult): string {
  return `seed ${result.seed}: ${result.failure?.rule}: ${result.failure?.detail}\nreplay: ${result.replay}`;
}

describe('agents on a faulty cluster', { timeout: 600_000 }, () => {
  it(`${SEEDS} seeds of 3 nodes and 3 agents: tasks done exactly once, no stale write accepted`, async () => {
    const totals = { claims: 0, completed: 0, staleRefused: 0, crashes: 0, pauses: 0, expiries: 0, leaseGrants: 0 };
    for (let seed = 1; seed <= SEEDS; seed++) {
      const result = await randomRun({ seed, nodes: 3, duration: 6000, faults: ALL_FAULTS, agents: 3 });
      expect(result.ok, describeFailure(result)).toBe(true);
      const agents = result.agents!;
      expect(agents.posted).toBe(12);
      totals.claims += agents.claims;
      totals.completed += agents.completed;
      totals.staleRefused += agents.staleRefused;
      totals.crashes += agents.crashes;
      totals.pauses += agents.pauses;
      totals.expiries += agents.history.expiries;
      totals.leaseGrants += agents.leaseGrants;
    }
    // The faults did happen: claims expired, paused and crashed agents came back to stale tokens.
    expect(totals.expiries).toBeGreaterThan(0);
    expect(totals.staleRefused).toBeGreaterThan(0);
    expect(totals.crashes).toBeGreaterThan(0);
    expect(totals.pauses).toBeGreaterThan(0);
    console.log(`agents: ${SEEDS} seeds, ${JSON.stringify(totals)}`);
  });

  it('5 nodes, 4 agents, membership changes as well', async () => {
    for (let seed = 1; seed <= Math.max(3, Math.floor(SEEDS / 5)); seed++) {
      const result = await randomRun({ seed, nodes: 5, duration: 6000, faults: ALL_FAULTS, agents: 4, membership: true });
      expect(result.ok, describeFailure(result)).toBe(true);
    }
  });
});

/** A state machine passing everything through to `machine`, with `apply` and `stamp` replaceable. */
function wrap(machine: CoordStateMachine, change: { apply?: (command: CoordCommand) => CoordCommand; stamp?: false }): StateMachine {
  return {
    apply: (command, entry) => machine.apply(change.apply ? change.apply(command as CoordCommand) : command, entry),
    query: (query) => machine.query(query),
    snapshot: () => machine.snapshot(),
    restore: (snapshot) => machine.restore(snapshot),
    stamp: (command, now) => (change.stamp === false ? command : machine.stamp(command as CoordCommand, now)),
    nextDeadline: () => machine.nextDeadline(),
    tick: () => machine.tick(),
  };
}

/** The first of `seeds` seeds whose run fails, with its rule. */
async function firstFailure(wrapStateMachine: (machine: CoordStateMachine) => StateMachine, seeds = 10): Promise<RandomRunResult | undefined> {
  for (let seed = 1; seed <= seeds; seed++) {
    const result = await randomRun({ seed, nodes: 3, duration: 6000, faults: ALL_FAULTS, agents: 3, wrapStateMachine });
    if (!result.ok) return result;
  }
  return undefined;
}

describe('rules the agent checks would catch broken', { timeout: 600_000 }, () => {
  it('a state machine that takes any token of a claimed task as the current one', async () => {
    const failure = await firstFailure((machine) =>
      wrap(machine, {
        apply: (command) => {
          const id =
            command.type === 'task.complete' || command.type === 'task.heartbeat'
              ? command.id
              : 'fence' in command && command.fence && 'task' in command.fence
                ? command.fence.task
                : undefined;
          if (id === undefined) return command;
          const current = (machine.query({ type: 'task.get', id }) as { task: { claim?: { token: number } } | null }).task?.claim?.token;
          if (current === undefined) return command;
          return 'fence' in command && command.fence ? ({ ...command, fence: { task: id, token: current } } as CoordCommand) : ({ ...command, token: current } as CoordCommand);
        },
      }),
    );
    expect(failure?.failure?.rule).toMatch(/stale-write|complete-by-last-claim|complete-once/);
  });

  it('a leader that does not stamp entries with its clock (no claim ever expires)', async () => {
    const failure = await firstFailure((machine) => wrap(machine, { stamp: false }));
    expect(failure?.failure?.rule).toMatch(/liveness|tasks-settled/);
  });
});
