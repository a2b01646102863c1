/**
 * A self-contained SVG of a ChartModel, laid out here: no graphviz binary, no network, no fonts
 * beyond the system's generic families.
 *
 * Top: the states as rounded boxes in one row (entry / exit actions inside), an "any role" box for
 * the root's rules, and an arrow for every change of state — left-to-right arrows above the row,
 * right-to-left ones below, re-entries as loops — labelled `event [guard] / actions`. Bottom: one
 * table per state listing every rule of that state in the order XState tries them, so the rules
 * that keep the state (most of Raft) are as legible as the arrows.
 *
 * For a dashboard: every state is `<g class="state" data-state="…">`, every state's table is
 * `<g class="rules" data-state="…">`, every rule is `<g class="transition" data-transition="…">`.
 * Set `data-active="leader"` (space-separated for several) on the `<svg>`, or the class `active`
 * on a group, and the embedded style highlights it. Styles are scoped to the svg's id.
 */
import { arrowLabel, type ChartModel, type ChartTransition } from './model.js';

export interface SvgOptions {
  /** Width in px the layout aims at (default 900); it grows only if the states cannot fit. */
  width?: number;
  /** Id of the `<svg>` and prefix of every id inside, so two charts can share a page (default 'raft-chart'). */
  idPrefix?: string;
  title?: string;
}

const SANS = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', Arial, sans-serif";
const MONO = "ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', 'Liberation Mono', monospace";
/** Advance of one character per px of font size (conservative: DejaVu Sans Mono is 0.602). */
const MONO_ADVANCE = 0.62;
const SANS_BOLD_ADVANCE = 0.68;
const INK = '#0f172a';
const MUTED = '#64748b';
const LINE = '#475569';
const MARGIN = 16;
const LABEL_FONT = 10;
const LABEL_LINE = 12;
const LABEL_MAX_CHARS = 26;

interface Box {
  key: string;
  root: boolean;
  x: number;
  w: number;
  h: number;
  title: string;
  details: { text: string; caption: boolean }[];
  initial: boolean;
}

interface Arc {
  from: Box;
  to: Box;
  transitions: ChartTransition[];
  lines: string[];
  x1: number;
  x2: number;
  /** Label rectangle (y relative to the top of the row). */
  lx: number;
  ly: number;
  lw: number;
  lh: number;
  apex: number;
}

