/**
 * docs/profile-contract.md is the list of ids other code (simulator, demo, tests) relies on.
 * This test reads that document and checks every row against the profiles as loaded by the
 * registry, so the document cannot drift from the YAML: a renamed point, a changed address,
 * label, trigger, alarm code or role fails here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ProfileRegistry } from '../../gateway/src/profiles/registry.js';
import {
  isFramePoint,
  isJsonPoint,
  isModbusPoint,
  parseDuration,
  pollOf,
  triggerSchema,
  type Profile,
} from '../../gateway/src/profiles/schema.js';

const root = join(import.meta.dirname, '../..');
const doc = readFileSync(join(root, 'docs/profile-contract.md'), 'utf8');
const registry = ProfileRegistry.load([join(root, 'device-profiles')]);

interface Section {
  id: string;
  header: string;
  tables: Map<string, string[][]>;
}

/** Split the document into `## \`profile-id\`` sections and their tables (keyed by first header cell). */
function sections(text: string): Section[] {
  const out: Section[] = [];
  const parts = text.split(/^## /m).slice(1);
  for (const part of parts) {
    const m = /^`([a-z0-9-]+)`/.exec(part);
    if (!m) continue;
    const lines = part.split('\n');
    const tables = new Map<string, string[][]>();
    let current: string[][] | undefined;
    for (const line of lines) {
      if (!line.startsWith('|')) {
        current = undefined;
        continue;
      }
      const cells = line
        .replace(/^\|/, '')
        .replace(/\|\s*$/, '')
        .split('|')
        .map((c) => c.trim());
      if (!current) {
        current = [];
        tables.set(cells[0]!.toLowerCase(), current);
        continue;
      }
      if (cells.every((c) => /^-+$/.test(c))) continue;
      current.push(cells);
    }
    out.push({ id: m[1]!, header: lines.find((l) => l.startsWith('kind:')) ?? '', tables });
  }
  return out;
}

const ticked = (cell: string) => /`([^`]+)`/.exec(cell)?.[1] ?? cell;
const contract = sections(doc);

describe('docs/profile-contract.md', () => {
  it('names at least the eleven shipped profiles, each with a kind line', () => {
    expect(contract.map((s) => s.id).sort()).toEqual(
      [
        'generic-17ch-alarm-io',
        'generic-access-controller',
        'generic-alarm-pole',
        'generic-door-contact',
        'generic-gas-detector',
        'generic-mqtt-door-sensor',
        'generic-pir',
        'generic-rs485-fingerprint-lock',
        'generic-siren-strobe',
        'generic-smoke-detector',
        'wkly-lock-board',
      ].sort(),
    );
    for (const s of contract) expect(s.header, s.id).toMatch(/^kind: /);
  });

  describe.each(contract.map((s) => [s.id, s] as const))('%s', (id, section) => {
    const profile: Profile = registry.get(id);

    it('kind, transports and identify match', () => {
      expect(section.header).toContain(`kind: ${profile.kind} `);
      const transports = /transports: ([a-z0-9, -]+?)(?: ·|$)/.exec(section.header)?.[1]?.split(',').map((t) => t.trim());
      expect(transports).toEqual(profile.transport);
      const ident = /identify: (\w+) (\d+) = \[([^\]]+)\]/.exec(section.header);
      if (profile.transport.some((t) => t.startsWith('modbus') || t === 'rtu-over-tcp')) {
        expect(ident, 'Modbus profiles document their identify registers').not.toBeNull();
        expect(profile.identify).toEqual({
          table: ident![1],
          address: Number(ident![2]),
          count: ident![3]!.split(',').length,
          expect: ident![3]!.split(',').map((v) => Number(v.trim())),
        });
      } else expect(ident).toBeNull();
    });

    it('points: source, type, values and poll class', () => {
      const rows = section.tables.get('point') ?? [];
      expect(rows.length).toBeGreaterThan(0);
      for (const [idCell, source, type, values, poll] of rows) {
        const pid = ticked(idCell!);
        const pt = profile.points.find((p) => p.id === pid);
        expect(pt, `${id}: point ${pid}`).toBeDefined();
        if (!pt) continue;
        const where = `${id}.${pid}`;
        expect(pt.type, where).toBe(type);
        const modbus = /^(coil|discrete|input|holding) (\d+)$/.exec(source!);
        const frame = /^frame (\w+) @(\d+)$/.exec(source!);
        const json = /^json ([\w.[\]]+)$/.exec(source!);
        if (modbus) {
          expect(isModbusPoint(pt) && [pt.table, pt.address], where).toEqual([modbus[1], Number(modbus[2])]);
        } else if (frame) {
          expect(isFramePoint(pt) && [pt.frame, pt.offset], where).toEqual([frame[1], Number(frame[2])]);
        } else if (json) {
          expect(isJsonPoint(pt) && pt.json, where).toBe(json[1]);
        } else throw new Error(`${where}: unreadable source "${source}"`);

        if (/^-?\d+ [a-z]\w*(, -?\d+ [a-z]\w*)*$/.test(values!)) {
          for (const pair of values!.split(', ')) {
            const [raw, label] = pair.split(' ');
            expect(pt.map?.[raw!], `${where} ${raw}`).toBe(label);
          }
        } else if (/^bit \d+ \w+(, bit \d+ \w+)*$/.test(values!)) {
          for (const pair of values!.split(', ')) {
            const [, bit, flag] = pair.split(' ');
            expect(pt.bits?.[bit!], `${where} bit ${bit}`).toBe(flag);
          }
        } else {
          const num = (re: RegExp) => (re.exec(values!) ? Number(re.exec(values!)![1]) : undefined);
          if (/scale /.test(values!)) expect(pt.scale, where).toBe(num(/scale (-?[\d.]+)/));
          if (/offset /.test(values!)) expect(pt.offset, where).toBe(num(/offset (-?[\d.]+)/));
          const unit = /unit ([^\s,]+)/.exec(values!)?.[1];
          if (unit) expect(pt.unit, where).toBe(unit);
          const dec = /decimalsFrom (\w+)/.exec(values!)?.[1];
          if (dec) expect(pt.decimalsFrom, where).toBe(dec);
          const wo = /word order (LE|BE)/.exec(values!)?.[1];
          if (wo) expect(pt.wordOrder ?? profile.wordOrder, where).toBe(wo);
        }
        if (poll === 'alarm' || poll === 'fast' || poll === 'normal' || poll === 'slow') expect(pollOf(pt), where).toBe(poll);
      }
    });

    it('events: trigger, kind and alarm codes', () => {
      for (const [idCell, kind, trigger, alarm] of section.tables.get('event') ?? []) {
        const eid = ticked(idCell!);
        const ev = profile.events.find((e) => e.id === eid);
        expect(ev, `${id}: event ${eid}`).toBeDefined();
        if (!ev) continue;
        expect(ev.kind, `${id}.${eid} kind`).toBe(kind);
        expect(ev.when, `${id}.${eid} trigger`).toEqual(triggerSchema.parse(parseYaml(ticked(trigger!))));
        if (alarm === '—') {
          expect(ev.alarm, `${id}.${eid} is not an alarm`).toBeUndefined();
          continue;
        }
        const [cid, sia, severity, ...flags] = alarm!.split(' ');
        const a = ev.alarm!;
        expect(a, `${id}.${eid} is an alarm`).toBeDefined();
        expect([a.cid, a.sia, a.severity], `${id}.${eid}`).toEqual([Number(cid), sia, severity]);
        expect(a.latch ?? a.severity === 'emergency', `${id}.${eid} latch`).toBe(flags.includes('latch'));
        expect(a.silent ?? false, `${id}.${eid} silent`).toBe(flags.includes('silent'));
        expect(a.restore ?? false, `${id}.${eid} restore`).toBe(flags.includes('restore'));
      }
    });

    it('commands: action and roles', () => {
      for (const [idCell, action, roles] of section.tables.get('command') ?? []) {
        const cid = ticked(idCell!);
        const c = profile.commands.find((x) => x.id === cid);
        expect(c, `${id}: command ${cid}`).toBeDefined();
        if (!c) continue;
        const write = /^(coil|holding) (\d+) = (\w+)/.exec(action!);
        const frame = /^frame (\w+)/.exec(action!);
        if (write) {
          const value = write[3] === 'arg' ? undefined : write[3] === 'true' ? true : write[3] === 'false' ? false : Number(write[3]);
          expect(c.write, `${id}.${cid}`).toEqual({ table: write[1], address: Number(write[2]), ...(value === undefined ? {} : { value }) });
        } else if (frame) expect(c.frame).toBe(frame[1]);
        else throw new Error(`${id}.${cid}: unreadable action "${action}"`);
        const pulse = /pulse (\S+)/.exec(action!)?.[1];
        expect(c.pulse, `${id}.${cid} pulse`).toBe(pulse === undefined ? undefined : parseDuration(pulse));
        expect([...c.roles].sort(), `${id}.${cid} roles`).toEqual(roles!.split(',').map((r) => r.trim()).sort());
      }
    });

    it('raw-serial frames: command bytes', () => {
      for (const [what, command] of section.tables.get('frame') ?? []) {
        const m = /^(request|push|command) `(\w+)`/.exec(what!);
        expect(m, what).not.toBeNull();
        const list = { request: profile.serial?.requests, push: profile.serial?.pushes, command: profile.serial?.commands }[m![1] as 'request'];
        expect(list?.find((f) => f.id === m![2])?.command, what).toBe(Number(command));
      }
    });
  });
});
