/**
 * HTTP/JSON control API on 127.0.0.1 (node:http: a dozen routes need no framework). Every body
 * is parsed with the zod schemas of control-types.ts; errors come back as
 * `{ error: { code, message } }` with 400 (bad body), 404 (unknown device/bus/route) or 409
 * (the device cannot do that).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { z } from 'zod';
import { ErrorCodes, isShouwangError } from '../../gateway/src/errors.js';
import type { Logger } from '../../gateway/src/log.js';
import {
  behaviourBody,
  busFaultsBody,
  deviceFaultsBody,
  doorBody,
  faultsBody,
  modemFaultsBody,
  passBody,
  pressBody,
  setPointsBody,
  strangerBody,
  tamperBody,
  unplugBody,
  type SimControl,
  type SimEndpoints,
} from './control-types.js';

export interface ControlServer {
  url: string;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Handler = (params: string[], body: unknown, query: URLSearchParams) => Promise<unknown>;

const MAX_BODY = 1 << 20;

function parse<S extends z.ZodType>(schema: S, body: unknown, what: string): z.infer<S> {
  const r = schema.safeParse(body ?? {});
  if (r.success) return r.data;
  const first = r.error.issues[0];
  const where = first && first.path.length > 0 ? `${first.path.join('.')}: ` : '';
  throw new HttpError(400, 'SW_ERR_PAYLOAD_INVALID', `${what}: ${where}${first?.message ?? 'invalid body'}`);
}

export async function startControlServer(control: SimControl, port: number, log: Logger, endpoints: () => SimEndpoints): Promise<ControlServer> {
  const routes: Array<[method: string, pattern: RegExp, handler: Handler]> = [
    ['GET', /^\/devices$/, () => control.listDevices()],
    [
      'GET',
      /^\/devices\/([^/]+)$/,
      async ([id]) => {
        const all = await control.listDevices();
        const summary = all.find((d) => d.id === id);
        if (!summary) throw new HttpError(404, ErrorCodes.DEVICE_UNKNOWN, `unknown device "${id}"`);
        return { ...summary, points: await control.getPoints(id!) };
      },
    ],
    ['GET', /^\/devices\/([^/]+)\/points$/, ([id]) => control.getPoints(id!)],
    ['POST', /^\/devices\/([^/]+)\/points$/, ([id], body) => control.setPoints(id!, parse(setPointsBody, body, 'points'))],
    ['POST', /^\/devices\/([^/]+)\/press$/, ([id], body) => control.press(id!, parse(pressBody, body, 'press'))],
    ['POST', /^\/devices\/([^/]+)\/pass$/, ([id], body) => control.pass(id!, parse(passBody, body, 'pass'))],
    ['POST', /^\/devices\/([^/]+)\/stranger$/, ([id], body) => control.stranger(id!, parse(strangerBody, body, 'stranger'))],
    ['POST', /^\/devices\/([^/]+)\/tamper$/, ([id], body) => control.tamper(id!, parse(tamperBody, body, 'tamper'))],
    [
      'POST',
      /^\/devices\/([^/]+)\/door$/,
      ([id], body) => {
        const b = parse(doorBody, body, 'door');
        return control.door(id!, b.door, b.open);
      },
    ],
    [
      'GET',
      /^\/devices\/([^/]+)\/writes$/,
      ([id], _b, q) => {
        const since = q.get('since');
        if (since !== null && !Number.isFinite(Number(since))) throw new HttpError(400, 'SW_ERR_PAYLOAD_INVALID', 'since: expected epoch ms');
        return control.writes(id!, since === null ? {} : { since: Number(since) });
      },
    ],
    ['DELETE', /^\/devices\/([^/]+)\/writes$/, async ([id]) => (await control.clearWrites(id!), { ok: true })],
    ['POST', /^\/devices\/([^/]+)\/faults$/, ([id], body) => control.setDeviceFaults(id!, parse(deviceFaultsBody, body, 'faults'))],
    ['POST', /^\/buses\/([^/]+)\/faults$/, ([id], body) => control.setBusFaults(id!, parse(busFaultsBody, body, 'faults'))],
    ['POST', /^\/buses\/([^/]+)\/unplug$/, ([id], body) => control.unplug(id!, parse(unplugBody, body, 'unplug').ms)],
    ['GET', /^\/faults$/, () => control.faults()],
    [
      'POST',
      /^\/faults$/,
      async (_p, body) => {
        const b = parse(faultsBody, body, 'faults');
        for (const [id, f] of Object.entries(b.buses ?? {})) await control.setBusFaults(id, f);
        for (const [id, f] of Object.entries(b.devices ?? {})) await control.setDeviceFaults(id, f);
        return control.faults();
      },
    ],
    ['DELETE', /^\/faults$/, async () => (await control.clearFaults(), control.faults())],
    ['GET', /^\/stats$/, () => control.stats()],
    ['POST', /^\/behaviour$/, (_p, body) => control.setBehaviour(parse(behaviourBody, body, 'behaviour').enabled)],
    ['GET', /^\/endpoints$/, async () => endpoints()],
    ['GET', /^\/modem\/messages$/, () => control.modemMessages()],
    ['POST', /^\/modem\/faults$/, (_p, body) => control.setModemFaults(parse(modemFaultsBody, body, 'modem faults'))],
  ];

  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => send(res, 500, { error: { code: 'SW_ERR_INTERNAL', message: String(err) } }));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    let matchedPath = false;
    for (const [method, pattern, handler] of routes) {
      const m = pattern.exec(path);
      if (!m) continue;
      matchedPath = true;
      if (method !== req.method) continue;
      try {
        const body = req.method === 'GET' || req.method === 'DELETE' ? undefined : await readJson(req);
        send(res, 200, await handler(m.slice(1).map(decodeURIComponent), body, url.searchParams));
      } catch (err) {
        const e = toHttpError(err);
        if (e.status >= 500) log.error({ err: String(err), path }, 'control request failed');
        send(res, e.status, { error: { code: e.code, message: e.message } });
      }
      return;
    }
    send(res, matchedPath ? 405 : 404, { error: { code: 'SW_ERR_NOT_FOUND', message: `${req.method} ${path}: no such route` } });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const actualPort = addr && typeof addr === 'object' ? addr.port : port;
  return {
    url: `http://127.0.0.1:${actualPort}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (isShouwangError(err)) {
    const status = err.code === ErrorCodes.DEVICE_UNKNOWN ? 404 : err.code === ErrorCodes.COMMAND_UNKNOWN ? 409 : 400;
    return new HttpError(status, err.code, err.message);
  }
  return new HttpError(500, 'SW_ERR_INTERNAL', err instanceof Error ? err.message : String(err));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, 'SW_ERR_PAYLOAD_INVALID', 'body too large');
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, 'SW_ERR_PAYLOAD_INVALID', 'body is not JSON');
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body ?? null);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
