#!/usr/bin/env node
/**
 * The `xstate-raft` command. Every command has --help; a bad flag or a missing value prints one
 * line and exits with code 2.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { runKv, runStatus, type ClientTarget } from './client.js';
import { registerCoordCommands } from './coord.js';
import { runMember, type AdminTarget, type MemberCommand } from './member.js';
import { runCluster, type ClusterCommandOptions } from './cluster.js';
import { CHART_FORMATS, runChart, type ChartFormat } from './chart.js';
import { runDashboard } from './dashboard.js';
import { startInspectorServer } from '../inspect/inspect.js';
import { runDemo, type DemoOptions } from './demo.js';
import { runTour } from './tour.js';
import { runNode, timingError, type NodeCommandOptions } from './node.js';
import { parseAddress, parseAddresses, parseDuration, parseFaults, parseHostPort, parseInteger, parseNodeId, parsePeers, parseRange } from './parse.js';
import { runSimCommand } from './sim.js';
import { registerMcpCommand } from './mcp.js';
import { DEFAULT_SNAPSHOT_THRESHOLD } from '../runtime/raft-node.js';
import { DEFAULT_ELECTION_TIMEOUT, DEFAULT_HEARTBEAT_INTERVAL } from '../core/node.js';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];
const logLevelOption = () => new Option('--log-level <level>', "the nodes' log level").choices(LOG_LEVELS).default('info');
const PEERS_HELP = 'host:port or id=host:port, comma-separated (default: $XSTATE_RAFT_PEERS)';
/** A node snapshots its state machine and compacts its log after this many applied entries. */
const snapshotThresholdOption = () =>
  new Option('--snapshot-threshold <n>', 'applied entries between snapshots: the log behind each snapshot is dropped').argParser(parseInteger(1, 1_000_000_000));
const clientTokenOption = () => new Option('--client-token <token>', 'bearer token of the client API (default: $XSTATE_RAFT_CLIENT_TOKEN)').env('XSTATE_RAFT_CLIENT_TOKEN');

/** This package's version, from the package.json above this file (src/cli under tsx, dist/src/cli when built). */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
}

