/**
 * The node statechart as plain data, read from the machine *definition* — `machine.root`, its
 * state nodes, each node's `transitions` map and `always` list, entry and exit actions, guards and
 * actions by name — so every picture drawn from it (`toMermaid`, `toDot`, `toSvg`) is the machine,
 * not a drawing of it. A transition added to machines/raft-node.ts shows up in the docs the next
 * time `xstate-raft chart` runs; nothing here names a state or an event of the Raft machine.
 *
 * The root's own transitions are the rules of every role (a higher term makes you a follower, a
 * stale request is rejected, RequestVote is decided the same way everywhere). They keep the root as
 * their `source` (the machine id, `raftNode`); the renderers draw it as an "any role" pseudo-state.
 */
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';
import { raftNodeMachine } from '../../machines/raft-node.js';

export interface ChartState {
  /** The state's path below the root, dotted ('follower'; 'a.b' for nested states). */
  readonly id: string;
  /** The parent's id, or null for a child of the root. */
  readonly parent: string | null;
  /** The initial child of its parent. */
  readonly initial: boolean;
  readonly type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  readonly entry: readonly string[];
  readonly exit: readonly string[];
  readonly description?: string;
}

export interface ChartTransition {
  /** Stable id: `${source}:${event}:${order}` (also what `transitionId` gives an xstate transition). */
  readonly id: string;
  /** A state id, or the machine id (`model.id`) for a rule of every role. */
  readonly source: string;
  /** The target state id; null when the transition has no target (the state is not left). */
  readonly target: string | null;
  /** The event type; 'always' for an eventless transition. */
  readonly event: string;
  readonly eventless: boolean;
  readonly guard?: string;
  readonly actions: readonly string[];
  /** Leaves and re-enters the target even if it is the source (entry and exit actions run). */
  readonly reenter: boolean;
  /** Position among the candidates for (source, event): XState takes the first whose guard passes. */
  readonly order: number;
}

export interface ChartModel {
  /** The machine id, also the `source` of the root's transitions. */
  readonly id: string;
  /** The root's initial state id. */
  readonly initial: string | undefined;
  readonly states: readonly ChartState[];
  readonly transitions: readonly ChartTransition[];
}

/** Read a machine's definition into a ChartModel (default: the Raft node machine). */
export function chartModel(machine: AnyStateMachine = raftNodeMachine): ChartModel {
  const root = machine.root;
  const states: ChartState[] = [];
  const transitions: ChartTransition[] = [];
  const visit = (node: AnyStateNode): void => {
    const id = node === root ? root.id : stateId(node);
    transitions.push(...transitionsOf(node, id));
    for (const child of Object.values(node.states)) {
      states.push({
        id: stateId(child),
        parent: node === root ? null : stateId(node),
        initial: node.initial?.target?.includes(child) ?? false,
        type: child.type,
        entry: child.entry.map(actionName),
        exit: child.exit.map(actionName),
        ...(child.description !== undefined ? { description: child.description } : {}),
      });
      visit(child);
    }
  };
  visit(root);
  const initial = root.initial?.target?.[0];
  return { id: root.id, initial: initial === undefined ? undefined : stateId(initial), states, transitions };
}

/**
 * The chart id of a transition definition, as found in an `@xstate.microstep` inspection event
 * (`_transitions`): lets a dashboard light up the rule a node just took.
 */
export function transitionId(transition: AnyTransitionDefinition): string {
  const source = transition.source;
  const sourceId = source.parent === undefined ? source.id : stateId(source);
  const candidates = transition.eventType === '' ? (source.always ?? []) : (source.transitions.get(transition.eventType) ?? []);
  const event = transition.eventType === '' ? ALWAYS : transition.eventType;
  return `${sourceId}:${event}:${Math.max(0, candidates.indexOf(transition))}`;
}

/** `event [guard] / a, b` — the label every renderer uses for a transition. */
export function transitionLabel(t: Pick<ChartTransition, 'event' | 'guard' | 'actions'>): string {
  return `${t.event}${t.guard !== undefined ? ` [${t.guard}]` : ''}${t.actions.length > 0 ? ` / ${t.actions.join(', ')}` : ''}`;
}

/** An arrow's label: the transition's label, marked when the target is left and entered again. */
export function arrowLabel(t: ChartTransition): string {
  return `${transitionLabel(t)}${t.reenter ? ' (re-enter)' : ''}`;
}

/** A rule as listed under its state: its label, and `→ target` if it changes the state. */
export function ruleLabel(t: ChartTransition): string {
  return `${transitionLabel(t)}${t.target === null ? '' : ` → ${t.target}${t.reenter ? ' (re-enter)' : ''}`}`;
}

const ALWAYS = 'always';

function stateId(node: AnyStateNode): string {
  return node.path.join('.');
}

function transitionsOf(node: AnyStateNode, sourceId: string): ChartTransition[] {
  const out: ChartTransition[] = [];
  const add = (t: AnyTransitionDefinition, order: number): void => {
    const eventless = t.eventType === '';
    const event = eventless ? ALWAYS : t.eventType;
    const targets = t.target?.map(stateId) ?? [];
    const guard = guardName(t.guard);
    out.push({
      id: `${sourceId}:${event}:${order}`,
      source: sourceId,
      target: targets.length === 0 ? null : targets.join(','),
      event,
      eventless,
      ...(guard !== undefined ? { guard } : {}),
      actions: t.actions.map(actionName),
      reenter: t.reenter,
      order,
    });
  };
  // Eventless transitions are checked first, after every microstep; then the events, in the
  // order the config declares them, each with its candidates in the order they are tried.
  (node.always ?? []).forEach(add);
  for (const candidates of node.transitions.values()) candidates.forEach(add);
  return out;
}

interface Named {
  name?: string;
  type?: unknown;
  guards?: unknown[];
}

/** A guard by name: 'isHigherTerm', '!a', 'a && b', 'a || b', or 'inline guard'. */
export function guardName(guard: unknown): string | undefined {
  if (guard === undefined || guard === null) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    const g = guard as Named;
    if (Array.isArray(g.guards)) {
      const parts = g.guards.map((inner) => guardName(inner) ?? 'inline guard');
      if (g.name === 'not') return `!${parts[0] ?? ''}`;
      if (g.name === 'and') return `(${parts.join(' && ')})`;
      if (g.name === 'or') return `(${parts.join(' || ')})`;
    }
    // An inline guard takes the name of the config key it was written under.
    return g.name !== undefined && g.name !== '' && g.name !== 'guard' ? g.name : 'inline guard';
  }
  if (typeof guard === 'object' && typeof (guard as Named).type === 'string') return (guard as { type: string }).type;
  return 'inline guard';
}

/** An action by name: 'announceFollower', a built-in's kind ('raise', 'assign'), or 'inline action'. */
export function actionName(action: unknown): string {
  if (typeof action === 'string') return action;
  if (typeof action === 'function') {
    const a = action as Named;
    if (typeof a.type === 'string') return a.type.replace(/^xstate\./, '');
    return a.name !== undefined && !['', 'actions', 'entry', 'exit'].includes(a.name) ? a.name : 'inline action';
  }
  if (typeof action === 'object' && action !== null && typeof (action as Named).type === 'string') return (action as { type: string }).type;
  return 'inline action';
}
