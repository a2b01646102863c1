/**
 * The local inspector server: @statelyai/inspect's own (`@statelyai/inspect/server`), which takes
 * inspection events over WebSocket from nodes (createInspector) and serves a page at
 * http://localhost:PORT that forwards them to the Stately inspector in an iframe.
 *
 * The events never leave this machine, but that page loads the inspector UI from
 * https://stately.ai/inspect, so viewing it needs the internet. The server listens on every
 * interface (the library does not take a host): use it on a trusted network.
 */
import { createServer } from 'node:net';
import { createInspectorServer } from '@statelyai/inspect/server';

export interface InspectorServerOptions {
  /** Port of both the page and the WebSocket. Default 8080. */
  port?: number;
  /** Open the page in the default browser. Default false. */
  open?: boolean;
  /** The inspector UI to embed. Default https://stately.ai/inspect. */
  inspectorUrl?: string;
}

export interface InspectorServer {
  readonly port: number;
  /** Open this in a browser (needs the internet for the inspector UI). */
  readonly pageUrl: string;
  /** Give this to createInspector({ url }). */
  readonly wsUrl: string;
  /** Stop accepting connections (open pages keep theirs until closed). */
  stop(): void;
}

/**
 * Start the local inspector server. Rejects with a clear error if the port is taken (the library
 * itself would crash the process with an unhandled 'error' event).
 */
export async function startInspectorServer(options: InspectorServerOptions = {}): Promise<InspectorServer> {
  const port = options.port ?? 8080;
  await assertPortFree(port);
  const server = createInspectorServer({
    port,
    autoOpen: options.open ?? false,
    ...(options.inspectorUrl !== undefined ? { url: options.inspectorUrl } : {}),
  });
  return { port, pageUrl: `http://localhost:${port}`, wsUrl: `ws://localhost:${port}`, stop: () => server.stop() };
}

function assertPortFree(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => {
      reject(new Error(error.code === 'EADDRINUSE' ? `port ${port} is in use: choose another port for the inspector server` : `cannot listen on port ${port}: ${error.message}`));
    });
    probe.listen(port, () => probe.close(() => resolve()));
  });
}
