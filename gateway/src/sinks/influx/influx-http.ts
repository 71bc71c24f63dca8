/**
 * One write request to InfluxDB over @influxdata/influxdb-client's transport (its node http
 * transport: keep-alive agent, gzip of answers, error bodies as HttpError). Its WriteApi is not
 * used: that API keeps failed batches in an in-memory retry buffer and retries bad data as well,
 * while the gateway must drop only the bad lines and keep the rest on disk across outages and
 * restarts (writer.ts, store/spool.ts).
 *
 *   v1: POST /write?db=&rp=&precision=ms            Basic auth from influx.v1.username/password
 *   v2: POST /api/v2/write?org=&bucket=&precision=ms   Authorization: Token influx.v2.token
 *
 * `post` never throws: every answer, timeout and network error becomes a WriteOutcome.
 */
import { HttpError, InfluxDB, type Transport } from '@influxdata/influxdb-client';
import { errorMessage } from '../../errors.js';
import type { InfluxConfig } from './config.js';
import { classifyAnswer, type ResponseContext, type WriteOutcome } from './responses.js';

/** The URL without credentials or query, for messages and logs. */
export function displayUrl(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname.replace(/\/$/, '')}`;
}

/** The cause of a network error in words: ECONNREFUSED, socket hang up... */
function describeNetworkError(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { cause?: unknown };
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const msg = errorMessage(err);
  return code && !msg.includes(code) ? `${msg} (${code})` : msg;
}

export class InfluxHttp {
  readonly context: ResponseContext;
  private readonly transport: Transport;
  private readonly path: string;
  private readonly headers: Record<string, string>;

  constructor(private readonly config: InfluxConfig) {
    const url = displayUrl(config.url);
    if (config.api === 'v2') {
      this.context = { api: 'v2', url, ...(config.v2.org ? { org: config.v2.org } : {}), ...(config.v2.bucket ? { bucket: config.v2.bucket } : {}) };
      this.path = `/api/v2/write?org=${encodeURIComponent(config.v2.org ?? '')}&bucket=${encodeURIComponent(config.v2.bucket ?? '')}&precision=ms`;
      this.headers = {};
    } else {
      const { db, rp, username, password } = config.v1;
      this.context = { api: 'v1', url, ...(db ? { db } : {}), ...(rp ? { rp } : {}), ...(username ? { username } : {}) };
      this.path = `/write?db=${encodeURIComponent(db ?? '')}${rp ? `&rp=${encodeURIComponent(rp)}` : ''}&precision=ms`;
      // Basic auth rather than u=&p= in the query: the query ends up in proxy and server logs.
      this.headers = username === undefined ? {} : { authorization: `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}` };
    }
    this.transport = new InfluxDB({
      url: config.url,
      ...(config.api === 'v2' && config.v2.token ? { token: config.v2.token } : {}),
      timeout: config.timeoutMs,
    }).transport;
  }

  /** POST one body of lines. `signal` cancels it (stop); the configured timeout bounds it. */
  async post(body: string, signal?: AbortSignal): Promise<WriteOutcome> {
    if (signal?.aborted) return { kind: 'cancelled' };
    // One AbortController per request, dropped when the request ends. The transport's socket
    // timeout rejects but leaves the request open; aborting destroys it, so a hung server does
    // not pile up sockets. Not AbortSignal.timeout() + AbortSignal.any(): the transport puts an
    // 'abort' listener on the signal it gets (its closure holds the request body), and that
    // signal then lives until the timer fires — timeoutMs of request bodies held in the heap
    // (~250 MB at 150,000 points/s; found by test/bench/influx-spool.bench.ts).
    const request = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      request.abort(new Error(`no answer within ${this.config.timeoutMs} ms`));
    }, this.config.timeoutMs);
    const cancel = () => request.abort(signal?.reason);
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      await this.transport.request(this.path, body, {
        method: 'POST',
        headers: { 'content-type': 'text/plain; charset=utf-8', ...this.headers },
        signal: request.signal,
      });
      return { kind: 'ok' };
    } catch (err) {
      if (err instanceof HttpError) return classifyAnswer(err.statusCode, err.body, this.context);
      if (signal?.aborted) return { kind: 'cancelled' };
      if (timedOut) return { kind: 'retry', message: `no answer from ${this.context.url} within ${this.config.timeoutMs} ms` };
      return { kind: 'retry', message: `cannot reach ${this.context.url}: ${describeNetworkError(err)}` };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', cancel);
    }
  }
}
