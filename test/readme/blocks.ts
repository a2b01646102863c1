/**
 * The README's runnable code blocks, read from the Markdown itself.
 *
 * Convention: a fenced block whose info string is `ts run` or `sh run` (GitHub highlights it by
 * its first word, so it renders as plain TypeScript / shell) is executed by test/readme, exactly
 * as printed. Any other block (`ts`, `sh`, no info string) is only shown.
 *
 * A line may say what it prints, and the test checks it:
 * - TypeScript: `console.log(…); // → text` — `text` is one line of the program's output
 *   (lines with an arrow must appear in this order; other output may come between them).
 * - Shell: `command   # → {json}` — the command's whole output is that JSON value (compared
 *   as JSON; words after the JSON value are a comment).
 */

export interface ReadmeBlock {
  lang: 'ts' | 'sh';
  code: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The nearest heading above the block. */
  heading: string;
}

export function runnableBlocks(markdown: string): ReadmeBlock[] {
  const lines = markdown.split('\n');
  const blocks: ReadmeBlock[] = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const fence = /^(`{3,})\s*([^`]*)$/.exec(line);
    if (fence === null) {
      const h = /^#{1,6}\s+(.*)$/.exec(line);
      if (h) heading = (h[1] as string).trim();
      continue;
    }
    const [ticks, info] = [fence[1] as string, (fence[2] as string).trim().split(/\s+/)];
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !(lines[i] as string).startsWith(ticks); i++) body.push(lines[i] as string);
    const [lang, ...flags] = info;
    if (!flags.includes('run')) continue;
    if (lang !== 'ts' && lang !== 'sh') throw new Error(`README line ${start + 1}: a runnable block must be \`ts run\` or \`sh run\`, not \`${info.join(' ')}\``);
    blocks.push({ lang, code: `${body.join('\n')}\n`, line: start + 1, heading });
  }
  return blocks;
}

/** `console.log(…); // → text` lines of a TS block: the output lines expected, in order. */
export function expectedOutputLines(code: string): string[] {
  return code
    .split('\n')
    .filter((line) => /console\.log\(/.test(line))
    .map((line) => /\/\/ → (.*)$/.exec(line)?.[1]?.trim())
    .filter((text): text is string => text !== undefined);
}

/** Whether `expected` occur in `output`'s lines in this order (each a whole line, trimmed). */
export function inOrder(output: string, expected: readonly string[]): { ok: true } | { ok: false; missing: string } {
  const lines = output.split('\n').map((l) => l.trim());
  let at = 0;
  for (const want of expected) {
    const found = lines.indexOf(want, at);
    if (found < 0) return { ok: false, missing: want };
    at = found + 1;
  }
  return { ok: true };
}

/** A shell block's commands: one per line, `\` continuations joined, blank lines dropped. */
export function shellCommands(code: string): { command: string; expected?: unknown }[] {
  const joined = code.replace(/\\\n\s*/g, ' ');
  return joined
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.trim().startsWith('#'))
    .map((line) => {
      const arrow = line.indexOf('# → ');
      if (arrow < 0) return { command: line };
      return { command: line, expected: firstJsonValue(line.slice(arrow + 4)) };
    });
}

/** The JSON value at the start of `text` (an object or array, or a scalar up to whitespace). */
export function firstJsonValue(text: string): unknown {
  const s = text.trim();
  if (s.startsWith('{') || s.startsWith('[')) {
    const close = s[0] === '{' ? '}' : ']';
    for (let end = s.indexOf(close); end >= 0; end = s.indexOf(close, end + 1)) {
      try {
        return JSON.parse(s.slice(0, end + 1));
      } catch {
        // not the closing bracket yet
      }
    }
  }
  const word = s.split(/\s/)[0] ?? '';
  try {
    return JSON.parse(word);
  } catch {
    throw new Error(`"# → ${text}" does not start with a JSON value`);
  }
}
