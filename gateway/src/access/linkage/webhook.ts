/**
 * The linkage webhook: one signed POST per message (auth/hmac.ts, the same signature habit as
 * the alarm webhook forwarder), with a few retries. Best effort on purpose: the police path is
 * the alarm outbox, which is durable; this is a neighbourly notice, and one that arrives an hour
 * late (after a restart) would only confuse. `Idempotency-Key: linkage:<alarm>:<group>:<phase>`
 * lets the receiver drop the duplicates a retry can produce.
 */
import { scopedAbort } from '../../core/scoped-abort.js';
import { signatureHeaders } from '../../auth/hmac.js';
import { errorMessage } from '../../errors.js';
import type { LinkageWebhookConfig } from './config.js';
import type { LinkageMessage } from './plan.js';

export type WebhookOutcome = { ok: true; status: number; attempts: number } | { ok: false; reason: string; attempts: number };

const retryable = (status: number) => status === 408 || status === 429 || status >= 500;

export async function postLinkage(
  config: LinkageWebhookConfig,
  message: LinkageMessage,
  opts: { now: () => number; signal?: AbortSignal; sleep?: (ms: number, signal?: AbortSignal) => Promise<void> },
): Promise<WebhookOutcome> {
  const body = JSON.stringify(message);
  const sleep = opts.sleep ?? abortableSleep;
  let reason = 'not tried';
  for (let attempt = 1; attempt <= config.retries + 1; attempt++) {
    if (opts.signal?.aborted) return { ok: false, reason: 'stopped', attempts: attempt - 1 };
    const scope = scopedAbort(config.timeoutMs, [opts.signal]);
    const signal = scope.signal;
    try {
      const res = await fetch(config.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'user-agent': 'shouwang-gateway',
          'idempotency-key': `linkage:${message.alarm.id}:${message.group}:${message.phase}`,
          // Signed when sent, not when built: a retry carries a fresh timestamp.
          ...signatureHeaders(config.secret, body, opts.now()),
        },
        body,
        signal,
        redirect: 'manual',
      });
      await res.body?.cancel().catch(() => {});
      if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status, attempts: attempt };
      reason = `HTTP ${res.status}`;
      if (!retryable(res.status)) return { ok: false, reason: `${reason} (not retried: the receiver refuses it)`, attempts: attempt };
    } catch (err) {
      reason = opts.signal?.aborted ? 'stopped' : errorMessage(err instanceof Error && err.cause instanceof Error ? err.cause : err);
      if (opts.signal?.aborted) return { ok: false, reason, attempts: attempt };
    } finally {
      scope.dispose();
    }
    if (attempt <= config.retries) await sleep(config.retryMs * 2 ** (attempt - 1), opts.signal);
  }
  return { ok: false, reason, attempts: config.retries + 1 };
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