export function toSvg(model: ChartModel, options: SvgOptions = {}): string {
  const prefix = options.idPrefix ?? 'raft-chart';
  const hasRoot = model.transitions.some((t) => t.source === model.id);
  const boxes: Box[] = [
    ...(hasRoot ? [{ key: model.id, root: true, x: 0, w: 0, h: 0, title: 'any role', details: [{ text: 'rules of every role', caption: true }], initial: false }] : []),
    ...model.states.map((s) => {
      // Re-entering the same state is listed inside the box (a loop marks the corner).
      const reentries = model.transitions.filter((t) => t.source === s.id && t.target === s.id);
      return {
        key: s.id,
        root: false,
        x: 0,
        w: 0,
        h: 0,
        title: s.id,
        initial: s.id === model.initial,
        details: [
          ...(s.description !== undefined ? [{ text: s.description, caption: true }] : []),
          ...(s.entry.length > 0 ? [{ text: 'entry /', caption: true }, ...s.entry.map((a) => ({ text: a, caption: false }))] : []),
          ...(s.exit.length > 0 ? [{ text: 'exit /', caption: true }, ...s.exit.map((a) => ({ text: a, caption: false }))] : []),
          ...(reentries.length > 0
            ? [{ text: 're-entered on', caption: true }, ...reentries.flatMap((t) => arcLabelLines([{ ...t, reenter: false }]).map((text) => ({ text, caption: false })))]
            : []),
        ],
      };
    }),
  ];
  // ---- the row of boxes, top-aligned
  for (const box of boxes) {
    const detail = Math.max(0, ...box.details.map((d) => d.text.length)) * LABEL_FONT * MONO_ADVANCE + 8;
    box.w = Math.ceil(Math.max(96, box.title.length * 14 * SANS_BOLD_ADVANCE, detail) + 20);
    box.h = 16 + 18 + box.details.length * 13 + 10;
  }
  const minGap = 36;
  const sum = boxes.reduce((n, b) => n + b.w, 0);
  const width = Math.max(options.width ?? 900, Math.ceil(sum + minGap * (boxes.length - 1) + 2 * MARGIN));
  const gap = boxes.length > 1 ? Math.min(140, (width - 2 * MARGIN - sum) / (boxes.length - 1)) : 0;
  let x = (width - (sum + gap * (boxes.length - 1))) / 2;
  for (const box of boxes) {
    box.x = x;
    x += box.w + gap;
  }
  const column = new Map(boxes.map((b, i) => [b.key, i]));
  const byKey = new Map(boxes.map((b) => [b.key, b]));

  // ---- arrows: one per (source, target), labelled with each of its transitions
  const arcs: Arc[] = [];
  for (const t of model.transitions) {
    if (t.target === null) continue;
    const from = byKey.get(t.source);
    const to = byKey.get(t.target);
    if (from === undefined || to === undefined) continue;
    const arc = arcs.find((a) => a.from === from && a.to === to);
    if (arc) arc.transitions.push(t);
    else arcs.push({ from, to, transitions: [t], lines: [], x1: 0, x2: 0, lx: 0, ly: 0, lw: 0, lh: 0, apex: 0 });
  }
  const span = (a: Arc) => Math.abs((column.get(a.to.key) ?? 0) - (column.get(a.from.key) ?? 0));
  const ltr = (a: Arc) => (column.get(a.to.key) ?? 0) > (column.get(a.from.key) ?? 0);
  const self = (a: Arc) => a.from === a.to;
  // Left-to-right arrows run above the row, right-to-left ones below; the root's arrows run
  // below too, out of the way of the role-to-role arrows.
  const above = (a: Arc) => !self(a) && ltr(a) && !a.from.root;
  const below = (a: Arc) => !self(a) && !above(a);
  // Anchor points along the box edges, ordered so that longer arrows enclose shorter ones.
  const spread = (list: Arc[], box: Box, half: 'left' | 'right', set: (a: Arc, x: number) => void) =>
    list.forEach((a, i) => set(a, box.x + (half === 'right' ? box.w / 2 : 0) + ((box.w / 2) * (i + 1)) / (list.length + 1)));
  const longestFirst = (a: Arc, b: Arc) => span(b) - span(a);
  const shortestFirst = (a: Arc, b: Arc) => span(a) - span(b);
  for (const box of boxes) {
    spread(arcs.filter((a) => a.from === box && above(a)).sort(longestFirst), box, 'right', (a, v) => (a.x1 = v));
    spread(arcs.filter((a) => a.to === box && above(a)).sort(shortestFirst), box, 'left', (a, v) => (a.x2 = v));
    spread(arcs.filter((a) => a.from === box && below(a) && !ltr(a)).sort(shortestFirst), box, 'left', (a, v) => (a.x1 = v));
    spread(arcs.filter((a) => a.from === box && below(a) && ltr(a)).sort(longestFirst), box, 'right', (a, v) => (a.x1 = v));
    spread(arcs.filter((a) => a.to === box && below(a) && !ltr(a)).sort(longestFirst), box, 'right', (a, v) => (a.x2 = v));
    spread(arcs.filter((a) => a.to === box && below(a) && ltr(a)).sort(shortestFirst), box, 'left', (a, v) => (a.x2 = v));
    for (const a of arcs.filter((a) => a.from === box && self(a))) {
      a.x1 = box.x + box.w - 16;
      a.x2 = box.x + box.w;
      a.ly = -24;
    }
  }
  // Labels: shortest arrows nearest the row; each label stacks clear of every label it overlaps.
  const placed: Arc[] = [];
  for (const a of arcs.filter((a) => !self(a)).sort(shortestFirst)) {
    a.lines = arcLabelLines(a.transitions);
    a.lw = Math.ceil(Math.max(...a.lines.map((l) => l.length)) * LABEL_FONT * MONO_ADVANCE + 8);
    a.lh = a.lines.length * LABEL_LINE + 6;
    a.lx = Math.min(Math.max((a.x1 + a.x2) / 2 - a.lw / 2, MARGIN), width - MARGIN - a.lw);
    const left = Math.min(a.lx, a.x1, a.x2) - 6;
    const right = Math.max(a.lx + a.lw, a.x1, a.x2) + 6;
    const overlapping = placed.filter((p) => above(p) === above(a) && p.lx < right && p.lx + p.lw > left);
    if (above(a)) {
      let bottom = -22;
      for (const p of overlapping) bottom = Math.min(bottom, p.ly - 14);
      a.ly = bottom - a.lh;
      a.apex = bottom + 4;
    } else {
      // Below every box the arrow passes under.
      const lo = Math.min(column.get(a.from.key) ?? 0, column.get(a.to.key) ?? 0);
      const hi = Math.max(column.get(a.from.key) ?? 0, column.get(a.to.key) ?? 0);
      let top = Math.max(...boxes.slice(lo, hi + 1).map((b) => b.h)) + 22;
      for (const p of overlapping) top = Math.max(top, p.ly + p.lh + 14);
      a.ly = top;
      a.apex = top - 4;
    }
    placed.push(a);
  }
  const aboveTop = Math.min(-20, ...arcs.map((a) => a.ly));
  const belowBottom = Math.max(...boxes.map((b) => b.h + 12), ...arcs.filter(below).map((a) => a.ly + a.lh));

  // ---- assemble
  const out: string[] = [];
  const headerH = 58;
  const rowY = headerH + -aboveTop + 8;
  let y = rowY + belowBottom + 18;
  const legend = [
    'Arrows change the state (dashed: a rule of every role, from the root). Each table lists every rule of a',
    'state in the order XState tries them: the first whose [guard] passes is taken; "stays" keeps the state.',
  ];
  const legendY = y;
  y += legend.length * 14 + 12;
  const tables = renderTables(model, width, y, prefix);
  const height = Math.ceil(tables.bottom + MARGIN);
  const title = options.title ?? `${model.id} statechart`;

  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" id="${attr(prefix)}" class="raft-chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="${attr(prefix)}-title" font-family="${attr(SANS)}">`,
  );
  out.push(`<title id="${attr(prefix)}-title">${esc(title)}, generated from the machine definition</title>`);
  out.push(`<style><![CDATA[${style(prefix, model)}]]></style>`);
  out.push(
    `<defs><marker id="${attr(prefix)}-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="${LINE}"/></marker></defs>`,
  );
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="${MARGIN}" y="28" font-size="18" font-weight="700" fill="${INK}">${esc(title)}</text>`);
  out.push(`<text x="${MARGIN}" y="46" font-size="11" fill="${MUTED}">generated from the machine definition by xstate-raft chart; do not edit by hand</text>`);
  out.push(`<g class="diagram" transform="translate(0 ${n(rowY)})">`);
  for (const a of arcs) out.push(renderArc(a, prefix));
  for (const box of boxes) out.push(renderBox(box, prefix));
  for (const a of arcs.filter((a) => !self(a))) out.push(renderArcLabel(a));
  out.push('</g>');
  legend.forEach((line, i) => out.push(`<text x="${MARGIN}" y="${n(legendY + i * 14)}" font-size="11" fill="${MUTED}">${esc(line)}</text>`));
  out.push(tables.svg);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** Label lines of one arrow: transitions that share guard and actions are listed together. */
function arcLabelLines(transitions: readonly ChartTransition[]): string[] {
  const lines: string[] = [];
  for (let i = 0; i < transitions.length; ) {
    const t = transitions[i] as ChartTransition;
    const same = (u: ChartTransition) => u.guard === t.guard && u.reenter === t.reenter && u.actions.join() === t.actions.join();
    let j = i;
    while (j < transitions.length && same(transitions[j] as ChartTransition)) j++;
    const group = transitions.slice(i, j);
    const guard = `${t.guard !== undefined ? `[${t.guard}]` : ''}${t.reenter ? ' (re-enter)' : ''}`.trim();
    const head = group.map((u) => u.event).join(', ');
    if (head.length + guard.length + 1 <= LABEL_MAX_CHARS) lines.push(`${head}${guard ? ` ${guard}` : ''}`);
    else
      lines.push(
        ...wrap(
          group.map((u) => u.event),
          '',
          LABEL_MAX_CHARS,
        ),
        ...(guard ? [guard] : []),
      );
    if (t.actions.length > 0) lines.push(...wrap(t.actions, '/ ', LABEL_MAX_CHARS));
    i = j;
  }
  return lines;
}

/** `items` joined by ', ' into lines of at most `max` characters (an item longer than that keeps its line). */
function wrap(items: readonly string[], lead: string, max: number): string[] {
  const lines: string[] = [];
  let line = lead;
  for (const [i, item] of items.entries()) {
    const piece = `${item}${i < items.length - 1 ? ',' : ''}`;
    if (line.trim() !== lead.trim() && line.length + 1 + piece.length > max) {
      lines.push(line);
      line = ' '.repeat(lead.length) + piece;
    } else {
      line = line === lead ? `${lead}${piece}` : `${line} ${piece}`;
    }
  }
  lines.push(line);
  return lines;
}

function renderBox(box: Box, prefix: string): string {
  const cls = box.root ? 'state any-role' : 'state';
  const parts = [
    `<g class="${cls}" data-state="${attr(box.key)}" id="${attr(prefix)}-state-${attr(slug(box.key))}">`,
    `<rect class="state-box" x="${n(box.x)}" y="0" width="${n(box.w)}" height="${n(box.h)}" rx="12" fill="${box.root ? '#ffffff' : '#f8fafc'}" stroke="${LINE}" stroke-width="1.5"${box.root ? ' stroke-dasharray="6 4"' : ''}/>`,
    `<text class="state-name" x="${n(box.x + box.w / 2)}" y="24" text-anchor="middle" font-size="14" font-weight="700" fill="${INK}">${esc(box.title)}</text>`,
  ];
  box.details.forEach((d, i) => {
    const y = 34 + 12 + i * 13;
    parts.push(
      d.caption
        ? `<text x="${n(box.x + 10)}" y="${y}" font-size="10" font-style="italic" fill="${MUTED}">${esc(d.text)}</text>`
        : `<text x="${n(box.x + 18)}" y="${y}" font-size="${LABEL_FONT}" font-family="${attr(MONO)}" fill="${INK}">${esc(d.text)}</text>`,
    );
  });
  if (box.initial) {
    parts.push(`<circle class="initial" cx="${n(box.x - 20)}" cy="20" r="5" fill="${INK}"/>`);
    parts.push(`<path d="M${n(box.x - 15)},20 H${n(box.x - 1)}" stroke="${INK}" stroke-width="1.3" marker-end="url(#${attr(prefix)}-arrow)"/>`);
  }
  parts.push('</g>');
  return parts.join('');
}

function renderArc(a: Arc, prefix: string): string {
  let d: string;
  if (a.from === a.to) {
    // A loop around the box's top-right corner; the events are listed inside the box.
    d = `M${n(a.x1)},0 C${n(a.x1)},-24 ${n(a.x2 + 24)},16 ${n(a.x2)},16`;
  } else {
    const down = a.apex > 0;
    const y1 = down ? a.from.h : 0;
    const y2 = down ? a.to.h : 0;
    // Both control points at c: the curve peaks at (y1 + y2) / 8 + 3c / 4 halfway along.
    const c = (a.apex - (y1 + y2) / 8) / 0.75;
    d = `M${n(a.x1)},${n(y1)} C${n(a.x1)},${n(c)} ${n(a.x2)},${n(c)} ${n(a.x2)},${n(y2)}`;
  }
  const root = a.from.root;
  return (
    `<g class="arc${root ? ' root' : ''}${a.from === a.to ? ' self' : ''}" data-source="${attr(a.from.key)}" data-target="${attr(a.to.key)}" data-transitions="${attr(a.transitions.map((t) => t.id).join(' '))}">` +
    `<path d="${d}" fill="none" stroke="${LINE}" stroke-width="1.3"${root ? ' stroke-dasharray="5 4"' : ''} marker-end="url(#${attr(prefix)}-arrow)"/></g>`
  );
}

function renderArcLabel(a: Arc): string {
  const cx = a.lx + a.lw / 2;
  const tspans = a.lines.map((line, i) => `<tspan x="${n(cx)}" y="${n(a.ly + 3 + LABEL_FONT + i * LABEL_LINE)}">${esc(line)}</tspan>`).join('');
  return (
    `<g class="arc-label" data-transitions="${attr(a.transitions.map((t) => t.id).join(' '))}">` +
    `<title>${esc(a.transitions.map(arrowLabel).join('\n'))}</title>` +
    `<rect x="${n(a.lx)}" y="${n(a.ly)}" width="${n(a.lw)}" height="${n(a.lh)}" rx="3" fill="#ffffff" fill-opacity="0.92"/>` +
    `<text text-anchor="middle" font-size="${LABEL_FONT}" font-family="${attr(MONO)}" fill="${INK}" xml:space="preserve">${tspans}</text></g>`
  );
}

const TABLE_FONT = 11;
const ROW_LINE = 14;

/** One table per source (the root first), every transition a row, in the order XState tries them. */
function renderTables(model: ChartModel, width: number, top: number, prefix: string): { svg: string; bottom: number } {
  const char = TABLE_FONT * MONO_ADVANCE;
  const target = (t: ChartTransition) => (t.target === null ? 'stays' : `${t.target}${t.reenter ? ' (re-enter)' : ''}`);
  const cols = {
    event: Math.max(5, ...model.transitions.map((t) => t.event.length)) * char + 16,
    guard: Math.max(5, ...model.transitions.map((t) => (t.guard ?? '').length)) * char + 16,
    target: Math.max(6, ...model.transitions.map((t) => target(t).length)) * char + 16,
  };
  const actionsWidth = Math.max(16 * char, width - 2 * MARGIN - cols.event - cols.guard - cols.target);
  const actionChars = Math.floor((actionsWidth - 16) / char);
  const xs = [MARGIN, MARGIN + cols.event, MARGIN + cols.event + cols.guard, width - MARGIN - cols.target];
  const out: string[] = [];
  let y = top;
  for (const source of [model.id, ...model.states.map((s) => s.id)]) {
    const rules = model.transitions.filter((t) => t.source === source);
    if (rules.length === 0) continue;
    const heading = source === model.id ? 'any role: the rules of every role (the root)' : `${source}`;
    out.push(`<g class="rules" data-state="${attr(source)}" id="${attr(prefix)}-rules-${attr(slug(source))}">`);
    out.push(`<rect class="rules-title" x="${MARGIN}" y="${n(y)}" width="${width - 2 * MARGIN}" height="22" rx="4" fill="#e2e8f0"/>`);
    out.push(`<text x="${MARGIN + 8}" y="${n(y + 15)}" font-size="12" font-weight="700" fill="${INK}">${esc(heading)}</text>`);
    y += 22;
    const header = ['event', 'guard', 'actions', 'target'];
    out.push(`<g font-size="10" fill="${MUTED}">${header.map((h, i) => `<text x="${n((xs[i] ?? 0) + 8)}" y="${n(y + 13)}">${h}</text>`).join('')}</g>`);
    y += 18;
    rules.forEach((t, i) => {
      const actions = t.actions.length > 0 ? wrap(t.actions, '', actionChars) : ['—'];
      const h = actions.length * ROW_LINE + 6;
      const cells = [t.event, t.guard ?? '—', null, target(t)];
      out.push(
        `<g class="transition" data-transition="${attr(t.id)}" data-source="${attr(t.source)}" data-event="${attr(t.event)}" data-target="${attr(t.target ?? '')}">` +
          `<title>${esc(`${t.source}: ${arrowLabel(t)} → ${target(t)}`)}</title>` +
          `<rect class="row-bg" x="${MARGIN}" y="${n(y)}" width="${width - 2 * MARGIN}" height="${n(h)}" fill="${i % 2 === 0 ? '#ffffff' : '#f1f5f9'}"/>` +
          `<g font-family="${attr(MONO)}" font-size="${TABLE_FONT}" fill="${INK}" xml:space="preserve">` +
          cells
            .map((cell, c) =>
              cell === null
                ? actions.map((line, k) => `<text x="${n((xs[c] ?? 0) + 8)}" y="${n(y + 14 + k * ROW_LINE)}">${esc(line)}</text>`).join('')
                : `<text x="${n((xs[c] ?? 0) + 8)}" y="${n(y + 14)}"${t.eventless && c === 0 ? ' font-style="italic"' : ''}${cell === 'stays' || cell === '—' ? ` fill="${MUTED}"` : ''}>${esc(cell)}</text>`,
            )
            .join('') +
          '</g></g>',
      );
      y += h;
    });
    out.push('</g>');
    y += 14;
  }
  return { svg: out.join('\n'), bottom: y };
}

function style(prefix: string, model: ChartModel): string {
  const root = `#${cssIdent(prefix)}`;
  const highlight = [model.id, ...model.states.map((s) => s.id)].map((id) => `${root}[data-active~=${cssString(id)}] .state[data-state=${cssString(id)}] .state-box`).join(',\n');
  const rules = [model.id, ...model.states.map((s) => s.id)].map((id) => `${root}[data-active~=${cssString(id)}] .rules[data-state=${cssString(id)}] .rules-title`).join(',\n');
  return `
${root} .state.active .state-box,
${highlight} { fill: #fef3c7; stroke: #d97706; stroke-width: 3; }
${root} .rules.active .rules-title,
${rules} { fill: #fde68a; }
${root} .transition.active .row-bg, ${root} .arc-label.active rect { fill: #fef3c7; }
${root} .arc.active path { stroke: #d97706; stroke-width: 2.5; }
`;
}

function n(v: number): string {
  return String(Math.round(v * 10) / 10);
}

function slug(id: string): string {
  return id.replace(/[^A-Za-z0-9_-]/g, '_');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function attr(s: string): string {
  return esc(s).replace(/"/g, '&quot;');
}

function cssString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function cssIdent(s: string): string {
  return s.replace(/[^A-Za-z0-9_-]/g, (c) => `\\${c}`);
}
