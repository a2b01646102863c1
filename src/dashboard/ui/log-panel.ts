/** The cluster's own narration ("n2 killed", "workload paused") and the page's control errors. */
import { clock, h } from './dom.js';
import type { DashboardState } from './state.js';

const SHOWN = 120;

export class LogPanel {
  private readonly list: HTMLElement;
  private rendered = 0;
  private lastFirst: unknown = null;

  constructor(host: HTMLElement) {
    this.list = h('ol', { class: 'log-lines', 'aria-live': 'polite', 'aria-relevant': 'additions' });
    host.append(this.list);
  }

  render(state: DashboardState): void {
    const lines = state.log.slice(-SHOWN);
    const stick = this.list.scrollTop + this.list.clientHeight >= this.list.scrollHeight - 8;
    // Append only what is new unless old lines were dropped meanwhile.
    if (lines[0] !== this.lastFirst || this.rendered > lines.length) {
      this.list.replaceChildren();
      this.rendered = 0;
    }
    for (const line of lines.slice(this.rendered)) {
      this.list.append(h('li', { class: `line ${line.level}` }, h('time', {}, clock(line.time)), h('span', {}, line.text)));
    }
    this.rendered = lines.length;
    this.lastFirst = lines[0] ?? null;
    if (stick) this.list.scrollTop = this.list.scrollHeight;
  }
}
