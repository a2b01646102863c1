/**
 * `xstate-raft chart`: write the node statechart, drawn from the machine definition, as SVG,
 * Mermaid or Graphviz dot — to a file or to stdout.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, extname } from 'node:path';
import type { AnyStateMachine } from 'xstate';
import { chartModel, toDot, toMermaid, toSvg } from '../chart/statechart.js';

export const CHART_FORMATS = ['svg', 'mermaid', 'dot'] as const;
export type ChartFormat = (typeof CHART_FORMATS)[number];

export interface ChartCommandOptions {
  /** Default: from the output file's extension (.svg, .mmd / .mermaid, .dot / .gv), else svg. */
  format?: ChartFormat;
  /** File to write; stdout if absent. */
  output?: string;
  /** The machine to draw (default: the Raft node machine). */
  machine?: AnyStateMachine;
}

/** Render the chart; returns the exit code (0 ok, 1 could not write, 2 bad format). */
export function runChart(
  options: ChartCommandOptions,
  out: (text: string) => void = (text) => void process.stdout.write(text),
  err: (line: string) => void = (line) => console.error(line),
): number {
  const format = options.format ?? formatOf(options.output) ?? 'svg';
  if (!(CHART_FORMATS as readonly string[]).includes(format)) {
    err(`error: unknown chart format ${JSON.stringify(format)}; use one of ${CHART_FORMATS.join(', ')}`);
    return 2;
  }
  const model = chartModel(options.machine);
  const text = format === 'svg' ? toSvg(model) : format === 'mermaid' ? toMermaid(model) : toDot(model);
  if (options.output === undefined || options.output === '-') {
    out(text);
    return 0;
  }
  try {
    mkdirSync(dirname(options.output), { recursive: true });
    writeFileSync(options.output, text);
  } catch (error) {
    err(`error: cannot write ${options.output}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
  out(`wrote ${options.output} (${format}: ${model.states.length} states, ${model.transitions.length} transitions)\n`);
  return 0;
}

function formatOf(file: string | undefined): ChartFormat | undefined {
  switch (file === undefined ? '' : extname(file).toLowerCase()) {
    case '.svg':
      return 'svg';
    case '.mmd':
    case '.mermaid':
      return 'mermaid';
    case '.dot':
    case '.gv':
      return 'dot';
    default:
      return undefined;
  }
}
