/**
 * Wait until a performance.now() deadline with sub-millisecond precision. A bare setTimeout
 * often fires 1-2 ms late (libuv keeps loop time in whole, cached milliseconds), which at
 * 115200 baud is a third of a whole transaction. So: sleep with a timer until close, then
 * finish with a setImmediate spin, which still lets I/O run between turns. The spin costs CPU
 * for at most ~2.5 ms per request (measured: a 1 ms timer overshot by >1 ms in 5% of waits).
 */

/** How far before the deadline the coarse timer hands over to the spin. */
const TIMER_SLACK_MS = 2.5;

export function waitUntil(deadline: number): Promise<void> {
  if (performance.now() >= deadline) return Promise.resolve();
  return new Promise((resolve) => {
    const spin = (): void => {
      if (performance.now() >= deadline) resolve();
      else setImmediate(spin);
    };
    const coarse = deadline - performance.now() - TIMER_SLACK_MS;
    if (coarse >= 1) setTimeout(spin, Math.floor(coarse));
    else setImmediate(spin);
  });
}
