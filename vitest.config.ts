import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests start real processes and pty pairs; running files one at a time keeps
    // wire timing honest on a 2-core machine.
    fileParallelism: false,
    pool: 'forks',
  },
});
