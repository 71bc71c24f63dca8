/**
 * The police console's HTTP face: the static console (no build step), the alarm API, the live
 * Server-Sent Event stream and the acknowledge action. Everything under /api needs a session
 * with role police or admin (web/auth.ts); the static files are public (they hold no data).
 *
 *   GET  /                       console (index.html)
 *   GET  /console/<file>         console assets (a fixed list: no path from the URL reaches the disk)
 *   GET  /healthz                {"ok":true} for supervisors (no login)
 *   GET  /api/station            accounts, line states, server time
 *   GET  /api/alarms?limit=N     newest first, plus every alarm still waiting for an operator
 *   GET  /api/alarms/:id         one alarm and its acknowledgement deliveries
 *   POST /api/alarms/:id/ack     { action: 'acknowledged' | 'dispatched', note? }
 *   GET  /api/events             text/event-stream: snapshot, alarm, line, delivery
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { packageRoot } from '../cli/paths.js';
import type { Logger } from '../log.js';
import type { WebAuth } from '../web/auth.js';
import { HttpError, HttpErrorCodes, parseOr400 } from '../web/http-errors.js';
import { DEFAULT_CSP, securityHeaders } from '../web/server.js';
import type { AckDelivery, AlarmBoard, BoardAlarm, BoardChange, LineEvent, OperatorAction } from './alarm-board.js';
import type { ReceiverAccount } from './receiver-config.js';

const CONSOLE_FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'i18n.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

/** The console directory: next to this module (tsx), or in the package's source tree (compiled dist/). */
export function consoleDir(): string {
  const here = fileURLToPath(new URL('./console/', import.meta.url));
  if (existsSync(join(here, 'index.html'))) return here;
  return join(packageRoot(), 'gateway', 'src', 'station', 'console');
}

/** What the console shows of an alarm: the board row plus the account name and how its acknowledgements fared. */
export interface ConsoleAlarm extends BoardAlarm {
  accountName?: string;
  deliveries: Array<Pick<AckDelivery, 'id' | 'channel' | 'status' | 'attempts'> & { lastError?: string }>;
}

export interface ReceiverRoutesOptions {
  board: AlarmBoard;
  auth: WebAuth;
  accounts: ReadonlyMap<string, ReceiverAccount>;
  log: Logger;
  /** Receiver start: line states older than this are not current. */
  startedAt: number;
  /** Perform an operator action (board + outbox + kick the senders). */
  act(id: number, action: OperatorAction, by: string, note?: string): { alarm: BoardAlarm; deliveries: AckDelivery[] };
  /** Extra status for /api/station (DC-09 counters, intake state). */
  status?: () => Record<string, unknown>;
  heartbeatMs?: number;
  now?: () => number;
}

const ackBodySchema = z.object({ action: z.enum(['acknowledged', 'dispatched']), note: z.string().max(500).optional() }).strict();
const idParamSchema = z.object({ id: z.coerce.number().int().positive() });
const listQuerySchema = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(200) });

