/**
 * Dynamic import of a module another part of the project provides (the gateway runtime, the
 * simulator). Keeps every other command working in a build where that module is absent, and
 * turns "module not found" into a plain message instead of a stack.
 */
import { CliError } from './errors.js';

function isModuleNotFound(err: unknown, specifierHint: string): boolean {
  const e = err as NodeJS.ErrnoException | undefined;
  return (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') && String(e.message).includes(specifierHint);
}

export async function importOptional<T>(load: () => Promise<unknown>, what: string, specifierHint: string): Promise<T> {
  try {
    return (await load()) as T;
  } catch (err) {
    if (isModuleNotFound(err, specifierHint)) throw new CliError(`${what} is not available in this build (${specifierHint} not found)`);
    throw err;
  }
}
