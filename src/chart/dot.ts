/**
 * Graphviz dot text of a ChartModel (`dot -Tsvg chart.dot`).
 *
 * Each state is a rounded box whose HTML-like label lists its entry and exit actions and all its
 * rules in the order XState tries them (state changes marked → target); state changes are also
 * edges. The
 * root's rules sit in a dashed "any role" box with edges to the state they lead to.
 */
import { arrowLabel, ruleLabel, type ChartModel, type ChartTransition } from './model.js';

export function toDot(model: ChartModel): string {
  const lines: string[] = [
    `// ${model.id} statechart, generated from the machine definition by \`xstate-raft chart\`; do not edit`,
    `digraph ${quote(model.id)} {`,
    '  rankdir=LR;',
    '  node [shape=box, style=rounded, fontname="Helvetica", fontsize=12];',
    '  edge [fontname="Helvetica", fontsize=10];',
  ];
  const rules = (source: string): ChartTransition[] => model.transitions.filter((t) => t.source === source);
  if (model.transitions.some((t) => t.source === model.id)) {
    lines.push(`  ${quote(model.id)} [style="rounded,dashed", label=${htmlLabel('any role', ['rules of every role'], rules(model.id))}];`);
  }
  if (model.initial !== undefined) {
    lines.push('  "__initial" [shape=point, width=0.12, label=""];');
    lines.push(`  "__initial" -> ${quote(model.initial)};`);
  }
  for (const state of model.states) {
    const notes = [
      ...(state.description !== undefined ? [state.description] : []),
      ...(state.entry.length > 0 ? [`entry / ${state.entry.join(', ')}`] : []),
      ...(state.exit.length > 0 ? [`exit / ${state.exit.join(', ')}`] : []),
    ];
    lines.push(`  ${quote(state.id)} [label=${htmlLabel(state.id, notes, rules(state.id))}];`);
  }
  for (const t of model.transitions.filter((t) => t.target !== null)) {
    lines.push(`  ${quote(t.source)} -> ${quote(t.target as string)} [label=${quote(arrowLabel(t))}${t.source === model.id ? ', style=dashed' : ''}];`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

function htmlLabel(title: string, notes: readonly string[], rules: readonly ChartTransition[]): string {
  const rows = [
    `<tr><td><b>${html(title)}</b></td></tr>`,
    ...notes.map((note) => `<tr><td align="left"><font point-size="9">${html(note)}</font></td></tr>`),
    ...(rules.length > 0 ? ['<tr><td align="left"><font point-size="9"><i>rules, tried in order:</i></font></td></tr>'] : []),
    ...rules.map((t) => `<tr><td align="left"><font point-size="9">${html(ruleLabel(t))}</font></td></tr>`),
  ];
  return `<<table border="0" cellborder="0" cellspacing="0" cellpadding="2">${rows.join('')}</table>>`;
}

/** A dot double-quoted string. */
function quote(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

function html(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
