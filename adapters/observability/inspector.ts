/**
 * Watching the statecharts live in the Stately inspector (`--inspect`, or `inspect: true` in
 * the API), through `@statelyai/inspect`.
 *
 * How @statelyai/inspect 0.7.2 works in Node: `createInspector(adapter)` turns XState's
 * inspection events into Stately events (`@xstate.actor`, `@xstate.event`, `@xstate.snapshot`)
 * and hands them to the adapter; its `createWebSocketInspector` adapter sends them to a
 * WebSocket *server* you run; the browser side (its `createInspectorServer`) is a page that
 * embeds https://stately.ai/inspect in an iframe and posts it whatever arrives on the WebSocket.
 * Its own server listens on every interface, on a fixed port, opens a browser and keeps only
 * the last 200 events, so a page opened late misses the actors' registrations.
 *
 * Here the relay runs in-process with `ws`, on 127.0.0.1 (port 0 allowed): the adapter hands
 * events straight to the relay (no loopback client), the relay keeps every live actor's
 * registration and latest snapshot so a page opened late still shows every actor, and serves
 * the same bridge page. Messages from other WebSocket clients are relayed too, so any
 * `createWebSocketInspector({ url })` can publish through it and any client can listen.
 *
 * Inspection costs nothing when off: no observer is passed to XState at all. When on, only the
 * three event kinds the inspector shows are forwarded, and each is summarized right away (long
 * arrays cut to their first items, the installer's backlog to its length) so the inspector
 * neither serializes thousands of records per event nor shows a later state than the event's.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createInspector, type StatelyInspectionEvent } from '@statelyai/inspect';
import { WebSocket, WebSocketServer } from 'ws';
import type { AnyActorRef, InspectionEvent, Observer } from 'xstate';
import { Deque } from '../../machines/structures/deque.js';

export interface StatelyInspectorOptions {
  /** Default 0: any free port. */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** The inspector UI the bridge page embeds. Default https://stately.ai/inspect. */
  readonly inspectorUrl?: string;
}

export interface StatelyInspectorAddress {
  /** Open this in a browser: the bridge page with the Stately inspector. */
  readonly url: string;
  /** The relay itself, for `createWebSocketReceiver({ server })` or any WebSocket client. */
  readonly websocketUrl: string;
  readonly port: number;
}

export interface StatelyInspector {
  /** Pass to `createActor(..., { inspect })` (createCohortReplicator does it for `inspect: true`). */
  readonly inspect: Observer<InspectionEvent>;
  /** Resolves once the relay listens. */
  listening(): Promise<StatelyInspectorAddress>;
  close(): Promise<void>;
}

const ARRAY_ITEMS = 20;
const DEPTH = 6;
/** Finished actors (snapshot reads, writes) whose registration is kept for pages opened late. */
const FINISHED_KEPT = 50;

/** A JSON-friendly summary of a context or an event, bounded in size. */
export function summarize(value: unknown, depth = DEPTH): unknown {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'function') return undefined;
    if (typeof value === 'bigint') return String(value);
    return value;
  }
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (value instanceof Deque) return { length: value.length };
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    const json = (value as { toJSON(): unknown }).toJSON();
    return json === value ? String(value) : summarize(json, depth);
  }
  if (depth <= 0) return Array.isArray(value) ? `[${value.length} items]` : '{…}';
  if (Array.isArray(value)) {
    const items = value.slice(0, ARRAY_ITEMS).map((item) => summarize(item, depth - 1));
    if (value.length > ARRAY_ITEMS) items.push(`… ${value.length - ARRAY_ITEMS} more`);
    return items;
  }
  if (value instanceof Map) return { size: value.size };
  if (value instanceof Set) return { size: value.size };
  if (Buffer.isBuffer(value)) return `<${value.length} bytes>`;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    const summary = summarize(item, depth - 1);
    if (summary !== undefined) out[key] = summary;
  }
  return out;
}

interface LooseSnapshot {
  status?: string;
  value?: unknown;
  context?: unknown;
  output?: unknown;
  error?: unknown;
  children?: Record<string, AnyActorRef | undefined>;
}

function summarizeSnapshot(snapshot: unknown): LooseSnapshot {
  const s = (snapshot ?? {}) as LooseSnapshot;
  const children: Record<string, { id: string }> = {};
  for (const [key, child] of Object.entries(s.children ?? {})) if (child) children[key] = { id: child.id };
  return { status: s.status, value: s.value, context: summarize(s.context), output: summarize(s.output), error: summarize(s.error), children } as LooseSnapshot;
}

/** What the inspector reads of an actor ref, with its snapshot summarized when read. */
function summarizedRef(ref: AnyActorRef): AnyActorRef {
  const loose = ref as AnyActorRef & { logic?: unknown; _parent?: AnyActorRef };
  return { id: ref.id, sessionId: ref.sessionId, logic: loose.logic, _parent: loose._parent, getSnapshot: () => summarizeSnapshot(ref.getSnapshot()) } as unknown as AnyActorRef;
}

