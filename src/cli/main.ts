#!/usr/bin/env node
/**
 * The `xstate-raft` command. Every command has --help; a bad flag or a missing value prints one
 * line and exits with code 2.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { runDemo } from './demo.js';
import { parseDuration, parseFaults, parseInteger } from './parse.js';
import { runSimCommand } from './sim.js';

export function buildProgram(): Command {
  const program = new Command('xstate-raft')
    .description('Raft consensus where every node is an XState v5 actor')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text.split('\n')[0] + '\n') })
    .showHelpAfterError(false);

  program
    .command('demo')
    .description('run a 3-node in-process cluster: elect, replicate, lose the leader, re-elect, and narrate it')
    .addOption(new Option('--nodes <n>', 'cluster size').argParser(parseInteger(1, 9)).default(3))
    .addOption(new Option('--seed <n>', 'seed of the election timeouts').argParser(parseInteger(0, 2 ** 31)).default(1))
    .action(async (opts: { nodes: number; seed: number }) => {
      process.exitCode = await runDemo(opts);
    });

  program
    .command('sim')
    .description('run seeded simulations of a faulty cluster, checking Raft safety after every step')
    .addOption(new Option('--seed <n>', 'first seed').argParser(parseInteger(0, 2 ** 31)).default(1))
    .addOption(new Option('--seeds <n>', 'how many seeds to run, from --seed on').argParser(parseInteger(1, 1_000_000)).default(1))
    .addOption(new Option('--nodes <n>', 'cluster size').argParser(parseInteger(1, 15)).default(5))
    .addOption(new Option('--duration <d>', 'virtual time of the faulty phase (30s, 500ms, 2m)').argParser(parseDuration).default(30_000, '30s'))
    .addOption(new Option('--faults <list>', 'all, none, or a list of partition,crash,network').argParser(parseFaults).default(parseFaults('all'), 'all'))
    .action((opts: { seed: number; seeds: number; nodes: number; duration: number; faults: ReturnType<typeof parseFaults> }) => {
      process.exitCode = runSimCommand(opts);
    });

  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return 0;
      return 2;
    }
    throw error;
  }
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error));
      process.exitCode = 1;
    },
  );
}
