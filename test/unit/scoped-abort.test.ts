import { afterEach, describe, expect, it, vi } from 'vitest';
import { scopedAbort } from '../../gateway/src/core/scoped-abort.js';

describe('scopedAbort: one operation’s abort signal', () => {
  afterEach(() => vi.useRealTimers());

  it('aborts with a TimeoutError when its time is up, and says so', () => {
    vi.useFakeTimers();
    const scope = scopedAbort(500);
    vi.advanceTimersByTime(499);
    expect(scope.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    expect(scope.signal.aborted).toBe(true);
    expect(scope.timedOut()).toBe(true);
    expect((scope.signal.reason as DOMException).name).toBe('TimeoutError');
  });

  it('follows its parents (with their reason), also one already aborted', () => {
    const stop = new AbortController();
    const scope = scopedAbort(10_000, [undefined, stop.signal]);
    stop.abort('stopping');
    expect(scope.signal.aborted).toBe(true);
    expect(scope.signal.reason).toBe('stopping');
    expect(scope.timedOut()).toBe(false);
    scope.dispose();
    const already = scopedAbort(10_000, [stop.signal]);
    expect(already.signal.reason).toBe('stopping');
  });

  it('after dispose, neither the timer nor a parent touches it, and the parent holds no listener', () => {
    vi.useFakeTimers();
    const stop = new AbortController();
    const added = vi.spyOn(stop.signal, 'addEventListener');
    const removed = vi.spyOn(stop.signal, 'removeEventListener');
    const scope = scopedAbort(100, [stop.signal]);
    scope.dispose();
    scope.dispose();
    expect(removed).toHaveBeenCalledTimes(1);
    expect(removed.mock.calls[0]![1]).toBe(added.mock.calls[0]![1]);
    vi.advanceTimersByTime(1000);
    stop.abort();
    expect(scope.signal.aborted).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('abort() aborts it alone, not its parents', () => {
    const stop = new AbortController();
    const scope = scopedAbort(undefined, [stop.signal]);
    scope.abort();
    expect(scope.signal.aborted).toBe(true);
    expect(stop.signal.aborted).toBe(false);
    scope.dispose();
  });
});
