import { randomRun, type Fault } from '../sim/random-run.js';

export interface SimCommandOptions {
  seed: number;
  seeds: number;
  nodes: number;
  duration: number;
  faults: Fault[];
}

/** `xstate-raft sim`: run one seed, or many, and report; returns the exit code. */
export function runSimCommand(options: SimCommandOptions, out: (line: string) => void = console.log): number {
  const started = performance.now();
  let passed = 0;
  let virtualMs = 0;
  const failures: string[] = [];
  for (let i = 0; i < options.seeds; i++) {
    const seed = options.seed + i;
    const result = randomRun({ seed, nodes: options.nodes, duration: options.duration, faults: options.faults });
    virtualMs += result.virtualMs;
    if (result.ok) {
      passed++;
      if (options.seeds === 1) {
        out(`seed ${seed}: ok — ${result.proposed} proposed, ${result.committed} committed, ${result.terms} terms, ${result.steps} steps checked, ${(result.virtualMs / 1000).toFixed(1)} s virtual`);
      }
    } else {
      const failure = result.failure as { rule: string; detail: string };
      failures.push(`seed ${seed}: VIOLATION ${failure.rule}: ${failure.detail}\n  replay: ${result.replay}`);
      out(failures[failures.length - 1] as string);
    }
  }
  const wallMs = performance.now() - started;
  out(
    `${passed}/${options.seeds} seeds passed, ${failures.length} violations; ${options.nodes} nodes, faults ${options.faults.join(',') || 'none'}; ` +
      `${(virtualMs / 1000).toFixed(0)} virtual s in ${(wallMs / 1000).toFixed(1)} wall s (${(virtualMs / wallMs).toFixed(1)} virtual s per wall s)`,
  );
  return failures.length === 0 ? 0 : 1;
}