export function buildProgram(): Command {
  const program = new Command('xstate-raft')
    .description('Raft consensus where every node is an XState v5 actor')
    .version(packageVersion(), '-V, --version', 'print the version')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`${text.split('\n')[0]}\n`) })
    .showHelpAfterError(false);

  program
    .command('demo')
    .description('start a local cluster of durable node processes, agents using it, and the live dashboard')
    .addOption(new Option('--nodes <n>', 'cluster size').argParser(parseInteger(1, 9)).default(3))
    .addOption(new Option('--port <port>', 'dashboard port (0 = any free port)').argParser(parseInteger(0, 65_535)).default(8700))
    .option('--no-workload', 'do not start the agents')
    .option('--data <dir>', 'where the nodes keep their data', './.data/demo')
    .option('--inspect', 'connect every node actor to the Stately inspector (local WebSocket server)', false)
    .option('--verbose', 'print every node log line', false)
    .addOption(logLevelOption())
    .action(async (opts: DemoOptions) => {
      process.exitCode = await runDemo(opts);
    });

  program
    .command('tour')
    .description('a narrated 3-node cluster in this process: elect, replicate, lose the leader, re-elect')
    .addOption(new Option('--nodes <n>', 'cluster size').argParser(parseInteger(1, 9)).default(3))
    .addOption(new Option('--seed <n>', 'seed of the election timeouts').argParser(parseInteger(0, 2 ** 31)).default(1))
    .action(async (opts: { nodes: number; seed: number }) => {
      process.exitCode = await runTour(opts);
    });

  program
    .command('dashboard')
    .description('the live dashboard for a running cluster')
    .addOption(new Option('--peers <list>', `every node: ${PEERS_HELP}`).argParser(parsePeers).env('XSTATE_RAFT_PEERS').makeOptionMandatory())
    .addOption(new Option('--port <port>', 'dashboard port (0 = any free port)').argParser(parseInteger(0, 65_535)).default(8700))
    // The nodes' /debug and /admin routes want their client token if they have one, else their secret.
    .addOption(new Option('--secret <secret>', 'the cluster secret, for nodes without a client token (default: $XSTATE_RAFT_SECRET)').env('XSTATE_RAFT_SECRET'))
    .addOption(
      new Option('--client-token <token>', "the nodes' client token: they want it on every route, in place of the secret (default: $XSTATE_RAFT_CLIENT_TOKEN)").env(
        'XSTATE_RAFT_CLIENT_TOKEN',
      ),
    )
    .action(async (opts: Parameters<typeof runDashboard>[0]) => {
      process.exitCode = await runDashboard(opts);
    });

  program
    .command('sim')
    .description("run seeded simulations of a faulty cluster, checking Raft safety after every step and the clients' KV history for linearizability")
    .addOption(new Option('--seed <n>', 'first seed').argParser(parseInteger(0, 2 ** 31)).default(1))
    .addOption(new Option('--seeds <n>', 'how many seeds to run, from --seed on').argParser(parseInteger(1, 1_000_000)).default(1))
    .addOption(new Option('--nodes <n>', 'cluster size').argParser(parseInteger(1, 15)).default(5))
    .addOption(new Option('--duration <d>', 'virtual time of the faulty phase (30s, 500ms, 2m)').argParser(parseDuration).default(30_000, '30s'))
    .addOption(new Option('--faults <list>', 'all, none, or a list of partition,crash,network').argParser(parseFaults).default(parseFaults('all'), 'all'))
    .addOption(new Option('--clients <n>', 'concurrent KV clients whose history is checked linearizable').argParser(parseInteger(1, 64)).default(3))
    .addOption(
      new Option('--snapshot-threshold <n>', 'each node snapshots and compacts its log after this many applied entries').argParser(parseInteger(1, 1_000_000_000)).default(25),
    )
    .option('--membership', 'also add, remove, promote and replace servers and transfer leadership as the run goes (the membership nemesis)')
    .addOption(
      new Option('--agents <n>', 'agents working a task queue with claims, fenced writes and a coordinator lease, crashing and pausing past their TTLs').argParser(
        parseInteger(1, 32),
      ),
    )
    .action(
      async (opts: {
        seed: number;
        seeds: number;
        nodes: number;
        duration: number;
        faults: ReturnType<typeof parseFaults>;
        clients: number;
        snapshotThreshold: number;
        membership?: boolean;
        agents?: number;
      }) => {
        // Progress only for a person at a terminal: a line per 10% on stderr, never in a pipe or a log.
        const progress = process.stderr.isTTY ? (line: string) => void process.stderr.write(`${line}\n`) : undefined;
        process.exitCode = await runSimCommand({ ...opts, ...(progress ? { progress } : {}) });
      },
    );

  program
    .command('node')
    .description('run one durable node (SQLite storage, HTTP transport and client API) in the foreground')
    .option('--id <id>', "this node's id in --peers (default: the entry whose address is --listen; required with --join)")
    .requiredOption('--listen <host:port>', "address to listen on: this node's own entry in --peers (or 0.0.0.0 and its port)", parseHostPort)
    .addOption(
      new Option(
        '--peers <list>',
        `the voters a new cluster starts with, this node included: ${PEERS_HELP}; host:port entries are named n1, n2, … by position. A restarted node takes its configuration from its data, not from --peers`,
      )
        .argParser(parsePeers)
        .env('XSTATE_RAFT_PEERS'),
    )
    .option(
      '--join <host:port>',
      'instead of --peers: a new, empty server for a running cluster; asks this member for the cluster id and the members, then waits to be added (xstate-raft member add)',
    )
    .option(
      '--cluster-id <id>',
      "the cluster's id: a new data directory stores it, an existing one must hold it (default: derived from --peers' ids, or the cluster's when joining; an existing directory keeps its own)",
    )
    .requiredOption('--data <dir>', 'data directory (created if missing)')
    .option('--secret <secret>', 'shared secret peers must prove (default: $XSTATE_RAFT_SECRET)')
    .addOption(clientTokenOption())
    .addOption(new Option('--election-timeout <ms-ms>', 'election timeout range').argParser(parseRange).default([...DEFAULT_ELECTION_TIMEOUT], DEFAULT_ELECTION_TIMEOUT.join('-')))
    .addOption(
      new Option('--heartbeat <ms>', 'heartbeat interval: at most a third of the shortest election timeout').argParser(parseInteger(1, 60_000)).default(DEFAULT_HEARTBEAT_INTERVAL),
    )
    .option('--tls-cert <file>', 'PEM certificate (with --tls-key: peers talk https)')
    .option('--tls-key <file>', 'PEM private key')
    .option('--tls-ca <file>', 'PEM CA to trust for peers')
    .option('--write-thread', 'write the log on a writer thread: the node keeps serving while a batch is fsynced, and what queued meanwhile is committed with it')
    .addOption(new Option('--body-limit <bytes>', 'largest request body').argParser(parseInteger(1024, 1 << 30)).default(4 * 1024 * 1024))
    .addOption(snapshotThresholdOption().default(DEFAULT_SNAPSHOT_THRESHOLD))
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default('info'))
    .option('--inspect [url]', 'send this node actor to a Stately inspector server (default ws://localhost:8080)')
    .action(async (opts: NodeCommandOptions) => {
      process.exitCode = await runNode(opts);
    });

  program
    .command('cluster')
    .description('start a local cluster of node processes; Ctrl-C stops them all')
    .addOption(new Option('--size <n>', 'number of nodes').argParser(parseInteger(1, 15)).default(3))
    .option('--data <dir>', 'data directory (one folder per node inside)', './data')
    .addOption(new Option('--base-port <port>', 'port of n1; n2 gets the next one, …').argParser(parseInteger(1, 65_000)).default(7001))
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--secret <secret>', 'shared secret for the peers (default: $XSTATE_RAFT_SECRET)')
    .addOption(clientTokenOption())
    .option('--election-timeout <ms-ms>', 'election timeout range, like 150-300')
    .addOption(new Option('--heartbeat <ms>', 'heartbeat interval: at most a third of the shortest election timeout').argParser(parseInteger(1, 60_000)))
    .addOption(snapshotThresholdOption())
    .addOption(logLevelOption())
    .action(async (opts: ClusterCommandOptions) => {
      const timing = timingError(opts.electionTimeout !== undefined ? parseRange(opts.electionTimeout) : DEFAULT_ELECTION_TIMEOUT, opts.heartbeat ?? DEFAULT_HEARTBEAT_INTERVAL);
      if (timing !== undefined) {
        console.error(`error: ${timing}`);
        process.exitCode = 2;
        return;
      }
      process.exitCode = await runCluster(opts);
    });

  const peersOption = () => new Option('--peers <list>', `nodes to ask: ${PEERS_HELP}`).argParser(parseAddresses).env('XSTATE_RAFT_PEERS').makeOptionMandatory();
  const timeoutOption = () => new Option('--timeout <ms>', 'give up after').argParser(parseInteger(1, 600_000)).default(5000);
  type ClientOpts = { peers: string[]; timeout: number; json?: boolean; clientToken?: string };
  const target = (opts: ClientOpts): ClientTarget => ({ addresses: opts.peers, timeoutMs: opts.timeout, ...(opts.clientToken ? { token: opts.clientToken } : {}) });
  const clientCommand = (command: Command) =>
    command.addOption(peersOption()).addOption(timeoutOption()).addOption(clientTokenOption()).option('--json', "print the node's JSON answer as is", false);
  const kv = program.command('kv').description('read and write the replicated key-value store');
  clientCommand(kv.command('get <key>').description('linearizable read of a key')).action(async (key: string, opts: ClientOpts) => {
    process.exitCode = await runKv('get', key, [], target(opts), opts.json);
  });
  clientCommand(kv.command('put <key> <value>').description('write a key (value: JSON, or else a string)')).action(async (key: string, value: string, opts: ClientOpts) => {
    process.exitCode = await runKv('put', key, [value], target(opts), opts.json);
  });
  clientCommand(kv.command('cas <key> <from> <to>').description('compare-and-set: write <to> only if the key holds <from>')).action(
    async (key: string, from: string, to: string, opts: ClientOpts) => {
      process.exitCode = await runKv('cas', key, [from, to], target(opts), opts.json);
    },
  );
  clientCommand(kv.command('delete <key>').description('delete a key')).action(async (key: string, opts: ClientOpts) => {
    process.exitCode = await runKv('delete', key, [], target(opts), opts.json);
  });
  clientCommand(kv.command('list [prefix]').description('linearizable list of the keys (with a prefix) and their values')).action(
    async (prefix: string | undefined, opts: ClientOpts) => {
      process.exitCode = await runKv('list', prefix ?? '', [], target(opts), opts.json);
    },
  );
  registerCoordCommands(program, (command) => command.addOption(peersOption()).addOption(timeoutOption()).addOption(clientTokenOption()));

  program
    .command('status')
    .description("show every node's role, term, leader and indexes")
    .addOption(peersOption())
    .addOption(new Option('--timeout <ms>', 'per node').argParser(parseInteger(1, 60_000)).default(2000))
    .addOption(clientTokenOption())
    .option('--json', 'print one JSON array, a status (or an error) per node', false)
    .action(async (opts: ClientOpts) => {
      process.exitCode = await runStatus(target(opts), undefined, opts.json);
    });

  registerMcpCommand(program, packageVersion);

  // Membership: the admin routes, which want the client token if the nodes have one, else the secret.
  type AdminOpts = { peers: string[]; timeout: number; json?: boolean; clientToken?: string; secret?: string };
  const adminTarget = (opts: AdminOpts): AdminTarget => {
    const token = opts.clientToken || opts.secret || undefined;
    return { addresses: opts.peers, timeoutMs: opts.timeout, ...(token ? { token } : {}) };
  };
  const adminCommand = (command: Command, timeoutMs: number, timeoutHelp = 'give up after') =>
    command
      .addOption(peersOption())
      .addOption(new Option('--timeout <ms>', timeoutHelp).argParser(parseInteger(1, 3_600_000)).default(timeoutMs))
      .addOption(clientTokenOption())
      .addOption(new Option('--secret <secret>', 'the cluster secret, for nodes without a client token (default: $XSTATE_RAFT_SECRET)').env('XSTATE_RAFT_SECRET'))
      .option('--json', "print the node's JSON answer as is", false);
  const runAdmin = async (command: MemberCommand, opts: AdminOpts) => {
    process.exitCode = await runMember(command, adminTarget(opts), opts.json);
  };
  const member = program.command('member').description("list and change the cluster's members (one server at a time; answered once the change is committed)");
  adminCommand(member.command('list').description('the configuration in force: voters, learners, their addresses, the leader'), 5000).action((opts: AdminOpts) =>
    runAdmin({ type: 'list' }, opts),
  );
  adminCommand(
    member
      .command('add')
      .description('add a new server (started with xstate-raft node --join): as a learner, then, once it has caught up, as a voter')
      .argument('<id>', "the new server's id (its --id)", parseNodeId)
      .addOption(new Option('--address <host:port>', 'where the other nodes reach it (its --listen)').argParser(parseAddress).makeOptionMandatory())
      .option('--learner', 'leave it a learner (it receives the log, never votes)', false),
    120_000,
    'give up after (a voter is answered once it has caught up)',
  ).action((id: string, opts: AdminOpts & { address: string; learner: boolean }) => runAdmin({ type: 'add', id, address: opts.address, learner: opts.learner }, opts));
  adminCommand(member.command('promote').description('make a learner a voter, once it has caught up').argument('<id>', 'the learner', parseNodeId), 120_000).action(
    (id: string, opts: AdminOpts) => runAdmin({ type: 'promote', id }, opts),
  );
  adminCommand(
    member
      .command('remove')
      .description('remove a voter or a learner (the leader itself included: it hands over once the removal is committed)')
      .argument('<id>', 'the server', parseNodeId),
    30_000,
  ).action((id: string, opts: AdminOpts) => runAdmin({ type: 'remove', id }, opts));
  adminCommand(
    program
      .command('transfer-leadership')
      .description('hand leadership to another voter (default: the most up-to-date one), e.g. before restarting the leader')
      .addOption(new Option('--to <id>', 'the voter to lead').argParser(parseNodeId)),
    30_000,
  ).action((opts: AdminOpts & { to?: string }) => runAdmin({ type: 'transfer', ...(opts.to !== undefined ? { to: opts.to } : {}) }, opts));

  program
    .command('chart')
    .description('write the node statechart, drawn from the machine definition, as SVG, Mermaid or Graphviz dot')
    .addOption(new Option('--format <format>', "picture format (default: from --output's extension, else svg)").choices([...CHART_FORMATS]))
    .option('--output <file>', 'file to write (default: stdout)')
    .action((opts: { format?: ChartFormat; output?: string }) => {
      process.exitCode = runChart(opts);
    });

  program
    .command('inspector')
    .description('run a local Stately inspector server for nodes started with --inspect (the inspector page needs the internet)')
    .addOption(new Option('--port <port>', 'port of the page and of the WebSocket').argParser(parseInteger(1, 65_535)).default(8080))
    .option('--open', 'open the page in the default browser')
    .action(async (opts: { port: number; open?: boolean }) => {
      const server = await startInspectorServer({ port: opts.port, open: opts.open ?? false });
      console.log(`inspector page: ${server.pageUrl} (it loads the Stately inspector from stately.ai, so it needs the internet)`);
      console.log(`nodes send to ${server.wsUrl}: xstate-raft node … --inspect ${server.wsUrl}; Ctrl-C stops`);
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
      server.stop();
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
