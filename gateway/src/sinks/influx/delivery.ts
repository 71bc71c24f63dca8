/**
 * Deliver one batch of lines, dropping only the lines the server refuses as bad data (pure
 * algorithm over an injected `post`, unit-tested with fakes; the writer gives it the real HTTP).
 *
 * The batch is worked through left to right as a stack of index ranges:
 *   - ok                 -> the range is written;
 *   - bad-data naming lines (1.x quotes them, 2.x numbers them) -> those lines are dropped; the
 *                           rest of the range is sent again, unless the server said it already
 *                           wrote it (1.x `partial write ... dropped=0`);
 *   - bad-data naming nothing (field type conflict, beyond retention...) -> bisect: the range is
 *                           split in two halves, each sent on its own; a single line that is still
 *                           refused is the bad one and is dropped;
 *   - too-large          -> split without dropping (a single line too large is dropped);
 *   - retry / blocked / cancelled -> stop: everything not yet written is returned as `rest`
 *                           (in order), for the caller to spool and try again.
 *
 * Because ranges are processed left to right, "not yet written" is always a suffix of the
 * batch minus the dropped lines, and the order of lines is kept. Sending a line twice is
 * harmless: the same line (same series, same timestamp) overwrites itself.
 */
import type { WriteOutcome } from './responses.js';

export interface DroppedLine {
  index: number;
  line: string;
  reason: string;
  status: number;
}

export type DeliveryResult =
  | { ok: true; written: number; dropped: DroppedLine[]; requests: number }
  | {
      ok: false;
      written: number;
      dropped: DroppedLine[];
      requests: number;
      /** Indices (into the batch) still to be written, in order. */
      rest: number[];
      /** Why it stopped. */
      outcome: Exclude<WriteOutcome, { kind: 'ok' } | { kind: 'bad-data' } | { kind: 'too-large' }>;
    };

export type PostLines = (body: string, count: number) => Promise<WriteOutcome>;

export async function deliverLines(lines: readonly string[], post: PostLines): Promise<DeliveryResult> {
  const dropped: DroppedLine[] = [];
  const isDropped = new Uint8Array(lines.length);
  let written = 0;
  let requests = 0;
  // Ranges [from, to) of the batch still to send; the top of the stack is the leftmost.
  const stack: Array<[number, number]> = lines.length > 0 ? [[0, lines.length]] : [];

  const live = (from: number, to: number): number[] => {
    const out: number[] = [];
    for (let i = from; i < to; i++) if (!isDropped[i]) out.push(i);
    return out;
  };
  const drop = (index: number, reason: string, status: number) => {
    if (isDropped[index]) return;
    isDropped[index] = 1;
    dropped.push({ index, line: lines[index]!, reason, status });
  };

  while (stack.length > 0) {
    const [from, to] = stack.pop()!;
    const indices = live(from, to);
    if (indices.length === 0) continue;
    const body = indices.length === to - from ? lines.slice(from, to).join('\n') : indices.map((i) => lines[i]).join('\n');
    requests += 1;
    const outcome = await post(body, indices.length);
    switch (outcome.kind) {
      case 'ok':
        written += indices.length;
        break;
      case 'bad-data': {
        const before = dropped.length;
        if (outcome.quoted.size > 0) {
          for (const i of indices) {
            const reason = outcome.quoted.get(lines[i]!);
            if (reason !== undefined) drop(i, reason, outcome.status);
          }
        }
        for (const [n, reason] of outcome.numbered) {
          const i = indices[n - 1];
          if (i !== undefined) drop(i, reason, outcome.status);
        }
        const named = dropped.length - before;
        if (named > 0) {
          // The server named the culprits; the rest is written (1.x partial write) or must go again.
          if (outcome.restWritten) written += indices.length - named;
          else stack.push([from, to]);
        } else if (indices.length === 1) {
          drop(indices[0]!, outcome.message, outcome.status);
        } else {
          pushHalves(stack, indices);
        }
        break;
      }
      case 'too-large':
        if (indices.length === 1) drop(indices[0]!, outcome.message, outcome.status);
        else pushHalves(stack, indices);
        break;
      default: {
        // Everything from this range on that is not dropped is still to be written.
        const rest = live(from, lines.length);
        return { ok: false, written, dropped, requests, rest, outcome };
      }
    }
  }
  return { ok: true, written, dropped, requests };
}

/** Split live indices in two halves by count; left half on top of the stack. */
function pushHalves(stack: Array<[number, number]>, indices: readonly number[]): void {
  const mid = Math.floor(indices.length / 2);
  const splitAt = indices[mid]!;
  const from = indices[0]!;
  const to = indices[indices.length - 1]! + 1;
  stack.push([splitAt, to]);
  stack.push([from, splitAt]);
}
