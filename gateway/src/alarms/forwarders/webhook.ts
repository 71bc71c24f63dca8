/**
 * HTTP webhook path: POSTs the alarm JSON (alarm-json.ts) to a platform URL, signed with
 * HMAC-SHA256 (auth/hmac.ts) and carrying `Idempotency-Key: <alarmId>` so that the receiver can
 * drop the duplicates a retry produces. One request = one message; the dispatcher owns retries.
 *
 * Answer -> result:
 *   2xx                          delivered
 *   408, 429, 5xx                retry (the receiver is busy or broken; it may take it later)
 *   network error, no answer     retry
 *   any other status (3xx, 4xx)  rejected: the receiver refuses this message or we are
 *                                misconfigured (bad secret, wrong URL). Redirects are not
 *                                followed: a redirected POST would lose its body or its
 *                                signature; configure the final URL instead.
 *
 * Health comes from the last exchange (message or heartbeat): a network error, a timeout or a
 * 5xx marks the path down; any other answer proves the receiver is reachable and marks it up.
 * Without heartbeats the path is assumed up until an exchange fails. With `heartbeatMs` the
 * gateway POSTs `{ type: 'heartbeat', site, at }` (signed the same way) every `heartbeatMs`.
 */
import { scopedAbort } from '../../core/scoped-abort.js';
import { z } from 'zod';
import { signatureHeaders, SIGNATURE_HEADER, TIMESTAMP_HEADER } from '../../auth/hmac.js';
import { errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import { alarmJson, heartbeatJson } from './alarm-json.js';
import { PathHealthState } from './path-health.js';
import type { Forwarder, ForwarderContext, ForwarderDefinition, OutboundMessage, PathHealth, SendResult } from './types.js';

/** Same rule as config ids (config/schema.ts): the path id appears in logs, health and routes. */
const PATH_ID = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
/** RFC 9110 token: anything else makes fetch throw at send time, long after boot. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers the forwarder sets itself; a configured one would break the signature or the dedupe. */
const RESERVED_HEADERS = new Set(['content-type', 'content-length', 'host', 'idempotency-key', SIGNATURE_HEADER, TIMESTAMP_HEADER]);
/** How much of an error answer's body goes into the reason. */
const REASON_BODY_CHARS = 200;
/** Never read more than this of an error answer (a misconfigured URL may return a whole page). */
const MAX_ERROR_BODY_BYTES = 4096;

export const webhookPathSchema = z
  .object({
    id: z.string().regex(PATH_ID, 'ids use letters, digits, - and _'),
    type: z.literal('webhook'),
    url: z
      .url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' })
      .refine((u) => {
        const parsed = new URL(u);
        return parsed.username === '' && parsed.password === '';
      }, 'no user:password@ in the URL (fetch refuses it); the request is authenticated by the HMAC signature'),
    /** HMAC-SHA256 key shared with the receiver. */
    secret: z.string().min(16, 'the HMAC secret needs at least 16 characters'),
    /** Give up on one request after this long (a retry, not a rejection). */
    timeoutMs: z.number().int().min(50).max(120_000).default(5000),
    /** Extra request headers (e.g. a platform's API key). */
    headers: z
      .record(z.string().regex(HEADER_NAME, 'not a valid HTTP header name'), z.string().regex(/^[^\r\n]*$/, 'no line breaks in header values'))
      .refine((h) => Object.keys(h).every((name) => !RESERVED_HEADERS.has(name.toLowerCase())), {
        message: `these headers are set by the gateway: ${[...RESERVED_HEADERS].join(', ')}`,
      })
      .optional(),
    /** POST a heartbeat this often for supervision; 0 = off. */
    heartbeatMs: z.number().int().min(0).default(0),
  })
  .strict();

export type WebhookPathConfig = z.infer<typeof webhookPathSchema>;

/** What one POST came to, before it is mapped onto a SendResult or a health change. */
type Exchange =
  | { kind: 'answered'; status: number; snippet: string }
  | { kind: 'network'; reason: string }
  | { kind: 'timeout' }
  /** The caller's signal (dispatcher timeout / stop) ended it: says nothing about the receiver. */
  | { kind: 'cancelled' };

/** The URL without query or credentials, for logs and reasons (a query may carry a token). */
function displayUrl(url: string): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

/** undici wraps the real cause (ECONNREFUSED, socket hang-up...) in `TypeError: fetch failed`. */
function describeFetchError(err: unknown): string {
  const cause = err instanceof Error ? err.cause : undefined;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return cause.message || code || cause.name;
  }
  return errorMessage(err);
}

/** First bytes of an error answer as one line; a body that breaks off is fine. */
async function readSnippet(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < MAX_ERROR_BODY_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } catch {
    // Partial body: use what arrived.
  } finally {
    reader.cancel().catch(() => {});
  }
  return Buffer.concat(chunks).toString('utf8').replace(/\s+/g, ' ').trim().slice(0, REASON_BODY_CHARS);
}

function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

