/**
 * Which states and transitions of the chart a set of replays reached. The lists come from the
 * machine definition itself — every state node, and every candidate transition of every state
 * node (each entry of its `transitions` map, plus its `always` transitions) — so a transition
 * added to the chart without a test that takes it makes the coverage check fail.
 */
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition, Snapshot } from 'xstate';

function stateNodes(node: AnyStateNode): AnyStateNode[] {
  return Object.values(node.states).flatMap((child) => [child, ...stateNodes(child)]);
}

/** A guard's name: a named guard, or a higher-order one (`and`, `or`, `not`) over named guards. */
function guardName(guard: unknown): string {
  if (typeof guard === 'string') return guard;
  const g = guard as { type?: unknown; name?: unknown; guards?: unknown };
  if (typeof g.type === 'string') return g.type;
  if (typeof guard === 'function' && Array.isArray(g.guards)) return `${String(g.name)}(${g.guards.map(guardName).join(', ')})`;
  return 'inline guard';
}

function label(transition: AnyTransitionDefinition, index: number): string {
  const guard = transition.guard === undefined ? '' : ` [${guardName(transition.guard)}]`;
  const targets = transition.target?.map((t) => t.id).join(',') ?? '(no target)';
  const event = transition.eventType === '' ? 'always' : transition.eventType;
  return `${transition.source.id}: ${event} #${index}${guard} → ${targets}`;
}

export class ChartCoverage {
  /** Every state node but the root (which is active in every snapshot). */
  private readonly states: AnyStateNode[];
  private readonly transitions = new Map<AnyTransitionDefinition, string>();
  private readonly reachedStates = new Set<AnyStateNode>();
  private readonly takenTransitions = new Set<AnyTransitionDefinition>();

  constructor(machine: AnyStateMachine) {
    this.states = stateNodes(machine.root);
    for (const node of [machine.root, ...this.states]) {
      for (const candidates of node.transitions.values()) {
        candidates.forEach((t, i) => this.transitions.set(t, label(t, i)));
      }
      (node.always ?? []).forEach((t, i) => this.transitions.set(t, label(t, i)));
    }
  }

  /** Feed with each '@xstate.microstep' inspection event of the replays. */
  readonly observe = (transitions: readonly AnyTransitionDefinition[], snapshot: Snapshot<unknown>): void => {
    for (const t of transitions) this.takenTransitions.add(t);
    const active = snapshot as unknown as { matches(value: string): boolean };
    for (const node of this.states) {
      if (!this.reachedStates.has(node) && active.matches(node.path.join('.'))) this.reachedStates.add(node);
    }
  };

  get report(): { states: [number, number]; transitions: [number, number]; missedStates: string[]; missedTransitions: string[] } {
    const definedTransitions = [...this.transitions.keys()];
    return {
      states: [this.states.filter((s) => this.reachedStates.has(s)).length, this.states.length],
      transitions: [definedTransitions.filter((t) => this.takenTransitions.has(t)).length, definedTransitions.length],
      missedStates: this.states.filter((s) => !this.reachedStates.has(s)).map((s) => s.id),
      missedTransitions: definedTransitions.filter((t) => !this.takenTransitions.has(t)).map((t) => this.transitions.get(t) as string),
    };
  }
}
