import { describe, expect, it } from 'vitest';
import { FifoLock } from '../../gateway/src/transport/fifo-lock.js';
import { waitUntil } from '../../gateway/src/transport/precise-wait.js';

describe('FifoLock', () => {
  it('serves waiters one at a time in arrival order', async () => {
    const lock = new FifoLock();
    const order: string[] = [];
    let inside = 0;
    const job = async (name: string, ms: number) => {
      await lock.acquire();
      inside++;
      expect(inside).toBe(1);
      order.push(name);
      await new Promise((r) => setTimeout(r, ms));
      inside--;
      lock.release();
    };
    await Promise.all([job('a', 5), job('b', 1), job('c', 0), job('d', 2)]);
    expect(order).toEqual(['a', 'b', 'c', 'd']);
  });

  it('rejects the waiters, not the holder, and stays usable', async () => {
    const lock = new FifoLock();
    await lock.acquire();
    const w1 = lock.acquire();
    const w2 = lock.acquire();
    expect(lock.queued).toBe(2);
    lock.rejectWaiting(new Error('gone'));
    await expect(w1).rejects.toThrow('gone');
    await expect(w2).rejects.toThrow('gone');
    lock.release();
    await lock.acquire();
    lock.release();
  });
});

describe('waitUntil', () => {
  it('never returns early and overshoots by well under a millisecond', async () => {
    const over: number[] = [];
    for (const ms of [0.3, 1.75, 2.5, 4.01, 7]) {
      for (let i = 0; i < 10; i++) {
        const deadline = performance.now() + ms;
        await waitUntil(deadline);
        over.push(performance.now() - deadline);
      }
    }
    expect(Math.min(...over)).toBeGreaterThanOrEqual(0);
    over.sort((a, b) => a - b);
    // Median overshoot: a setImmediate turn, a few tens of microseconds on an idle machine.
    expect(over[Math.floor(over.length / 2)]!).toBeLessThan(0.3);
  });
});
