/**
 * A schedule the explorer found, replayed step by step from the start — the same cluster, the
 * same checks — so a violation becomes a unit test: paste the actions the failure prints into
 * `replaySchedule(actions, setup)` and expect the rule.
 */
import type { RaftEvent } from '../../machines/raft-node.js';
import { describeEvent } from '../model/raft-model.js';
import { Cluster, ExploreViolation, type ClusterAction, type ClusterSetup, type ClusterState } from './cluster.js';
import type { ExploreResult } from './explore.js';

export interface Replayed {
  /** The state after the last step that ran (the one that broke a rule is not kept). */
  readonly state: ClusterState;
  /** The rule broken, and at which step (1-based). */
  readonly violation?: { readonly rule: string; readonly detail: string; readonly step: number };
}

/** Runs `actions` from the start; stops at the first broken rule. Throws if an action is not possible where it is taken. */
export function replaySchedule(actions: readonly ClusterAction[], setup: ClusterSetup = {}): Replayed {
  const cluster = new Cluster(setup);
  let state = cluster.initial();
  for (const [i, action] of actions.entries()) {
    try {
      state = cluster.step(state, action);
    } catch (error) {
      if (!(error instanceof ExploreViolation)) throw error;
      return { state, violation: { rule: error.rule, detail: error.detail, step: i + 1 } };
    }
  }
  return { state };
}

/** One line per action. */
export function describeAction(action: ClusterAction): string {
  switch (action.type) {
    case 'deliver':
    case 'drop':
    case 'duplicate':
      return `${action.type} to ${action.to}: ${describeEvent(action.message as RaftEvent)}`;
    case 'timeout':
      return `${action.node}: ${action.timer} fires`;
    case 'restart':
      return `${action.node} crashes and restarts from its disk`;
    case 'propose':
      return `propose to ${action.node}`;
    case 'read':
      return `read from ${action.node}`;
  }
}

/** What a failed exploration says: the rule, the schedule in words, and the schedule to replay. */
export function describeViolation(result: ExploreResult): string {
  const v = result.violation;
  if (v === undefined) return 'no violation';
  return [
    `${v.rule}: ${v.detail}`,
    `after ${v.actions.length} steps:`,
    ...v.actions.map((action, i) => `  ${i + 1}. ${describeAction(action)}`),
    'replay it as a unit test (test/explore/replay.ts):',
    `  replaySchedule(${JSON.stringify(v.actions)}, setup)`,
  ].join('\n');
}
