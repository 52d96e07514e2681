/**
 * The status server (node:http, 127.0.0.1 by default):
 *
 *   GET /              the status page (statusPage.ts)
 *   GET /status        the status JSON (statusModel.ts)
 *   GET /health        liveness and readiness with reasons: 200 when live and ready, else 503
 *   GET /health/live   200 while live, else 503 (for a liveness probe)
 *   GET /health/ready  200 while ready, else 503 (for a readiness probe)
 *   GET /metrics       Prometheus text exposition (404 when metrics are off)
 *   GET /history       the sampled history the page charts
 *   GET /events        server-sent events: `history` once, then `status` every push interval
 *                      and on every change of the root's state, and `sample` per new sample
 *
 * Its sockets do not keep the process alive on their own; `close()` ends every connection.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { AnyActorRef } from 'xstate';
import type { History, HistorySample } from './history.js';
import { renderStatusPage } from './statusPage.js';
import type { StatusModel } from './statusModel.js';

export interface StatusServerOptions {
  /** 0: any free port (see `port` on the result). */
  readonly port: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  readonly model: StatusModel;
  readonly history: History;
  /** The root actor: a change of its state is pushed at once. */
  readonly root: AnyActorRef;
  /** Serves /metrics; null: metrics are off. */
  readonly metrics: ((request: IncomingMessage, response: ServerResponse) => void) | null;
  /** How often /events pushes the status (default 1000 ms). */
  readonly pushIntervalMs?: number;
}

export interface StatusServer {
  readonly host: string;
  readonly port: number;
  /** http://host:port/ */
  readonly url: string;
  /** Pushes a new history sample to the page. */
  publishSample(sample: HistorySample): void;
  close(): Promise<void>;
}

export const DEFAULT_STATUS_HOST = '127.0.0.1';

function urlOf(host: string, port: number): string {
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}/`;
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  response.end(`${text}\n`);
}

export async function startStatusServer(options: StatusServerOptions): Promise<StatusServer> {
  const host = options.host ?? DEFAULT_STATUS_HOST;
  const page = renderStatusPage(options.history.capacity);
  const streams = new Set<ServerResponse>();
  const sockets = new Set<Socket>();

  const event = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
  const broadcast = (text: string) => {
    for (const stream of streams) stream.write(text);
  };
  const pushStatus = () => {
    if (streams.size > 0) broadcast(event('status', options.model.status()));
  };

  const routes: Record<string, (request: IncomingMessage, response: ServerResponse) => void> = {
    '/': (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      response.end(page);
    },
    '/status': (_request, response) => sendJson(response, 200, options.model.status()),
    '/health': (_request, response) => {
      const health = options.model.health();
      sendJson(response, health.live && health.ready ? 200 : 503, health);
    },
    '/health/live': (_request, response) => {
      const health = options.model.health();
      sendJson(response, health.live ? 200 : 503, health);
    },
    '/health/ready': (_request, response) => {
      const health = options.model.health();
      sendJson(response, health.ready ? 200 : 503, health);
    },
    '/metrics': (request, response) => {
      if (options.metrics) options.metrics(request, response);
      else {
        response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
        response.end('metrics are off\n');
      }
    },
    '/history': (_request, response) => sendJson(response, 200, options.history.toArray()),
    '/events': (request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
      response.write(`retry: 1000\n${event('history', options.history.toArray())}${event('status', options.model.status())}`);
      streams.add(response);
      request.on('close', () => streams.delete(response));
    },
  };

  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const route = routes[path.length > 1 ? path.replace(/\/+$/, '') : path];
    if (!route) {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      response.end(`not found; try ${Object.keys(routes).join(' ')}\n`);
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' });
      response.end();
      return;
    }
    try {
      route(request, response);
    } catch (error) {
      if (!response.headersSent) sendJson(response, 500, { error: error instanceof Error ? error.message : String(error) });
      else response.end();
    }
  });
  server.on('connection', (socket) => {
    socket.unref();
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.unref();
  const port = (server.address() as AddressInfo).port;

  const timer = setInterval(pushStatus, options.pushIntervalMs ?? 1000);
  timer.unref();
  // A new root state (failed, stopped, ...) is shown at once, at most every 100 ms.
  let pending: NodeJS.Timeout | null = null;
  let lastValue: unknown = options.root.getSnapshot()?.value;
  const subscription = options.root.subscribe({
    next: (snapshot: { value?: unknown; status?: string }) => {
      if (snapshot.value === lastValue || pending) return;
      lastValue = snapshot.value;
      pending = setTimeout(() => {
        pending = null;
        pushStatus();
      }, 100);
      pending.unref();
    },
    error: () => undefined,
  });

  let closing: Promise<void> | null = null;
  return {
    host,
    port,
    url: urlOf(host, port),
    publishSample(sample) {
      if (streams.size > 0) broadcast(event('sample', sample));
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        clearInterval(timer);
        if (pending) clearTimeout(pending);
        subscription.unsubscribe();
        for (const stream of streams) stream.end();
        streams.clear();
        server.close(() => resolve());
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}
