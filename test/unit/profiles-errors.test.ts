/**
 * Broken profiles are reported as `file:line path: message`, the way a technician reads them
 * (e.g. `bad-type.yaml:12 points[3].type: ...`). Each fixture in test/fixtures/profiles/broken/
 * has one mistake; the expected line is checked against the fixture text so the test cannot
 * silently agree with a wrong line number.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, isShouwangError, ShouwangError } from '../../gateway/src/errors.js';
import { loadProfileFile, profileFromYaml, ProfileRegistry } from '../../gateway/src/profiles/registry.js';
import { parseYamlText } from '../../gateway/src/config/yaml-source.js';

const fixtures = join(import.meta.dirname, '../fixtures/profiles');
const broken = join(fixtures, 'broken');

function errorOf(fn: () => unknown): ShouwangError {
  try {
    fn();
  } catch (err) {
    if (isShouwangError(err)) return err;
    throw err;
  }
  throw new Error('expected a ShouwangError, nothing was thrown');
}

/** Load one broken fixture; check the exact message and that the named line holds `lineHas`. */
function expectBroken(file: string, line: number, rest: string, lineHas: string): void {
  const err = errorOf(() => loadProfileFile(join(broken, file)));
  expect(err.code).toBe(ErrorCodes.PROFILE_INVALID);
  expect(err.message).toBe(`${file}:${line} ${rest}`);
  const text = readFileSync(join(broken, file), 'utf8').split('\n');
  expect(text[line - 1], `line ${line} of ${file}`).toContain(lineHas);
}

describe('profile errors name file, line and path', () => {
  it('an unknown point type', () => {
    expectBroken(
      'bad-type.yaml',
      12,
      'points[3].type: expected one of "bool"|"u16"|"i16"|"u32"|"i32"|"f32"|"bitfield"|"enum"|"string", got "uint16"',
      'type: uint16',
    );
  });

  it('duplicate point ids and duplicate event ids', () => {
    expectBroken('duplicate-point.yaml', 9, 'points[2].id: duplicate point id "door"', 'address: 2');
    expectBroken('duplicate-event.yaml', 12, 'events[1].id: duplicate event id "opened"', '- id: opened');
  });

  it('a rule naming an unknown point, in the trigger or in while', () => {
    expectBroken('unknown-point-in-rule.yaml', 12, 'events[0].when.point: unknown point "dor"', 'point: dor');
    expectBroken('unknown-while-point.yaml', 14, 'events[0].when.while.bolt: unknown point "bolt"', 'while: { bolt: locked }');
  });

  it('an enum without a map', () => {
    expectBroken('enum-without-map.yaml', 8, 'points[1].map: enum points need a map', 'id: last_method');
  });

  it('a rule comparing with a label or flag the point does not have', () => {
    expectBroken('bad-label.yaml', 11, 'events[0].when.becomes: "opne" is not a value of door (one of: closed, open)', 'becomes: opne');
    expectBroken('bad-flag.yaml', 15, 'events[0].when.flag: "camera" is not a flag of faults (one of: speaker, microphone)', 'flag: camera');
  });

  it('a trigger with two forms, and a duration that is not one', () => {
    expectBroken('two-trigger-forms.yaml', 11, 'events[0].when: a trigger needs exactly one of becomes, equals, flag, above/below, changes, received', 'when:');
    expectBroken('bad-duration.yaml', 14, 'events[0].when.for: expected a duration like 500ms, 5s, 2m, 1h, got "60 seconds"', 'for: 60 seconds');
  });

  it('a discrete input that is not bool, received on a polled point, register 0 with addressBase 1', () => {
    expectBroken('discrete-u16.yaml', 8, 'points[1].type: discrete points must be bool, got u16', 'type: u16');
    expectBroken(
      'received-on-polled.yaml',
      11,
      'events[0].when.received: "door" is polled, so received would fire on every poll; use it for push-frame or JSON points',
      'received: true',
    );
    expectBroken('base1-address0.yaml', 9, 'points[1].address: address 0 is invalid with addressBase 1', 'address: 0');
  });

  it('a YAML syntax error, with the line where the parser noticed it', () => {
    const err = errorOf(() => loadProfileFile(join(broken, 'syntax-error.yaml')));
    expect(err.message).toMatch(/^syntax-error\.yaml:8 YAML syntax: Flow map .* end with a \}$/);
  });

  it('an unknown field is located at the field itself', () => {
    const text = [
      'id: x',
      'name: { zh: 测试, en: Test }',
      'kind: pir',
      'transport: [modbus-rtu]',
      'points:',
      '  - id: motion',
      '    table: discrete',
      '    adress: 0',
      '    type: bool',
    ].join('\n');
    const err = errorOf(() => profileFromYaml(parseYamlText(text, '/somewhere/x.yaml', ErrorCodes.PROFILE_INVALID)));
    expect(err.message.split('\n')).toEqual(['x.yaml:6 points[0].address: required', 'x.yaml:8 points[0].adress: unknown field']);
  });

  it('every issue of a file is reported, each on its own line', () => {
    const text = ['id: Bad_Id', 'name: { zh: 测试 }', 'kind: toaster', 'transport: []', 'points: []'].join('\n');
    const err = errorOf(() => profileFromYaml(parseYamlText(text, 'many.yaml', ErrorCodes.PROFILE_INVALID)));
    const lines = err.message.split('\n');
    expect(lines).toContain('many.yaml:1 id: profile ids are kebab-case, got "Bad_Id"');
    expect(lines).toContain('many.yaml:2 name.en: required');
    expect(lines.some((l) => l.startsWith('many.yaml:3 kind: expected one of'))).toBe(true);
    expect(lines.some((l) => l.startsWith('many.yaml:4 transport: '))).toBe(true);
    expect(lines.some((l) => l.startsWith('many.yaml:5 points: '))).toBe(true);
  });
});

describe('ProfileRegistry.load', () => {
  it('collects the errors of every broken file before throwing one error', () => {
    const err = errorOf(() => ProfileRegistry.load([broken]));
    expect(err.code).toBe(ErrorCodes.PROFILE_INVALID);
    const errors = (err.details?.errors ?? []) as string[];
    expect(errors).toHaveLength(14);
    for (const f of ['bad-type', 'duplicate-point', 'unknown-point-in-rule', 'enum-without-map', 'bad-label', 'syntax-error'])
      expect(errors.some((e) => e.startsWith(`${f}.yaml:`)), f).toBe(true);
  });

  it('rejects two files with the same profile id, naming both', () => {
    const err = errorOf(() => ProfileRegistry.load([join(fixtures, 'duplicate-id')]));
    expect(err.message).toBe(`b-lock.yaml: profile id "fixture-same-id" already defined in ${join(fixtures, 'duplicate-id', 'a-lock.yaml')}`);
  });

  it('reports a missing directory', () => {
    const err = errorOf(() => ProfileRegistry.load([join(fixtures, 'no-such-dir')]));
    expect(err.message).toContain('no-such-dir: cannot read profile directory (ENOENT)');
  });

  it('get() of an unknown id lists the known ones', () => {
    const reg = ProfileRegistry.load([join(import.meta.dirname, '../../device-profiles')]);
    const err = errorOf(() => reg.get('generic-toaster'));
    expect(err.code).toBe(ErrorCodes.PROFILE_UNKNOWN);
    expect(err.message).toContain('unknown profile "generic-toaster" (known: ');
    expect(err.message).toContain('generic-alarm-pole');
  });
});
