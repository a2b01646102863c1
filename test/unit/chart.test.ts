/**
 * `xstate-raft chart`: every format draws every state and every transition of the machine. The
 * expectations are read from the machine definition here, independently of src/chart/, so a state
 * or transition added to machines/raft-node.ts without a line in the chart fails these tests.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { setup, type AnyStateMachine, type AnyStateNode } from 'xstate';
import { raftNodeMachine } from '../../machines/raft-node.js';
import { actionName, chartModel, guardName, toDot, toMermaid, toSvg, transitionId } from '../../src/chart/statechart.js';
import { runChart } from '../../src/cli/chart.js';

// ---------------------------------------------------------------- the definition, read here

interface Defined {
  source: string;
  event: string;
  order: number;
  target: string | null;
  guard: string | undefined;
  actions: string[];
  reenter: boolean;
}

function descendants(node: AnyStateNode): AnyStateNode[] {
  return Object.values(node.states).flatMap((child) => [child, ...descendants(child)]);
}

function definedStates(machine: AnyStateMachine): string[] {
  return descendants(machine.root).map((node) => node.path.join('.'));
}

function definedTransitions(machine: AnyStateMachine): Defined[] {
  const out: Defined[] = [];
  for (const node of [machine.root, ...descendants(machine.root)]) {
    const source = node === machine.root ? machine.root.id : node.path.join('.');
    const candidates = [...(node.always ?? []).map((t) => ['always', t] as const), ...[...node.transitions.values()].flat().map((t) => [t.eventType, t] as const)];
    const seen = new Map<string, number>();
    for (const [event, t] of candidates) {
      const order = seen.get(event) ?? 0;
      seen.set(event, order + 1);
      out.push({
        source,
        event,
        order,
        target: t.target === undefined || t.target.length === 0 ? null : t.target.map((s) => s.path.join('.')).join(','),
        guard: guardName(t.guard),
        actions: t.actions.map(actionName),
        reenter: t.reenter,
      });
    }
  }
  return out;
}

/** `event [guard] / a, b` (+ ` (re-enter)` on arrows): the label convention of every format. */
function label(t: Defined, arrow: boolean): string {
  return `${t.event}${t.guard !== undefined ? ` [${t.guard}]` : ''}${t.actions.length > 0 ? ` / ${t.actions.join(', ')}` : ''}${arrow && t.reenter ? ' (re-enter)' : ''}`;
}

/** A rule as listed under its state: `label → target` when it changes the state. */
function rule(t: Defined): string {
  return `${label(t, false)}${t.target === null ? '' : ` → ${t.target}${t.reenter ? ' (re-enter)' : ''}`}`;
}

const machine = raftNodeMachine;
const states = definedStates(machine);
const transitions = definedTransitions(machine);
const targeted = transitions.filter((t) => t.target !== null);
const inPlace = transitions.filter((t) => t.target === null);
const model = chartModel();

// ---------------------------------------------------------------- a tiny XML parser (well-formedness)

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

/** Parses XML strictly enough to reject what an XML parser rejects in generated SVG; throws on error. */
function parseXml(xml: string): XmlElement {
  let i = 0;
  const fail = (why: string): never => {
    throw new Error(`XML error at ${i}: ${why}: ${JSON.stringify(xml.slice(i, i + 60))}`);
  };
  const checkText = (s: string) => {
    if (/[<]/.test(s)) fail('raw < in text');
    for (const m of s.matchAll(/&([^;\s]*);?/g)) if (!/^&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);$/.test(m[0])) fail(`bad entity ${m[0]}`);
  };
  const skipMisc = () => {
    for (;;) {
      const ws = /^\s*/.exec(xml.slice(i));
      i += ws?.[0].length ?? 0;
      if (xml.startsWith('<?', i)) i = xml.indexOf('?>', i) + 2;
      else if (xml.startsWith('<!--', i)) i = xml.indexOf('-->', i) + 3;
      else return;
    }
  };
  const element = (): XmlElement => {
    const open = /^<([A-Za-z_][\w:.-]*)/.exec(xml.slice(i)) ?? fail('expected an element');
    const el: XmlElement = { name: open[1] as string, attrs: {}, children: [], text: '' };
    i += open[0].length;
    for (;;) {
      const attr = /^\s+([A-Za-z_][\w:.-]*)\s*=\s*("([^"]*)"|'([^']*)')/.exec(xml.slice(i));
      if (!attr) break;
      const name = attr[1] as string;
      if (name in el.attrs) fail(`duplicate attribute ${name}`);
      const value = attr[3] ?? attr[4] ?? '';
      checkText(value);
      el.attrs[name] = value
        .replace(/&quot;/g, '"')
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&amp;/g, '&');
      i += attr[0].length;
    }
    const end = /^\s*(\/?)>/.exec(xml.slice(i)) ?? fail('bad tag end');
    i += end[0].length;
    if (end[1] === '/') return el;
    for (;;) {
      if (xml.startsWith(`</${el.name}`, i)) {
        const close = new RegExp(`^</${el.name}\\s*>`).exec(xml.slice(i)) ?? fail('bad close tag');
        i += close[0].length;
        return el;
      }
      if (xml.startsWith('<![CDATA[', i)) {
        const stop = xml.indexOf(']]>', i);
        if (stop < 0) fail('unterminated CDATA');
        el.text += xml.slice(i + 9, stop);
        i = stop + 3;
      } else if (xml.startsWith('<!--', i)) {
        i = xml.indexOf('-->', i) + 3;
      } else if (xml.startsWith('</', i)) {
        fail(`mismatched close tag inside <${el.name}>`);
      } else if (xml[i] === '<') {
        el.children.push(element());
      } else {
        const stop = xml.indexOf('<', i);
        if (stop < 0) fail(`unterminated <${el.name}>`);
        const text = xml.slice(i, stop);
        checkText(text);
        el.text += text
          .replace(/&lt;/g, '<')
          .replace(/&gt;/g, '>')
          .replace(/&quot;/g, '"')
          .replace(/&amp;/g, '&');
        i = stop;
      }
    }
  };
  skipMisc();
  const root = element();
  skipMisc();
  if (i !== xml.length) fail('content after the root element');
  return root;
}