/** Keeps what a page opened late needs: every actor's registration and its latest snapshot. */
class Retained {
  readonly #actors = new Map<string, { registration: string; snapshot: string | null; finished: boolean }>();

  note(event: StatelyInspectionEvent, text: string): void {
    if (event.type === '@xstate.actor') {
      this.#actors.set(event.sessionId, { registration: text, snapshot: null, finished: false });
      return;
    }
    if (event.type !== '@xstate.snapshot') return;
    const actor = this.#actors.get(event.sessionId);
    if (!actor) return;
    actor.snapshot = text;
    if (!actor.finished && (event.snapshot as { status?: string }).status !== 'active') {
      actor.finished = true;
      const finished = [...this.#actors].filter(([, a]) => a.finished);
      for (const [sessionId] of finished.slice(0, Math.max(0, finished.length - FINISHED_KEPT))) this.#actors.delete(sessionId);
    }
  }

  /** Registrations first (in creation order), then the latest snapshots. */
  replay(): string[] {
    const actors = [...this.#actors.values()];
    return [...actors.map((a) => a.registration), ...actors.flatMap((a) => (a.snapshot ? [a.snapshot] : []))];
  }
}

function bridgePage(inspectorUrl: string): string {
  // The same bridge as @statelyai/inspect's createInspectorServer, but it connects back to
  // whatever host and port served it.
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Stately inspector: talos-cohort-replicator</title>
<style>* { margin: 0; padding: 0; } html, body { height: 100%; } iframe { width: 100%; height: 100%; border: none; }</style></head>
<body><iframe id="inspector" src="${inspectorUrl}"></iframe>
<script>
  const iframe = document.getElementById('inspector');
  const buffer = [];
  let connected = false;
  window.addEventListener('message', (e) => {
    if (e.data && e.data.type === '@statelyai.connected') {
      connected = true;
      for (const event of buffer.splice(0)) iframe.contentWindow.postMessage(event, '*');
    }
  });
  const ws = new WebSocket('ws://' + location.host);
  ws.onmessage = (message) => {
    const data = JSON.parse(message.data);
    if (connected) iframe.contentWindow.postMessage(data, '*');
    else buffer.push(data);
  };
</script></body></html>`;
}

export function createStatelyInspector(options: StatelyInspectorOptions = {}): StatelyInspector {
  const host = options.host ?? '127.0.0.1';
  const page = bridgePage(options.inspectorUrl ?? 'https://stately.ai/inspect');
  const retained = new Retained();
  const sockets = new Set<Socket>();
  const server: Server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(page);
  });
  server.on('connection', (socket) => {
    socket.unref();
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const wss = new WebSocketServer({ server });
  const broadcast = (text: string, except?: WebSocket) => {
    for (const client of wss.clients) if (client !== except && client.readyState === WebSocket.OPEN) client.send(text);
  };
  wss.on('connection', (ws) => {
    for (const text of retained.replay()) ws.send(text);
    ws.on('message', (data) => {
      const text = data.toString();
      try {
        retained.note(JSON.parse(text) as StatelyInspectionEvent, text);
      } catch {
        // not an inspection event: relay it anyway
      }
      broadcast(text, ws);
    });
  });

  const inspector = createInspector({
    send(event: StatelyInspectionEvent) {
      let text: string;
      try {
        text = JSON.stringify(event);
      } catch (error) {
        text = JSON.stringify({ ...event, snapshot: undefined, event: { type: 'unserializable', error: String(error) } });
      }
      retained.note(event, text);
      broadcast(text);
    },
  });

  const listening = new Promise<StatelyInspectorAddress>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      server.unref();
      const port = (server.address() as AddressInfo).port;
      const shown = host.includes(':') ? `[${host}]` : host;
      resolve({ url: `http://${shown}:${port}/`, websocketUrl: `ws://${shown}:${port}`, port });
    });
  });
  // A failure to listen is reported by listening(); never as an unhandled rejection.
  listening.catch(() => undefined);

  const inspect: Observer<InspectionEvent> = {
    next(event) {
      switch (event.type) {
        case '@xstate.actor':
          inspector.inspect.next?.({ ...event, actorRef: summarizedRef(event.actorRef as AnyActorRef) });
          return;
        case '@xstate.event':
          inspector.inspect.next?.({ ...event, event: summarize(event.event) as typeof event.event });
          return;
        case '@xstate.snapshot':
          inspector.inspect.next?.({ ...event, event: summarize(event.event) as typeof event.event, snapshot: summarizeSnapshot(event.snapshot) as typeof event.snapshot });
          return;
        default:
          // @xstate.action and @xstate.microstep: the inspector shows neither.
          return;
      }
    },
  };

  let closing: Promise<void> | null = null;
  return {
    inspect,
    listening: () => listening,
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
        if (!server.listening) resolve();
      });
      return closing;
    },
  };
}
