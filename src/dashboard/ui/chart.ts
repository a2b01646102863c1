/**
 * The node statechart, fetched from the server (drawn there from the machine definition) and
 * inlined so each node's current state can be marked: a badge per node on its state, the
 * occupied states outlined in their role's colour, and the selected node's state singled out
 * through the chart's own `data-active` hook.
 *
 * The server's chart also lists every rule under the diagram; the panel shows the diagram alone
 * (the viewBox cropped to the states and arrows) until "Show rules" is pressed.
 */
import { api } from './api.js';
import { attr, h, s, SVG_NS, text } from './dom.js';
import type { DashboardState } from './state.js';

interface Anchor {
  x: number;
  y: number;
  w: number;
}

export class Chart {
  private svg: SVGSVGElement | null = null;
  private readonly badges = s('g', { class: 'node-badges' });
  private readonly anchors = new Map<string, Anchor>();
  private measured = false;
  private fullViewBox = '';
  private compactViewBox = '';
  private loading = false;
  private readonly status: HTMLElement;
  private readonly toggle: HTMLButtonElement;
  private readonly frame: HTMLElement;
  private showRules = false;
  private lastKey = '';

  constructor(
    private readonly host: HTMLElement,
    toolbar: HTMLElement,
  ) {
    this.status = h('p', { class: 'muted chart-status' }, 'Loading the statechart…');
    this.frame = h('div', { class: 'chart-frame', 'data-testid': 'chart' });
    this.toggle = h('button', { type: 'button', class: 'btn small ghost', 'aria-pressed': 'false', disabled: true }, 'Show rules');
    this.toggle.addEventListener('click', () => {
      this.showRules = !this.showRules;
      attr(this.toggle, 'aria-pressed', String(this.showRules));
      text(this.toggle, this.showRules ? 'Hide rules' : 'Show rules');
      this.applyViewBox();
    });
    toolbar.append(this.toggle);
    host.append(this.status, this.frame);
  }

  /** Fetch once; called again after a reconnect if the first attempt failed. */
  async load(): Promise<void> {
    if (this.svg !== null || this.loading) return;
    this.loading = true;
    try {
      const res = await fetch(api.chart);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const doc = new DOMParser().parseFromString(await res.text(), 'image/svg+xml');
      const root = doc.documentElement;
      if (root.nodeName !== 'svg' || doc.getElementsByTagName('parsererror').length > 0) throw new Error('not an SVG');
      sanitize(root);
      const svg = document.importNode(root, true) as unknown as SVGSVGElement;
      this.frame.replaceChildren(svg);
      this.svg = svg;
      this.prepare(svg);
      this.status.remove();
      this.toggle.disabled = false;
      this.lastKey = '';
    } catch (error) {
      text(this.status, `The statechart could not be loaded (${error instanceof Error ? error.message : String(error)}); retrying on reconnect.`);
    } finally {
      this.loading = false;
    }
  }

  get loaded(): boolean {
    return this.svg !== null;
  }

  render(state: DashboardState): void {
    const svg = this.svg;
    if (svg === null) return;
    if (!this.measured) {
      this.measure(svg);
      if (this.measured) this.lastKey = ''; // badges can be placed now
    }
    const occupants = new Map<string, { id: string; role: string }[]>();
    for (const n of state.upNodes()) {
      const list = occupants.get(n.role) ?? [];
      list.push({ id: n.id, role: n.role });
      occupants.set(n.role, list);
    }
    const selected = state.nodes.get(state.selected ?? '');
    const active = selected?.up === true ? selected.role : null;
    const key = JSON.stringify([[...occupants], active]);
    if (key === this.lastKey) return;
    this.lastKey = key;

    for (const el of svg.querySelectorAll<SVGGElement>('.state[data-state]')) {
      const name = el.dataset['state'] ?? '';
      el.classList.toggle('active', occupants.has(name));
      el.classList.toggle('selected-state', name === active);
      const who = occupants.get(name) ?? [];
      attr(el, 'data-nodes', who.length > 0 ? who.map((w) => w.id).join(' ') : null);
    }
    // The chart's own hook: its embedded style highlights the state and its rule table.
    attr(svg, 'data-active', active);

    this.badges.replaceChildren();
    for (const [name, who] of occupants) {
      const anchor = this.anchors.get(name);
      if (anchor === undefined) continue;
      const widths = who.map((w) => 16 + w.id.length * 7.4);
      const total = widths.reduce((a, b) => a + b, 0) + (who.length - 1) * 4;
      let x = anchor.x + anchor.w / 2 - total / 2;
      who.forEach((w, i) => {
        const width = widths[i] ?? 24;
        this.badges.append(
          s(
            'g',
            { class: 'node-badge', 'data-badge': w.id, 'data-role': w.role },
            s('title', {}, `${w.id} is ${w.role}`),
            s('rect', { x: x.toFixed(1), y: (anchor.y - 10).toFixed(1), width: width.toFixed(1), height: 20, rx: 10 }),
            s('text', { x: (x + width / 2).toFixed(1), y: (anchor.y + 4).toFixed(1), 'text-anchor': 'middle' }, w.id),
          ),
        );
        x += width + 4;
      });
    }
  }