function all(el: XmlElement): XmlElement[] {
  return [el, ...el.children.flatMap(all)];
}

function textOf(el: XmlElement): string {
  return [el.text, ...el.children.map(textOf)].join(' ');
}

// ---------------------------------------------------------------- tests

describe('chart model', () => {
  it('has every state of the machine definition, in order, with its entry and exit actions', () => {
    expect(model.states.map((s) => s.id)).toEqual(states);
    for (const node of descendants(machine.root)) {
      const state = model.states.find((s) => s.id === node.path.join('.'));
      expect(state?.entry).toEqual(node.entry.map(actionName));
      expect(state?.exit).toEqual(node.exit.map(actionName));
    }
    expect(model.initial).toBe(machine.root.initial?.target?.[0]?.path.join('.'));
  });

  it('has every transition of the definition (root rules included) and nothing else', () => {
    expect(model.transitions).toHaveLength(transitions.length);
    for (const t of transitions) {
      const found = model.transitions.find((m) => m.source === t.source && m.event === t.event && m.order === t.order);
      expect(found, `${t.source}: ${label(t, true)}`).toMatchObject({ target: t.target, actions: t.actions, reenter: t.reenter });
      expect(found?.guard).toBe(t.guard);
    }
    // The rules of every role are there, with the machine id as their source.
    const rootRules = [...machine.root.transitions.values()].flat().length + (machine.root.always?.length ?? 0);
    expect(rootRules).toBeGreaterThan(0);
    expect(model.transitions.filter((t) => t.source === machine.root.id)).toHaveLength(rootRules);
  });

  it('names an xstate transition definition with the id of its chart transition', () => {
    for (const node of [machine.root, ...descendants(machine.root)]) {
      for (const t of [...(node.always ?? []), ...[...node.transitions.values()].flat()]) {
        expect(model.transitions.map((m) => m.id)).toContain(transitionId(t));
      }
    }
  });
});

describe('xstate-raft chart --format mermaid', () => {
  const text = toMermaid(model);
  const lines = text.split('\n');

  it('declares every state and marks the initial one', () => {
    for (const id of states) expect(lines).toContain(`  state ${id.replace(/\W/g, '_')}`);
    expect(lines).toContain(`  [*] --> ${model.initial}`);
  });

  it('draws every change of state as an arrow labelled event [guard] / actions, and no other arrow', () => {
    for (const t of targeted) expect(lines, label(t, true)).toContain(`  ${t.source} --> ${t.target} : ${label(t, true)}`);
    expect(lines.filter((l) => / --> /.test(l) && !l.includes('[*]'))).toHaveLength(targeted.length);
  });

  it('lists, beside each state with rules that keep it, all its rules in the order they are tried', () => {
    const notes = new Map<string, string[]>();
    let current: string[] | undefined;
    for (const line of lines) {
      const open = /^ {2}note right of (\S+)$/.exec(line);
      if (open) notes.set(open[1] as string, (current = []));
      else if (line === '  end note') current = undefined;
      else if (current && line !== '    rules, tried in order:') current.push(line.trim());
    }
    for (const source of new Set(inPlace.map((t) => t.source))) {
      expect(notes.get(source)).toEqual(transitions.filter((t) => t.source === source).map(rule));
    }
    expect([...notes.keys()].sort()).toEqual([...new Set(inPlace.map((t) => t.source))].sort());
  });
});

