/** `xstate-raft node`: one durable node in the foreground, until SIGTERM / SIGINT. */
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { createInspector } from '../inspect/inspect.js';
import { startNodeServer } from '../server/node-server.js';

export interface NodeCommandOptions {
  id: string;
  listen: { host: string; port: number };
  peers: Record<string, string>;
  data: string;
  secret?: string;
  electionTimeout: [number, number];
  heartbeat: number;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  bodyLimit: number;
  logLevel: string;
  inspect?: boolean | string;
}

export async function runNode(opts: NodeCommandOptions): Promise<number> {
  const logger = pino({ level: opts.logLevel, base: { node: opts.id } });
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) {
    console.error('error: --tls-cert and --tls-key go together');
    return 2;
  }
  const secret = opts.secret ?? process.env.XSTATE_RAFT_SECRET;
  const inspector = opts.inspect
    ? createInspector({
        ...(typeof opts.inspect === 'string' ? { url: opts.inspect } : {}),
        onError: (error) => logger.warn({ err: error }, 'inspector'),
      })
    : undefined;
  if (inspector) logger.info({ url: inspector.url }, `inspector: sending this node's actor to ${inspector.url}`);
  let server;
  let fatal: (reason: string) => void = () => undefined;
  try {
    server = await startNodeServer({
      onFatal: (reason) => fatal(reason),
      id: opts.id,
      listen: opts.listen,
      peers: opts.peers,
      dataDir: opts.data,
      ...(secret ? { secret } : {}),
      ...(opts.tlsCert && opts.tlsKey
        ? { tls: { cert: readFileSync(opts.tlsCert), key: readFileSync(opts.tlsKey), ...(opts.tlsCa ? { ca: readFileSync(opts.tlsCa) } : {}) } }
        : {}),
      electionTimeout: opts.electionTimeout,
      heartbeatInterval: opts.heartbeat,
      bodyLimit: opts.bodyLimit,
      logger,
      ...(inspector ? { inspect: inspector.inspect } : {}),
    });
  } catch (error) {
    inspector?.stop();
    logger.fatal({ err: error }, `cannot start: ${(error as Error).message}`);
    logger.flush();
    console.error(`error: ${(error as Error).message}`);
    return 1;
  }
  return new Promise<number>((resolve) => {
    // Storage or the machine failed and the node stopped itself: exit non-zero, so a supervisor
    // restarts it (from its data) rather than taking it for a clean exit.
    fatal = (reason) => {
      console.error(`error: ${reason}`);
      void server.stop().then(() => {
        inspector?.stop();
        logger.flush();
        resolve(1);
      });
    };
    const shutdown = (signal: string) => {
      logger.info({ signal }, 'shutting down');
      void server.stop().then(() => {
        inspector?.stop();
        logger.flush();
        resolve(0);
      });
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
}
