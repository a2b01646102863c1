/**
 * Mermaid `stateDiagram-v2` text of a ChartModel (GitHub renders it in markdown).
 *
 * State changes are arrows. Each state with rules that keep the state (no target) gets a note
 * listing all its rules in the order XState tries them — a dozen self-loops are unreadable in
 * Mermaid's layout, and the order is part of the rule. The root's rules hang off an "any role"
 * pseudo-state drawn dashed.
 */
import { arrowLabel, ruleLabel, type ChartModel, type ChartState } from './model.js';

export function toMermaid(model: ChartModel): string {
  const lines: string[] = [`%% ${model.id} statechart, generated from the machine definition by \`xstate-raft chart\`; do not edit`, 'stateDiagram-v2', '  direction LR'];
  const rootRules = model.transitions.filter((t) => t.source === model.id);
  if (rootRules.length > 0) {
    lines.push('  classDef anyRole stroke-dasharray: 5 5');
    lines.push(`  state "any role (rules of every role)" as ${mermaidId(model.id)}`);
    lines.push(`  class ${mermaidId(model.id)} anyRole`);
  }
  const declare = (parent: string | null, indent: string): void => {
    for (const state of model.states.filter((s) => s.parent === parent)) {
      const children = model.states.filter((s) => s.parent === state.id);
      if (children.length > 0) {
        lines.push(`${indent}state ${mermaidId(state.id)} {`);
        declare(state.id, `${indent}  `);
        lines.push(`${indent}}`);
      } else {
        lines.push(`${indent}state ${mermaidId(state.id)}`);
      }
      if (state.initial) lines.push(`${indent}[*] --> ${mermaidId(state.id)}`);
    }
  };
  declare(null, '  ');
  for (const state of model.states) lines.push(...describe(state));
  for (const t of model.transitions.filter((t) => t.target !== null)) {
    lines.push(`  ${mermaidId(t.source)} --> ${mermaidId(t.target as string)} : ${text(arrowLabel(t))}`);
  }
  // Most of Raft happens without a change of state: list each state's rules in the order XState
  // tries them (arrows marked → target), since the first whose guard passes wins.
  for (const source of [model.id, ...model.states.map((s) => s.id)]) {
    const rules = model.transitions.filter((t) => t.source === source);
    if (!rules.some((t) => t.target === null)) continue;
    lines.push(`  note right of ${mermaidId(source)}`);
    lines.push('    rules, tried in order:');
    for (const t of rules) lines.push(`    ${text(ruleLabel(t))}`);
    lines.push('  end note');
  }
  return `${lines.join('\n')}\n`;
}

function describe(state: ChartState): string[] {
  const out: string[] = [];
  if (state.description !== undefined) out.push(`  ${mermaidId(state.id)} : ${text(state.description)}`);
  if (state.entry.length > 0) out.push(`  ${mermaidId(state.id)} : entry / ${text(state.entry.join(', '))}`);
  if (state.exit.length > 0) out.push(`  ${mermaidId(state.id)} : exit / ${text(state.exit.join(', '))}`);
  return out;
}

/** Mermaid ids: letters, digits and underscores. */
export function mermaidId(id: string): string {
  return id.replace(/[^A-Za-z0-9_]/g, '_');
}

/** Mermaid reads `;` as a statement end and `#`, `<`, `>` as markup: write them as entity codes. */
function text(s: string): string {
  return s.replace(/[;#<>\n]/g, (c) => (c === '\n' ? ' ' : `#${c.charCodeAt(0)};`));
}
