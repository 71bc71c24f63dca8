import { describe, expect, it } from 'vitest';
import { blockAscii, formatDecodings, formatPairTable, formatRegisterTable, profileAnnotations, registerAscii } from '../../gateway/src/cli/decode-table.js';
import { describeTrigger, formatProfile, formatProfileList } from '../../gateway/src/cli/profiles.js';
import { modiconHint } from '../../gateway/src/cli/read.js';
import { modiconRef } from '../../gateway/src/cli/register-ref.js';
import { expectMatches, formatScanReport, identifyProbes, type UnitResult } from '../../gateway/src/cli/scan.js';
import { displayWidth, formatFloat, formatTable, toHex } from '../../gateway/src/cli/text.js';
import { parseYamlText } from '../../gateway/src/config/yaml-source.js';
import { ErrorCodes } from '../../gateway/src/errors.js';
import type { LoadedProfile } from '../../gateway/src/profiles/registry.js';
import { profileFromYaml } from '../../gateway/src/profiles/registry.js';

function profile(yaml: string): LoadedProfile {
  return { profile: profileFromYaml(parseYamlText(yaml, 'p.yaml', ErrorCodes.PROFILE_INVALID)), file: 'p.yaml' };
}

const LOCK = profile(`
id: test-lock
name: { zh: 测试门锁, en: Test lock }
kind: door-lock
transport: [modbus-rtu, modbus-tcp]
identify: { table: holding, address: 0, count: 2, expect: [0x5357, 0x0101] }
points:
  - { id: door, name: { zh: 门, en: Door }, table: discrete, address: 0, type: bool, map: { 0: closed, 1: open }, priority: alarm }
  - { id: bolt, table: discrete, address: 1, type: bool, map: { 0: unlocked, 1: locked } }
  - { id: battery, table: input, address: 20, type: u16, scale: 0.01, unit: V, poll: slow }
events:
  - { id: door_forced, name: { zh: 强行开门, en: Door forced }, when: { point: door, becomes: open, while: { bolt: locked } }, alarm: { cid: 423, sia: DF, severity: critical } }
commands:
  - { id: unlock, name: { zh: 开锁, en: Unlock }, write: { table: coil, address: 256, value: 1 }, pulse: 3s, roles: [manager, admin] }
`);

// 1-based profile: its addresses are normalised to 0-based by the registry.
const POLE = profile(`
id: test-pole
name: { zh: 一键报警柱, en: Alarm pole }
kind: alarm-pole
transport: [modbus-rtu]
addressBase: 1
identify: { table: holding, address: 1, count: 2, expect: [0x5357, null] }
points:
  - { id: button, table: discrete, address: 1, type: bool, map: { 0: released, 1: pressed }, priority: alarm }
  - { id: energy, table: holding, address: 11, type: f32, unit: kWh }
`);

const OTHER = profile(`
id: test-io
name: { zh: 报警模块, en: IO module }
kind: io-module
transport: [modbus-tcp]
identify: { table: input, address: 100, count: 1, expect: [0x1701] }
points:
  - { id: di1, table: discrete, address: 0, type: bool }
`);

describe('text helpers', () => {
  it('counts Chinese characters as two columns so tables line up', () => {
    expect(displayWidth('门锁')).toBe(4);
    expect(displayWidth('lock 门')).toBe(7);
    const t = formatTable(['名称', 'n'], [['门锁', '1'], ['pole', '22']], { align: ['left', 'right'] });
    expect(t.split('\n')).toEqual(['名称   n', '----  --', '门锁   1', 'pole  22']);
  });

  it('prints bytes as upper-case hex pairs and floats without noise', () => {
    expect(toHex(Buffer.from([0x01, 0x03, 0x00, 0xc4, 0x0b]))).toBe('01 03 00 C4 0B');
    expect(formatFloat(25)).toBe('25');
    expect(formatFloat(0.1 + 0.2)).toBe('0.3');
    expect(formatFloat(Number.NaN)).toBe('NaN');
    expect(formatFloat(2.359786613922992e-41)).toBe('2.360e-41');
  });
});

