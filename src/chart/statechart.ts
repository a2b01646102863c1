/**
 * `xstate-raft chart`: the node statechart drawn from the machine definition itself.
 *
 *   chartModel(machine)  the definition read into plain data (states, transitions, guards, actions)
 *   toMermaid(model)     Mermaid stateDiagram-v2 (renders in GitHub markdown)
 *   toDot(model)         Graphviz dot
 *   toSvg(model)         a self-contained SVG, laid out here (no graphviz, no network), with one
 *                        `<g class="state" data-state="…">` per state for a dashboard to highlight
 *
 * Every format draws a state change as an arrow and lists every state's rules beside or under it
 * in the order XState tries them (the first whose guard passes is taken).
 */
export { chartModel, transitionId, transitionLabel, arrowLabel, ruleLabel, guardName, actionName, type ChartModel, type ChartState, type ChartTransition } from './model.js';
export { toMermaid } from './mermaid.js';
export { toDot } from './dot.js';
export { toSvg, type SvgOptions } from './svg.js';
