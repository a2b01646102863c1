/**
 * The Agents panel: one row per agent of the demo's team (GET /api/agents, polled) — the state of
 * its agent machine (the worker region; the whole state value in the tooltip), the claim it works
 * on, the coordinator lease it seeks or holds, what it got done — and its controls: "Kill" crashes
 * it (its claim and lease are left to expire, for another agent to take the task under a larger
 * token), "Restart" starts it again. A control only asks; the next poll shows what happened.
 */
import { attr, h, text } from './dom.js';
import type { DashboardState } from './state.js';
import type { AgentView } from './types.js';

export type AgentAction = 'kill' | 'restart';

interface Row {
  root: HTMLElement;
  state: HTMLElement;
  claim: HTMLElement;
  lease: HTMLElement;
  counts: HTMLElement;
  buttons: Record<AgentAction, HTMLButtonElement>;
}

export class AgentsPanel {
  private readonly rows = new Map<string, Row>();
  private readonly list: HTMLElement;
  private readonly note: HTMLElement;

  constructor(
    private readonly panel: HTMLElement,
    host: HTMLElement,
    private readonly onAction: (name: string, action: AgentAction, button: HTMLButtonElement) => void,
  ) {
    this.note = h('p', { class: 'coord-note muted', 'aria-live': 'polite' }, 'Reading the agents…');
    this.list = h('div', { class: 'agent-list' });
    host.append(this.note, this.list);
  }

  render(state: DashboardState): void {
    this.panel.hidden = state.cluster?.controls.agents !== true;
    const agents = state.agents ?? [];
    text(
      this.note,
      state.agentsError !== null ? `Cannot read the agents: ${state.agentsError}` : state.agents === null ? 'Reading the agents…' : agents.length === 0 ? 'No agents.' : '',
    );
    this.note.hidden = this.note.textContent === '';
    const names = agents.map((a) => a.name);
    for (const [name, row] of this.rows) {
      if (!names.includes(name)) {
        row.root.remove();
        this.rows.delete(name);
      }
    }
    agents.forEach((agent, i) => {
      let row = this.rows.get(agent.name);
      if (row === undefined) {
        row = this.create(agent.name);
        this.rows.set(agent.name, row);
      }
      if (this.list.children[i] !== row.root) this.list.insertBefore(row.root, this.list.children[i] ?? null);
      this.update(row, agent);
    });
  }

  private create(name: string): Row {
    const state = h('span', { class: 'agent-state', 'data-field': 'state' }, '…');
    const claim = h('span', { class: 'agent-detail', 'data-field': 'claim' });
    const lease = h('span', { class: 'agent-detail muted', 'data-field': 'lease' });
    const counts = h('span', { class: 'agent-detail muted', 'data-field': 'counts' });
    const buttons = {} as Record<AgentAction, HTMLButtonElement>;
    const actions = h('div', { class: 'actions', role: 'group', 'aria-label': `Controls for ${name}` });
    for (const [action, label, title] of [
      ['kill', 'Kill', `Crash ${name}: its claim and lease are left to expire`],
      ['restart', 'Restart', `Start ${name} again`],
    ] as const) {
      const button = h('button', { type: 'button', class: `btn small ${action}`, 'data-action': action, 'aria-label': title, title }, label);
      button.addEventListener('click', () => this.onAction(name, action, button));
      buttons[action] = button;
      actions.append(button);
    }
    const root = h(
      'article',
      { class: 'agent', 'data-agent': name, 'data-state': 'unknown', 'aria-label': `agent ${name}` },
      h('div', { class: 'agent-head' }, h('span', { class: 'agent-name' }, name), state, actions),
      h('div', { class: 'agent-details' }, claim, lease, counts),
    );
    return { root, state, claim, lease, counts, buttons };
  }

  private update(row: Row, agent: AgentView): void {
    attr(row.root, 'data-state', agent.state);
    attr(row.root, 'data-alive', String(agent.alive));
    text(row.state, agent.state);
    attr(row.state, 'title', agent.value);
    text(row.claim, agent.claim !== undefined ? `${agent.claim.id} · token ${agent.claim.token}` : agent.alive ? 'no claim' : '');
    const lease = agent.lease;
    text(row.lease, lease === undefined ? '' : `${lease.name} lease ${lease.state}${lease.token !== undefined ? ` · token ${lease.token}` : ''}`);
    row.lease.hidden = lease === undefined;
    text(row.counts, agent.alive ? `${agent.completed} done · ${agent.failed} failed · ${agent.lost} lost` : '');
    const b = row.buttons;
    b.kill.disabled = !agent.alive || b.kill.classList.contains('pending');
    b.restart.disabled = agent.alive || b.restart.classList.contains('pending');
  }
}