describe('register notations', () => {
  it('gives Modicon references per table', () => {
    expect(modiconRef('holding', 0)).toBe('40001');
    expect(modiconRef('input', 9)).toBe('30010');
    expect(modiconRef('coil', 255)).toBe('00256');
    expect(modiconRef('discrete', 0)).toBe('10001');
    expect(modiconRef('holding', 9999)).toBe('410000');
  });

  it('recognises a Modicon reference typed as an address', () => {
    expect(modiconHint('holding', 40001)).toMatch(/40001 looks like a Modicon reference: 40001 is holding address 0 on the wire \(use --address 0, or --address 1 --base 1\)/);
    expect(modiconHint('input', 30011)).toMatch(/input address 10 on the wire/);
    expect(modiconHint('holding', 100)).toBeUndefined();
    expect(modiconHint('input', 40001)).toBeUndefined();
  });
});

describe('decoding table', () => {
  const block = { table: 'holding' as const, address: 8, values: [0x5357, 0x0101, 0x41c8, 0x0000, 0xfffe] };

  it('shows 0-based, 1-based and Modicon addresses with u16/i16/hex/bits/ascii per register', () => {
    const lines = formatRegisterTable(block).split('\n');
    expect(lines[0]).toBe('addr  reg#    ref  hex       u16    i16  bits (15..0)       ascii');
    expect(lines[2]).toBe('   8     9  40009  0x5357  21335  21335  01010011 01010111  "SW"');
    expect(lines[6]).toBe('  12    13  40013  0xFFFE  65534     -2  11111111 11111110  ".."');
  });

  it('shows u32/i32/f32 in both word orders for every register pair', () => {
    const lines = formatPairTable(block).split('\n');
    expect(lines).toHaveLength(2 + 4);
    // 0x5357 0x0101: high word first = 0x53570101, low word first = 0x01015357
    expect(lines[2]).toMatch(/^\s+8-9\s+9-10\s+1398210817\s+1398210817\s+9\.234e\+11\s+16864087\s+16864087\s+2\.375e-38$/);
    // 0x41C8 0x0000 is 25.0 as a big-endian float
    expect(lines[4]).toMatch(/^10-11\s+11-12\s+1103626240\s+1103626240\s+25\s+16840\s+16840\s+2\.360e-41$/);
    // 0x0000 0xFFFE read low word first is 0xFFFE0000 = -131072 signed
    expect(lines[5]).toMatch(/4294836224\s+-131072\s+NaN$/);
    expect(formatPairTable({ ...block, values: [1] })).toBe('');
  });

  it('reads ASCII high byte first and hides control bytes', () => {
    expect(registerAscii(0x5357)).toBe('SW');
    expect(registerAscii(0x4100)).toBe('A.');
    expect(blockAscii([0x5348, 0x4f55, 0x5741, 0x4e47])).toBe('SHOUWANG');
  });

  it('annotates the rows where a profile point starts, decoded the way the gateway will', () => {
    const notes = profileAnnotations(POLE.profile, block);
    expect([...notes.entries()]).toEqual([[2, ['energy=25 kWh']]]);
    const text = formatDecodings(block, POLE.profile);
    expect(text).toMatch(/40011\s+0x41C8\s+16840\s+16840\s+01000001 11001000\s+"A\."\s+energy=25 kWh/);
    expect(text).toContain('ASCII (high byte first): "SW..A....."');
    const bits = formatDecodings({ table: 'discrete', address: 0, values: [0, 1] }, LOCK.profile).split('\n');
    expect(bits[2]).toBe('   0     1  10001      0  off  door=closed');
    expect(bits[3]).toBe('   1     2  10002      1  ON   bolt=locked');
  });
});

describe('profiles output', () => {
  it('lists profiles sorted by id with zh and en names', () => {
    const lines = formatProfileList([POLE, LOCK]).split('\n');
    expect(lines[0]).toMatch(/^id\s+kind\s+名称\s+name\s+transports$/);
    expect(lines[2]).toMatch(/^test-lock\s+door-lock\s+测试门锁\s+Test lock\s+modbus-rtu, modbus-tcp$/);
    expect(lines[3]).toMatch(/^test-pole\s+alarm-pole\s+一键报警柱\s+Alarm pole\s+modbus-rtu$/);
    // columns line up in terminal cells: "Test lock" and "Alarm pole" start at the same column
    expect(displayWidth(lines[2]!.slice(0, lines[2]!.indexOf('Test lock')))).toBe(displayWidth(lines[3]!.slice(0, lines[3]!.indexOf('Alarm pole'))));
  });

  it('shows points with table/address/ref/type/unit/poll, events with alarm codes, commands with roles', () => {
    const text = formatProfile(LOCK.profile, 'p.yaml');
    expect(text.split('\n')[0]).toBe('测试门锁 / Test lock');
    expect(text).toMatch(/door\s+门\s+Door\s+discrete\s+0\s+10001\s+bool\s+alarm\s+0=closed 1=open/);
    expect(text).toMatch(/battery\s+input\s+20\s+30021\s+u16\s+V\s+slow\s+×0\.01/);
    expect(text).toMatch(/door_forced\s+强行开门\s+Door forced\s+door becomes open while bolt=locked\s+CID 423 \/ SIA DF critical/);
    expect(text).toMatch(/unlock\s+开锁\s+Unlock\s+write coil 256 = 1, back to 0 after 3000ms\s+manager, admin/);
    expect(text).toContain('identify    holding 0 ×2 (40001) expect [0x5357 0x0101]');
  });

  it('describes triggers in one line', () => {
    expect(describeTrigger({ point: 'gas', above: 25, hysteresis: 5 })).toBe('gas above 25 (hysteresis 5)');
    expect(describeTrigger({ point: 'door', equals: 'open', for: 60_000 })).toBe('door equals open for 60000ms');
    expect(describeTrigger({ point: 'event_seq', changes: true })).toBe('event_seq changes');
  });
});

