/**
 * Test-side tools for the police receiver tests (integration and browser): DC-09 frames laid
 * out by hand from the spec (never our encoder), real TCP/UDP transmitters, a real HTTP server
 * standing in for the gateway's acknowledgement endpoint, and a cookie-keeping HTTP client.
 */
import { createSocket } from 'node:dgram';
import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifySignature, SIGNATURE_HEADER, TIMESTAMP_HEADER } from '../../gateway/src/auth/hmac.js';
import { handFrame } from '../unit/dc09-hand-frames.js';

export { handFrame };

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `${prefix}-`));
}

const p2 = (n: number) => String(n).padStart(2, '0');

/** DC-09 timestamp `_HH:MM:SS,MM-DD-YYYY` (UTC, month first), written out by hand. */
export function dc09Time(d: Date): string {
  return `_${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())},${p2(d.getUTCMonth() + 1)}-${p2(d.getUTCDate())}-${d.getUTCFullYear()}`;
}

/** An ADM-CID frame body: `"ADM-CID"<seq>L0#<acct>[#<acct>|<Q><EEE> <GG> <ZZZ>]<ext><ts>`. */
export function cidBody(o: { account: string; seq: number; q?: 1 | 3; event: number; group?: number; zone: number; ext?: string; at?: Date }): string {
  const data = `#${o.account}|${o.q ?? 1}${String(o.event).padStart(3, '0')} ${p2(o.group ?? 1)} ${String(o.zone).padStart(3, '0')}`;
  return `"ADM-CID"${String(o.seq).padStart(4, '0')}L0#${o.account}[${data}]${o.ext ?? ''}${o.at ? dc09Time(o.at) : ''}`;
}

/** Send one frame over TCP and read the answer up to its CR. */
export function sendTcp(port: number, frame: Buffer | string, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no DC-09 answer within ${timeoutMs} ms (got ${JSON.stringify(got)})`));
    }, timeoutMs);
    s.on('connect', () => s.write(typeof frame === 'string' ? Buffer.from(frame, 'latin1') : frame));
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (got.includes('\r')) {
        clearTimeout(t);
        s.destroy();
        resolve(got);
      }
    });
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

/** Send one datagram and wait for the answer datagram. */
export function sendUdp(port: number, frame: Buffer, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      reject(new Error(`no DC-09 UDP answer within ${timeoutMs} ms`));
    }, timeoutMs);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      resolve(m.toString('latin1'));
    });
    s.send(frame, port, '127.0.0.1');
  });
}

export interface CallbackRequest {
  at: number;
  headers: IncomingMessage['headers'];
  body: string;
  /** verifySignature() of the body with the shared secret. */
  signatureOk: boolean;
  status: number;
}

/** A real HTTP server standing in for the gateway's POST /api/alarm-acks. */
export interface CallbackServer {
  url: string;
  port: number;
  requests: CallbackRequest[];
  /** Status codes to answer, in order; after the list runs out, `fallback`. */
  script: number[];
  fallback: number;
  close(): Promise<void>;
}

export async function startCallbackServer(secret: string, script: number[] = [], fallback = 200): Promise<CallbackServer> {
  const requests: CallbackRequest[] = [];
  const state = { script: [...script], fallback };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const h = (n: string) => (Array.isArray(req.headers[n]) ? req.headers[n]![0] : (req.headers[n] as string | undefined));
      const signatureOk = verifySignature(secret, body, { signature: h(SIGNATURE_HEADER), timestamp: h(TIMESTAMP_HEADER) }).ok;
      const status = state.script.length ? state.script.shift()! : state.fallback;
      requests.push({ at: Date.now(), headers: req.headers, body, signatureOk, status });
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: status < 300 }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/api/alarm-acks`,
    port,
    requests,
    get script() {
      return state.script;
    },
    set script(v: number[]) {
      state.script = [...v];
    },
    get fallback() {
      return state.fallback;
    },
    set fallback(v: number) {
      state.fallback = v;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- test code reads whatever came back
  text: string;
}

/** fetch with a cookie jar of one session cookie. */
export class SessionClient {
  cookie: string | undefined;
  constructor(readonly base: string) {}

  async req(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpAnswer> {
    const res = await fetch(this.base + path, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(this.cookie ? { cookie: this.cookie } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const set = res.headers.get('set-cookie');
    if (set) {
      const [pair] = set.split(';');
      this.cookie = pair!.endsWith('=') ? undefined : pair;
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, json, text };
  }

  async login(username: string, password: string): Promise<HttpAnswer> {
    return this.req('POST', '/api/auth/login', { username, password });
  }
}

/** The webhook forwarder's JSON alarm body, with overrides. */
export function alarmJson(o: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'alarm',
    site: 'xinan',
    alarmId: `01J${Math.random().toString(36).slice(2, 12).toUpperCase()}`,
    account: '1234',
    seq: 7,
    kind: 'alarm',
    state: 'queued',
    device: 'pole-2',
    profile: 'generic-alarm-pole',
    rule: 'panic',
    name: { zh: '一键报警柱求助', en: 'Alarm pole panic' },
    code: { cid: 120, sia: 'PA' },
    severity: 'emergency',
    silent: false,
    latch: true,
    raisedAt: Date.now() - 1500,
    location: { building: '市场', room: '报警柱 2', address: '新安村市场', lat: 22.5545, lon: 113.8842 },
    cameraUrl: 'http://cam.local/market.jpg',
    fields: { button: true },
    attempt: 1,
    ...o,
  };
}
