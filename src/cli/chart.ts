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
  const refused = outputError(options.format, options.output);
  if (refused !== undefined) {
    err(refused);
    return 2;
  }
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

/** Pictures this command does not draw: asking for one by the file name is refused, not answered with SVG. */
const RASTER_OR_DOCUMENT = ['.png', '.jpg', '.jpeg', '.gif', '.webp', '.bmp', '.tif', '.tiff', '.pdf', '.eps', '.ps'];

/** Refuse an output file whose extension says a format other than the one that would be written. */
function outputError(format: ChartFormat | undefined, output: string | undefined): string | undefined {
  if (output === undefined || output === '-') return undefined;
  const ext = extname(output).toLowerCase();
  if (ext === '') return undefined;
  if (RASTER_OR_DOCUMENT.includes(ext)) {
    return `error: chart writes ${CHART_FORMATS.join(', ')}, not ${ext.slice(1)}: use --output ${output.slice(0, -ext.length)}.svg and convert it (e.g. with rsvg-convert)`;
  }
  const implied = formatOf(output);
  if (implied === undefined && format === undefined) {
    return `error: cannot tell the chart format from ${JSON.stringify(ext)}: name the file .svg, .mmd or .dot, or pass --format`;
  }
  if (implied !== undefined && format !== undefined && implied !== format) {
    return `error: --format ${format} does not match ${output} (a ${implied} file name); drop --format or rename the file`;
  }
  return undefined;
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
