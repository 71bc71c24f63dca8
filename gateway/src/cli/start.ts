/** `shouwang start`: run the gateway (gateway/src/run.ts loads, checks and starts it; app.ts composes it). */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from './errors.js';
import { importOptional } from './lazy-module.js';

export interface StartOptions {
  config?: string;
  demo?: boolean;
}

/** Which config to run: --config, else ./gateway.yaml when present; --demo may run without one. */
export function resolveStartConfig(opts: StartOptions, cwd = process.cwd()): string | undefined {
  if (opts.config !== undefined) return resolve(cwd, opts.config);
  if (opts.demo) return undefined;
  const local = resolve(cwd, 'gateway.yaml');
  if (existsSync(local)) return local;
  throw new UsageError('no gateway.yaml here: give --config FILE, or --demo to try the gateway with a simulated village');
}

/**
 * True when this process runs with the memory settings of bin/shouwang.js (see there). They can
 * only be given when node starts, so `node dist/gateway/src/main.js start` runs without them.
 */
export function launchedLean(execArgv: readonly string[] = process.execArgv): boolean {
  return execArgv.some((a) => a.startsWith('--max-semi-space-size'));
}

export async function runStart(opts: StartOptions): Promise<void> {
  if (!launchedLean()) process.stderr.write('shouwang: started without the memory settings of bin/shouwang.js (about 25 MB more resident memory); start with `npx shouwang start` or `npm start`\n');
  const configFile = resolveStartConfig(opts);
  const run = await importOptional<typeof import('../run.js')>(() => import('../run.js'), 'the gateway runtime', 'run.js');
  await run.runGateway({ ...(configFile === undefined ? {} : { configFile }), demo: opts.demo === true });
}