  private prepare(svg: SVGSVGElement): void {
    const width = Number.parseFloat(svg.getAttribute('width') ?? '') || 800;
    const height = Number.parseFloat(svg.getAttribute('height') ?? '') || 400;
    this.fullViewBox = svg.getAttribute('viewBox') ?? `0 0 ${width} ${height}`;
    svg.setAttribute('viewBox', this.fullViewBox);
    svg.removeAttribute('width');
    svg.removeAttribute('height');
    svg.setAttribute('preserveAspectRatio', 'xMidYMin meet');
    svg.append(this.badges);
    this.anchors.clear();
    this.compactViewBox = '';
    this.measured = false;
  }

  /**
   * Where each state's badges go (its box's bottom edge, in the chart's own coordinates) and
   * the box that holds the diagram without the rule tables. Needs the chart laid out.
   */
  private measure(svg: SVGSVGElement): void {
    const screen = svg.getScreenCTM();
    if (screen === null) return;
    const toChart = screen.inverse();
    // An element's bounding box in the chart's own coordinates (through any transforms).
    const box = (el: SVGGraphicsElement) => {
      const b = el.getBBox();
      const m = toChart.multiply(el.getScreenCTM() ?? screen);
      const p = new DOMPoint(b.x, b.y).matrixTransform(m);
      const q = new DOMPoint(b.x + b.width, b.y + b.height).matrixTransform(m);
      return { x: Math.min(p.x, q.x), y: Math.min(p.y, q.y), x2: Math.max(p.x, q.x), y2: Math.max(p.y, q.y) };
    };
    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    const grow = (b: { x: number; y: number; x2: number; y2: number }) => {
      minX = Math.min(minX, b.x);
      minY = Math.min(minY, b.y);
      maxX = Math.max(maxX, b.x2);
      maxY = Math.max(maxY, b.y2);
    };
    for (const el of svg.querySelectorAll<SVGGraphicsElement>('.state[data-state]')) {
      const b = box(el);
      if (b.x2 - b.x <= 0) return; // not laid out yet (hidden panel): try again next render
      // The box itself is the state's first shape; its bottom edge is where the badges sit.
      const shape = el.querySelector<SVGGraphicsElement>('rect, ellipse, circle, path, polygon');
      const edge = shape !== null ? box(shape) : b;
      this.anchors.set(el.dataset['state'] ?? '', { x: edge.x, y: edge.y2, w: edge.x2 - edge.x });
      grow(b);
    }
    for (const el of svg.querySelectorAll<SVGGraphicsElement>('.arc, .arc-label')) grow(box(el));
    if (Number.isFinite(minX)) {
      const pad = 12;
      const [, , fullW = 0, fullH = 0] = this.fullViewBox.split(/[\s,]+/).map(Number);
      const x = Math.max(0, minX - pad);
      const y = Math.max(0, minY - pad);
      this.compactViewBox = [x, y, Math.min(fullW, maxX + pad) - x, Math.min(fullH, maxY + pad) - y].map((v) => v.toFixed(1)).join(' ');
    }
    this.measured = true;
    this.applyViewBox();
  }

  private applyViewBox(): void {
    if (this.svg === null) return;
    const compact = !this.showRules && this.compactViewBox !== '';
    this.svg.setAttribute('viewBox', compact ? this.compactViewBox : this.fullViewBox);
    this.host.classList.toggle('compact', compact);
  }
}

/** The chart comes from our own server, but inlining markup deserves the usual care. */
function sanitize(root: Element): void {
  for (const el of [...root.querySelectorAll('script, foreignObject, iframe')]) el.remove();
  for (const el of [root, ...root.querySelectorAll('*')]) {
    for (const { name, value } of [...el.attributes]) {
      const lower = name.toLowerCase();
      if (lower.startsWith('on')) el.removeAttribute(name);
      else if ((lower === 'href' || lower === 'xlink:href') && !value.startsWith('#')) el.removeAttribute(name);
    }
  }
  if (root.namespaceURI !== SVG_NS) throw new Error('not an SVG');
}