describe('scan planning and report', () => {
  it('groups profiles by identical identify block, most shared first', () => {
    const probes = identifyProbes([OTHER, LOCK, POLE]);
    // LOCK reads holding 0 ×2; POLE (1-based 1) also reads holding 0 ×2 after normalisation
    expect(probes.map((p) => [p.table, p.address, p.count, p.profiles.map((x) => x.profile.id)])).toEqual([
      ['holding', 0, 2, ['test-lock', 'test-pole']],
      ['input', 100, 1, ['test-io']],
    ]);
  });

  it('matches expect with null as a wildcard', () => {
    expect(expectMatches([0x5357, null], [0x5357, 0x9999])).toBe(true);
    expect(expectMatches([0x5357, 0x0101], [0x5357, 0x0102])).toBe(false);
    expect(expectMatches([0x5357], [])).toBe(false);
  });

  it('prints request/reply hex and candidates for responders only', () => {
    const results: UnitResult[] = [
      { unit: 1, candidates: [], probes: [{ table: 'holding', address: 0, count: 2, timedOut: true, candidates: [] }] },
      {
        unit: 3,
        candidates: ['test-lock', 'test-pole'],
        probes: [
          {
            table: 'holding',
            address: 0,
            count: 2,
            request: Buffer.from('0303000000024429', 'hex'),
            response: Buffer.from('030304535701010000', 'hex'),
            values: [0x5357, 0x0101],
            candidates: ['test-lock', 'test-pole'],
          },
          { table: 'input', address: 100, count: 1, exception: 2, candidates: [] },
        ],
      },
      { unit: 9, candidates: [], probes: [{ table: 'holding', address: 0, count: 2, values: [1, 2], candidates: [] }] },
    ];
    const text = formatScanReport(results, [LOCK, POLE, OTHER]);
    expect(text).not.toContain('unit 1\n');
    // a unit that only refused still shows the bytes of its first refusal
    const refusing = formatScanReport(
      [
        {
          unit: 5,
          candidates: [],
          probes: [
            { table: 'holding', address: 0, count: 2, exception: 2, request: Buffer.from('050300000002C58F', 'hex'), response: Buffer.from('058302', 'hex'), candidates: [] },
            { table: 'input', address: 100, count: 1, timedOut: true, candidates: [] },
          ],
        },
      ],
      [LOCK],
    );
    expect(refusing).toBe(
      [
        'unit 5',
        '  read holding 0 ×2 (40001): exception 2 (illegal data address)',
        '    tx 05 03 00 00 00 02 C5 8F',
        '    rx 05 83 02',
        '  no reply: input 100 ×1',
        '  responded, no profile matched',
      ].join('\n'),
    );
    expect(text).toContain('unit 3\n  read holding 0 ×2 (40001): 0x5357 0x0101\n    tx 03 03 00 00 00 02 44 29\n    rx 03 03 04 53 57 01 01 00 00');
    // refusals are summed up in one line per reason
    expect(text).toContain('  exception 2 (illegal data address): input 100 ×1\n');
    expect(text).toContain('  candidate profiles:\n    test-lock  测试门锁 / Test lock\n    test-pole  一键报警柱 / Alarm pole');
    expect(text).toContain('unit 9\n  read holding 0 ×2 (40001): 0x0001 0x0002\n  responded, no profile matched (raw registers holding 0: [0x0001 0x0002])');
  });
});