export async function registerReceiverRoutes(app: FastifyInstance, opts: ReceiverRoutesOptions): Promise<{ closeStreams(): void }> {
  const { board, auth } = opts;
  const now = opts.now ?? Date.now;
  const log = opts.log.child({ module: 'console' });
  const officer = { preHandler: auth.requireRole('police', 'admin') };

  const dir = consoleDir();
  const files = new Map<string, Buffer>();
  for (const name of Object.keys(CONSOLE_FILES)) files.set(name, readFileSync(join(dir, name)));
  const sendFile = (name: string) => async (_req: FastifyRequest, reply: FastifyReply) =>
    reply.type(CONSOLE_FILES[name]!).header('cache-control', 'no-cache').send(files.get(name));
  app.get('/', sendFile('index.html'));
  for (const name of Object.keys(CONSOLE_FILES)) app.get(`/console/${name}`, sendFile(name));
  app.get('/healthz', async () => ({ ok: true }));
  // Browsers ask for it on every visit; a 404 in the console's network log would only distract.
  app.get('/favicon.ico', async (_req, reply) => reply.code(204).send());

  const view = (alarm: BoardAlarm): ConsoleAlarm => {
    const name = opts.accounts.get(alarm.account)?.name;
    return {
      ...alarm,
      ...(name === undefined ? {} : { accountName: name }),
      deliveries: board.deliveriesFor(alarm.id).map((d) => ({
        id: d.id,
        channel: d.channel,
        status: d.status,
        attempts: d.attempts,
        ...(d.lastError === undefined ? {} : { lastError: d.lastError }),
      })),
    };
  };
  const accounts = () => [...opts.accounts.values()].map((a) => ({ account: a.account.toUpperCase(), ...(a.name === undefined ? {} : { name: a.name }) }));
  const lines = (): LineEvent[] => board.lineStates(opts.startedAt);

  app.get('/api/station', officer, async () => ({ now: now(), accounts: accounts(), lines: lines(), ...(opts.status ? { status: opts.status() } : {}) }));

  app.get('/api/alarms', officer, async (request) => {
    const q = parseOr400(listQuerySchema, request.query, 'query');
    return { now: now(), alarms: board.list(q.limit).map(view) };
  });

  app.get('/api/alarms/:id', officer, async (request) => {
    const { id } = parseOr400(idParamSchema, request.params, 'path');
    const alarm = board.get(id);
    if (!alarm) throw new HttpError(404, HttpErrorCodes.NOT_FOUND, `no alarm ${id}`);
    return { alarm: view(alarm), deliveries: board.deliveriesFor(id) };
  });

  app.post('/api/alarms/:id/ack', officer, async (request) => {
    const { id } = parseOr400(idParamSchema, request.params, 'path');
    const body = parseOr400(ackBodySchema, request.body);
    const user = request.user!;
    const { alarm, deliveries } = opts.act(id, body.action, user.username, body.note);
    auth.audit(user.username, `alarm.${body.action}`, String(id), request.ip, `${alarm.account}/${alarm.seq ?? '-'} ${alarm.alarmId ?? ''}`.trim());
    log.info({ id, action: body.action, by: user.username, deliveries: deliveries.length }, 'operator action');
    return { alarm: view(alarm) };
  });

  // ---- live stream ----
  const streams = new Set<{ close(): void }>();
  const sseHeaders = { ...securityHeaders(DEFAULT_CSP), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' };

  app.get('/api/events', officer, (request, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, sseHeaders);
    const send = (event: string, data: unknown) => {
      if (!res.writableEnded) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    res.write('retry: 2000\n\n');
    send('snapshot', { now: now(), user: request.user, accounts: accounts(), lines: lines(), alarms: board.list(200).map(view) });

    const unsubscribe = board.onChange((change: BoardChange) => {
      if (change.type === 'alarm') send('alarm', { now: now(), alarm: view(change.alarm), created: change.created });
      else if (change.type === 'line') send('line', { now: now(), line: change.line });
      else {
        const alarm = board.get(change.delivery.alarm);
        if (alarm) send('alarm', { now: now(), alarm: view(alarm), created: false });
      }
    });
    const heartbeat = setInterval(() => {
      // A logged-out or expired session loses its stream at the next beat.
      if (!auth.stillValid(request)) {
        send('logout', { reason: 'session ended' });
        close();
        return;
      }
      if (!res.writableEnded) res.write(`: ${now()}\n\n`);
    }, opts.heartbeatMs ?? 15_000);
    const stream = { close };
    streams.add(stream);
    function close(): void {
      clearInterval(heartbeat);
      unsubscribe();
      streams.delete(stream);
      if (!res.writableEnded) res.end();
    }
    request.raw.on('close', close);
  });

  return {
    closeStreams: () => {
      for (const s of [...streams]) s.close();
    },
  };
}
