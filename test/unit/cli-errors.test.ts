import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { CliError, reportError, UsageError } from '../../gateway/src/cli/errors.js';
import { resolveStartConfig } from '../../gateway/src/cli/start.js';
import { ErrorCodes, ShouwangError } from '../../gateway/src/errors.js';

function report(err: unknown): { code: number; text: string } {
  let text = '';
  const code = reportError(err, (s) => (text += s));
  return { code, text };
}

describe('reportError (the CLI exit-code contract)', () => {
  it('known failures print only their message and exit 1', () => {
    expect(report(new ShouwangError(ErrorCodes.CONFIG_INVALID, 'gateway.yaml:3 site.id: required'))).toEqual({ code: 1, text: 'gateway.yaml:3 site.id: required\n' });
    expect(report(new CliError('the two passwords differ'))).toEqual({ code: 1, text: 'error: the two passwords differ\n' });
  });

  it('usage errors exit 2 and point at --help', () => {
    expect(report(new UsageError('--ids: expected 1-247, got 0'))).toEqual({ code: 2, text: 'error: --ids: expected 1-247, got 0\n(see --help)\n' });
    expect(report(new CommanderError(1, 'commander.unknownCommand', "error: unknown command 'x'")).code).toBe(2);
    expect(report(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)')).code).toBe(0);
    expect(report(new CommanderError(0, 'commander.version', '0.1.0')).code).toBe(0);
  });

  it('unexpected errors print their stack (they are bugs) and exit 1', () => {
    const r = report(new TypeError('cannot read properties of undefined'));
    expect(r.code).toBe(1);
    expect(r.text).toMatch(/^unexpected error \(please report it\):\nTypeError: cannot read properties of undefined\n\s+at /);
  });
});

describe('resolveStartConfig', () => {
  it('uses --config, else ./gateway.yaml, else needs --demo', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shouwang-start-'));
    try {
      expect(resolveStartConfig({ config: 'site.yaml' }, dir)).toBe(join(dir, 'site.yaml'));
      expect(resolveStartConfig({ demo: true }, dir)).toBeUndefined();
      expect(() => resolveStartConfig({}, dir)).toThrow(UsageError);
      writeFileSync(join(dir, 'gateway.yaml'), 'site: { id: x }\n');
      expect(resolveStartConfig({}, dir)).toBe(join(dir, 'gateway.yaml'));
      // --demo runs the simulated village, not whatever gateway.yaml lies around
      expect(resolveStartConfig({ demo: true }, dir)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