class WebhookForwarder implements Forwarder {
  readonly type = 'webhook';
  readonly path: string;
  private readonly log: Logger;
  private readonly url: string;
  private readonly healthState: PathHealthState;
  /** Exchanges are numbered so that a slow answer cannot overwrite the health a newer one set. */
  private exchanges = 0;
  private lastApplied = 0;
  /** One controller per request in flight, so that stop() can cut them all. */
  private readonly inFlight = new Set<AbortController>();
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly config: WebhookPathConfig,
    private readonly context: ForwarderContext,
  ) {
    this.path = config.id;
    this.url = displayUrl(config.url);
    this.log = context.log.child({ forwarder: 'webhook', path: config.id });
    this.healthState = new PathHealthState(this.path, this.type, context, this.log, 'webhook path', { url: this.url });
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.log.info({ url: this.url, heartbeatMs: this.config.heartbeatMs }, 'webhook path started');
    if (this.config.heartbeatMs > 0) this.heartbeatLoop(0);
  }

  async send(message: OutboundMessage, signal: AbortSignal): Promise<SendResult> {
    const body = alarmJson(message);
    const exchange = await this.post(body, signal, { 'idempotency-key': message.alarm.id });
    switch (exchange.kind) {
      case 'cancelled':
        return { outcome: 'retry', reason: 'cancelled before the receiver answered' };
      case 'timeout':
        return { outcome: 'retry', reason: `no answer from ${this.url} within ${this.config.timeoutMs} ms` };
      case 'network':
        return { outcome: 'retry', reason: `cannot reach ${this.url}: ${exchange.reason}` };
      case 'answered': {
        const { status, snippet } = exchange;
        if (status >= 200 && status < 300) return { outcome: 'delivered', at: this.context.now(), detail: `HTTP ${status}` };
        const said = `HTTP ${status} from ${this.url}${snippet ? `: ${snippet}` : ''}`;
        if (isRetryableStatus(status)) return { outcome: 'retry', reason: said };
        return { outcome: 'rejected', reason: said };
      }
    }
  }

  health(): PathHealth {
    return this.healthState.current();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    for (const controller of this.inFlight) controller.abort(new Error('webhook path stopped'));
  }

  private heartbeatLoop(delayMs: number): void {
    if (this.stopped) return;
    this.heartbeatTimer = setTimeout(() => {
      void this.heartbeat().finally(() => this.heartbeatLoop(this.config.heartbeatMs));
    }, delayMs);
    // Supervision must not keep a stopping process alive.
    this.heartbeatTimer.unref();
  }

  private async heartbeat(): Promise<void> {
    const exchange = await this.post(heartbeatJson(this.context.site, this.context.now()), undefined, {});
    if (exchange.kind === 'answered' && (exchange.status < 200 || exchange.status >= 300) && exchange.status < 500) {
      this.log.warn({ url: this.url, status: exchange.status, body: exchange.snippet }, 'webhook receiver does not accept heartbeats');
    }
  }

  /** One signed POST; never throws. Updates health from what happened. */
  private async post(body: string, outer: AbortSignal | undefined, extraHeaders: Record<string, string>): Promise<Exchange> {
    const id = ++this.exchanges;
    if (outer?.aborted || this.stopped) return { kind: 'cancelled' };
    const local = new AbortController();
    const scope = scopedAbort(this.config.timeoutMs, [outer, local.signal]);
    const signal = scope.signal;
    this.inFlight.add(local);
    const headers: Record<string, string> = {
      ...this.config.headers,
      'content-type': 'application/json; charset=utf-8',
      'user-agent': 'shouwang-gateway',
      ...extraHeaders,
      ...signatureHeaders(this.config.secret, body, this.context.now()),
    };
    let exchange: Exchange;
    try {
      const res = await fetch(this.config.url, { method: 'POST', headers, body, signal, redirect: 'manual' });
      if (res.status >= 200 && res.status < 300) {
        // The status is the receipt; the body is not needed (but must be drained or cancelled).
        await res.body?.cancel().catch(() => {});
        exchange = { kind: 'answered', status: res.status, snippet: '' };
      } else {
        exchange = { kind: 'answered', status: res.status, snippet: await readSnippet(res) };
      }
    } catch (err) {
      if (outer?.aborted || local.signal.aborted) exchange = { kind: 'cancelled' };
      else if (scope.timedOut()) exchange = { kind: 'timeout' };
      else exchange = { kind: 'network', reason: describeFetchError(err) };
    } finally {
      scope.dispose();
      this.inFlight.delete(local);
    }
    this.applyHealth(id, exchange);
    return exchange;
  }

  private applyHealth(id: number, exchange: Exchange): void {
    if (id < this.lastApplied) return;
    switch (exchange.kind) {
      case 'cancelled':
        return;
      case 'timeout':
        this.lastApplied = id;
        this.healthState.set(false, `no answer from ${this.url} within ${this.config.timeoutMs} ms`);
        return;
      case 'network':
        this.lastApplied = id;
        this.healthState.set(false, `cannot reach ${this.url}: ${exchange.reason}`);
        return;
      case 'answered':
        this.lastApplied = id;
        if (exchange.status >= 500) {
          this.healthState.set(false, `HTTP ${exchange.status} from ${this.url}${exchange.snippet ? `: ${exchange.snippet}` : ''}`);
        } else {
          // Any answer means the path is up; only a 2xx counts as a successful exchange.
          if (exchange.status >= 200 && exchange.status < 300) this.healthState.ok();
          else this.healthState.set(true, undefined);
        }
    }
  }
}

export const webhookForwarder: ForwarderDefinition<typeof webhookPathSchema> = {
  type: 'webhook',
  schema: webhookPathSchema,
  create: (config, context) => new WebhookForwarder(config, context),
};
