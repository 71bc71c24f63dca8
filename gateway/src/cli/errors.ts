/**
 * How the CLI ends. A technician at a serial port needs the message, not a stack: known
 * failures (ShouwangError, CliError) print their message and exit 1, bad arguments exit 2,
 * and only a genuinely unexpected error prints its stack (that one is our bug to fix).
 */
import { CommanderError } from 'commander';
import { isShouwangError } from '../errors.js';

/** Bad command-line arguments: exit code 2, like commander's own usage errors. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** An expected failure found by the CLI itself (no response, file exists...): exit code 1, no stack. */
export class CliError extends Error {
  override readonly name = 'CliError';
}

export const ExitCode = { ok: 0, failure: 1, usage: 2 } as const;

/** Print an error the way the CLI prints it and return the exit code to use. */
export function reportError(err: unknown, write: (s: string) => void = (s) => process.stderr.write(s)): number {
  if (err instanceof CommanderError) {
    // commander already printed its message; help and version are not failures.
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') return ExitCode.ok;
    return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  }
  if (err instanceof UsageError) {
    write(`error: ${err.message}\n(see --help)\n`);
    return ExitCode.usage;
  }
  if (isShouwangError(err)) {
    write(`${err.message}\n`);
    return ExitCode.failure;
  }
  if (err instanceof CliError) {
    write(`error: ${err.message}\n`);
    return ExitCode.failure;
  }
  write(`unexpected error (please report it):\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return ExitCode.failure;
}