describe('xstate-raft chart --format dot', () => {
  const text = toDot(model);
  const html = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

  it('is one digraph with a node per state', () => {
    expect(text.startsWith('// ')).toBe(true);
    expect(text.match(/^digraph /gm)).toHaveLength(1);
    expect(text.trimEnd().endsWith('}')).toBe(true);
    for (const id of states) expect(text).toMatch(new RegExp(`^ {2}"${id}" \\[label=<`, 'm'));
  });

  it("has an edge per change of state, and a row per rule in its state's box", () => {
    for (const t of targeted) expect(text).toContain(`  "${t.source}" -> "${t.target}" [label="${label(t, true)}"`);
    expect(text.match(/^ {2}"(?!__initial)[^"]+" -> /gm)).toHaveLength(targeted.length);
    for (const t of transitions) {
      const nodeLine = text.split('\n').find((l) => l.startsWith(`  "${t.source}" [`)) ?? '';
      expect(nodeLine, rule(t)).toContain(`<font point-size="9">${html(rule(t))}</font>`);
    }
  });
});

describe('xstate-raft chart --format svg', () => {
  const svg = toSvg(model);
  const doc = parseXml(svg);
  const elements = all(doc);
  const classed = (cls: string) => elements.filter((e) => (e.attrs.class ?? '').split(' ').includes(cls));

  it('is well-formed XML: one <svg> root, about 900 px wide', () => {
    expect(doc.name).toBe('svg');
    expect(doc.attrs.xmlns).toBe('http://www.w3.org/2000/svg');
    expect(Number(doc.attrs.width)).toBeGreaterThanOrEqual(900);
    expect(Number(doc.attrs.width)).toBeLessThanOrEqual(960);
    expect(doc.attrs.viewBox).toBe(`0 0 ${doc.attrs.width} ${doc.attrs.height}`);
    expect(() => parseXml(svg.replace('</svg>', ''))).toThrow();
  });

  it('has exactly one state group per state (and one "any role" group), for a dashboard to highlight', () => {
    const groups = classed('state');
    const ids = groups.filter((g) => !g.attrs.class?.includes('any-role')).map((g) => g.attrs['data-state']);
    expect(ids).toEqual(states);
    expect(groups.filter((g) => g.attrs.class?.includes('any-role')).map((g) => g.attrs['data-state'])).toEqual([machine.root.id]);
    for (const g of groups) expect(g.attrs.id).toBe(`raft-chart-state-${g.attrs['data-state']}`);
    const style = elements.find((e) => e.name === 'style')?.text ?? '';
    for (const id of states) expect(style).toContain(`[data-active~="${id}"] .state[data-state="${id}"]`);
  });

  it("lists every transition in its state's table, with event, guard, actions and target", () => {
    const rows = classed('transition');
    expect(rows).toHaveLength(transitions.length);
    for (const t of transitions) {
      const row = rows.find((r) => r.attrs['data-source'] === t.source && r.attrs['data-transition'] === `${t.source}:${t.event}:${t.order}`);
      expect(row, label(t, true)).toBeDefined();
      const cells = (row as XmlElement).children.filter((c) => c.name === 'g').flatMap((g) => g.children.map((c) => c.text.trim()));
      expect(cells[0]).toBe(t.event);
      expect(cells[1]).toBe(t.guard ?? '—');
      expect(cells.slice(2, -1).join(' ').replace(/\s+/g, ' ')).toBe(t.actions.length > 0 ? t.actions.join(', ') : '—');
      expect(cells.at(-1)).toBe(t.target === null ? 'stays' : `${t.target}${t.reenter ? ' (re-enter)' : ''}`);
      const table = elements.find((e) => e.attrs.class === 'rules' && e.attrs['data-state'] === t.source);
      expect(table && all(table).includes(row as XmlElement)).toBe(true);
    }
  });

  it('draws an arrow for every change of state, labelled with its event and guard', () => {
    const arcs = classed('arc');
    for (const t of targeted) {
      const id = `${t.source}:${t.event}:${t.order}`;
      const arc = arcs.find((a) => (a.attrs['data-transitions'] ?? '').split(' ').includes(id));
      expect(arc, label(t, true)).toMatchObject({ attrs: { 'data-source': t.source, 'data-target': t.target } });
      // An arrow to another state carries a label; a re-entry is listed inside its state's box.
      const where =
        t.target === t.source
          ? classed('state').find((g) => g.attrs['data-state'] === t.source)
          : classed('arc-label').find((l) => (l.attrs['data-transitions'] ?? '').split(' ').includes(id));
      const text = textOf(where as XmlElement).replace(/\s+/g, ' ');
      expect(text, label(t, true)).toContain(t.event);
      if (t.guard !== undefined) expect(text).toContain(`[${t.guard}]`);
    }
  });
});

describe('a chart follows the definition it is given', () => {
  const small = setup({
    guards: { isReady: () => true },
    actions: { greet: () => {}, wave: () => {} },
  }).createMachine({
    id: 'agent',
    initial: 'idle',
    on: { reset: { target: '.idle' } },
    states: {
      idle: { entry: 'greet', on: { go: { guard: 'isReady', target: 'busy', actions: 'wave' }, ping: { actions: 'wave' } } },
      busy: { exit: 'wave', always: { target: 'done' } },
      done: { type: 'final' },
    },
  });
  const m = chartModel(small);

  it('reads states and transitions of any machine', () => {
    expect(m.states.map((s) => s.id)).toEqual(['idle', 'busy', 'done']);
    expect(m.transitions.map((t) => `${t.source}|${t.event}|${t.guard ?? ''}|${t.target ?? ''}|${t.actions.join()}`)).toEqual([
      'agent|reset||idle|',
      'idle|go|isReady|busy|wave',
      'idle|ping|||wave',
      'busy|always||done|',
    ]);
  });

  it('draws them in every format', () => {
    expect(toMermaid(m)).toContain('  idle --> busy : go [isReady] / wave');
    expect(toMermaid(m)).toContain('  agent --> idle : reset');
    expect(toDot(m)).toContain('  "busy" -> "done" [label="always"]');
    const doc = parseXml(toSvg(m, { idPrefix: 'small' }));
    expect(
      all(doc)
        .filter((e) => e.attrs.class === 'state')
        .map((e) => e.attrs['data-state']),
    ).toEqual(['idle', 'busy', 'done']);
    expect(doc.attrs.id).toBe('small');
  });
});

describe('runChart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xstate-raft-chart-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the chart to stdout in the chosen format', () => {
    let out = '';
    expect(runChart({ format: 'mermaid' }, (t) => (out += t))).toBe(0);
    expect(out).toBe(toMermaid(model));
  });

  it('writes the chart to a file, the format taken from its extension unless given', () => {
    const lines: string[] = [];
    expect(runChart({ output: join(dir, 'docs', 'statechart.svg') }, (t) => lines.push(t))).toBe(0);
    expect(readFileSync(join(dir, 'docs', 'statechart.svg'), 'utf8')).toBe(toSvg(model));
    expect(runChart({ output: join(dir, 'chart.gv') }, (t) => lines.push(t))).toBe(0);
    expect(readFileSync(join(dir, 'chart.gv'), 'utf8')).toBe(toDot(model));
    expect(runChart({ format: 'mermaid', output: join(dir, 'chart.txt') }, (t) => lines.push(t))).toBe(0);
    expect(readFileSync(join(dir, 'chart.txt'), 'utf8')).toBe(toMermaid(model));
    expect(lines[0]).toMatch(/^wrote .*statechart\.svg \(svg: \d+ states, \d+ transitions\)\n$/);
  });

  it('refuses an unknown format (exit 2) and reports an unwritable file (exit 1)', () => {
    const errors: string[] = [];
    expect(
      runChart(
        { format: 'png' as 'svg' },
        () => {},
        (e) => errors.push(e),
      ),
    ).toBe(2);
    expect(
      runChart(
        { output: join(dir, 'chart.txt', 'x.svg') },
        () => {},
        (e) => errors.push(e),
      ),
    ).toBe(1);
    expect(errors[0]).toMatch(/unknown chart format "png"/);
    expect(errors[1]).toMatch(/cannot write/);
  });
});

describe('the statechart pictures in the repository', () => {
  it('src/docs/statechart.svg and .mmd are what `xstate-raft chart` draws today (regenerate: npm run chart)', async () => {
    const { readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { chartModel: model, toSvg: svg, toMermaid: mermaid } = await import('../../src/chart/statechart.js');
    const docs = join(import.meta.dirname, '..', '..', 'src', 'docs');
    expect(readFileSync(join(docs, 'statechart.svg'), 'utf8').trim()).toBe(svg(model()).trim());
    expect(readFileSync(join(docs, 'statechart.mmd'), 'utf8').trim()).toBe(mermaid(model()).trim());
  });
});
