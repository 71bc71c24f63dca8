/**
 * `shouwang profiles list | show <id>`: what the gateway knows about device models, in the
 * words a technician uses on site (Chinese first, English beside it).
 */
import { isAbsolute, relative } from 'node:path';
import type { LoadedProfile, ProfileRegistry } from '../profiles/registry.js';
import { isFramePoint, isJsonPoint, isModbusPoint, pollOf, type EventDef, type PointDef, type Profile, type TriggerDef } from '../profiles/schema.js';
import { modiconRef } from './register-ref.js';
import { formatTable, hex16 } from './text.js';

/** The `profiles list` table. */
export function formatProfileList(profiles: readonly LoadedProfile[]): string {
  const rows = [...profiles]
    .sort((a, b) => a.profile.id.localeCompare(b.profile.id))
    .map(({ profile: p }) => [p.id, p.kind, p.name.zh, p.name.en, p.transport.join(', ')]);
  return formatTable(['id', 'kind', '名称', 'name', 'transports'], rows);
}

export function profileListJson(profiles: readonly LoadedProfile[]): unknown {
  return [...profiles]
    .sort((a, b) => a.profile.id.localeCompare(b.profile.id))
    .map(({ profile: p, file }) => ({ id: p.id, kind: p.kind, name: p.name, transport: p.transport, vendor: p.vendor, file }));
}

function formatPoll(p: PointDef): string {
  const poll = pollOf(p);
  return typeof poll === 'number' ? `${poll} ms` : poll;
}

/** Where a point lives: `holding 10 (40011)`, `frame status +1`, `json status.door`. */
export function pointLocation(p: PointDef): { table: string; address: string; ref: string } {
  if (isModbusPoint(p)) {
    const bit = p.bit !== undefined ? `.${p.bit}` : '';
    return { table: p.table, address: `${p.address}${bit}`, ref: modiconRef(p.table, p.address) };
  }
  if (isFramePoint(p)) return { table: `frame ${p.frame}`, address: `+${p.offset}`, ref: '' };
  if (isJsonPoint(p)) return { table: 'json', address: p.json, ref: '' };
  return { table: '', address: '', ref: '' };
}

function pointDetails(p: PointDef): string {
  const parts: string[] = [];
  if (p.map) parts.push(Object.entries(p.map).map(([k, v]) => `${k}=${v}`).join(' '));
  if (p.bits) parts.push(`bits ${Object.entries(p.bits).map(([k, v]) => `${k}:${v}`).join(' ')}`);
  if (p.scale !== undefined) parts.push(`×${p.scale}`);
  if (p.offset !== undefined && !isFramePoint(p)) parts.push(`+${p.offset}`);
  if (p.decimalsFrom) parts.push(`÷10^${p.decimalsFrom}`);
  if (p.mask !== undefined) parts.push(`mask ${hex16(p.mask)}`);
  if (p.shift !== undefined) parts.push(`>>${p.shift}`);
  if (p.wordOrder) parts.push(`words ${p.wordOrder}`);
  if (p.byteOrder) parts.push(`bytes ${p.byteOrder}`);
  if (p.length !== undefined && p.type === 'string') parts.push(`len ${p.length}`);
  if (p.writable) parts.push('writable');
  return parts.join(', ');
}

/** A trigger in one line: `door becomes open while bolt=locked for 60000ms`. */
export function describeTrigger(t: TriggerDef): string {
  let s = t.point;
  if (t.becomes !== undefined) s += ` becomes ${String(t.becomes)}`;
  if (t.equals !== undefined) s += ` equals ${String(t.equals)}`;
  if (t.flag !== undefined) s += ` has flag ${t.flag}`;
  if (t.above !== undefined) s += ` above ${t.above}`;
  if (t.below !== undefined) s += ` below ${t.below}`;
  if (t.hysteresis !== undefined) s += ` (hysteresis ${t.hysteresis})`;
  if (t.changes) s += ' changes';
  if (t.while) {
    const conds = Object.entries(t.while).map(([k, c]) => (typeof c === 'object' ? `${k} ${JSON.stringify(c)}` : `${k}=${String(c)}`));
    s += ` while ${conds.join(' and ')}`;
  }
  if (t.for !== undefined) s += ` for ${t.for}ms`;
  if (t.debounce !== undefined) s += ` (debounce ${t.debounce}ms)`;
  return s;
}

function describeAlarm(e: EventDef): string {
  const a = e.alarm;
  if (!a) return e.kind === 'access' ? 'access event' : '—';
  const latch = a.latch ?? a.severity === 'emergency';
  const flags = [latch ? 'latch' : '', a.silent ? 'silent' : '', a.restore ? `restore${a.siaRestore ? ` ${a.siaRestore}` : ''}` : ''].filter(Boolean);
  return `CID ${a.cid} / SIA ${a.sia} ${a.severity}${flags.length ? ` (${flags.join(', ')})` : ''}`;
}

/** The `profiles show <id>` text. */
export function formatProfile(p: Profile, file: string): string {
  const out: string[] = [];
  out.push(`${p.name.zh} / ${p.name.en}`);
  out.push(`id          ${p.id}`);
  out.push(`kind        ${p.kind}${p.vendor ? `   vendor ${p.vendor}` : ''}`);
  out.push(`transports  ${p.transport.join(', ')}`);
  out.push(`file        ${file}`);
  if (p.description) out.push(`            ${p.description.zh}`, `            ${p.description.en}`);
  if (p.transport.some((t) => t !== 'raw-serial' && t !== 'mqtt')) {
    out.push(`registers   addresses 0-based on the wire (ref = 1-based Modicon number); bytes ${p.byteOrder}, words ${p.wordOrder}; max read ${p.maxReadRegisters} regs / ${p.maxReadBits} bits`);
  }
  if (p.identify) {
    const expect = p.identify.expect.map((v) => (v === null ? 'any' : hex16(v))).join(' ');
    out.push(`identify    ${p.identify.table} ${p.identify.address} ×${p.identify.count} (${modiconRef(p.identify.table, p.identify.address)}) expect [${expect}]`);
  }

  out.push('', `Points 点位 (${p.points.length})`);
  out.push(
    formatTable(
      ['id', '名称', 'name', 'table', 'address', 'ref', 'type', 'unit', 'poll', 'details'],
      p.points.map((pt) => {
        const loc = pointLocation(pt);
        return [pt.id, pt.name?.zh ?? '', pt.name?.en ?? '', loc.table, loc.address, loc.ref, pt.type, pt.unit ?? '', formatPoll(pt), pointDetails(pt)];
      }),
      { align: ['left', 'left', 'left', 'left', 'right'] },
    ),
  );

  if (p.events.length > 0) {
    out.push('', `Events 事件 (${p.events.length})`);
    out.push(
      formatTable(
        ['id', '名称', 'name', 'when', 'alarm'],
        p.events.map((e) => [e.id, e.name.zh, e.name.en, describeTrigger(e.when), describeAlarm(e)]),
      ),
    );
  }

  if (p.commands.length > 0) {
    out.push('', `Commands 命令 (${p.commands.length})`);
    out.push(
      formatTable(
        ['id', '名称', 'name', 'action', 'roles'],
        p.commands.map((c) => {
          let action = '';
          if (c.write) {
            const value = c.write.value === undefined ? `<${c.argument?.type ?? 'arg'}>` : String(c.write.value);
            action = `write ${c.write.table} ${c.write.address} = ${value}`;
          } else if (c.frame) action = `frame ${c.frame}`;
          if (c.pulse !== undefined) {
            const back = c.pulseValue ?? (typeof c.write?.value === 'boolean' ? false : 0);
            action += `, back to ${String(back)} after ${c.pulse}ms`;
          }
          return [c.id, c.name.zh, c.name.en, action, c.roles.join(', ')];
        }),
      ),
    );
  }
  return out.join('\n');
}

export function runProfilesList(registry: ProfileRegistry, json: boolean): string {
  const list = registry.list();
  if (json) return JSON.stringify(profileListJson(list), null, 2);
  if (list.length === 0) return '(no profiles found)';
  return `${formatProfileList(list)}\n\n${list.length} profile${list.length === 1 ? '' : 's'}`;
}

export function runProfilesShow(registry: ProfileRegistry, id: string, json: boolean): string {
  const profile = registry.get(id); // throws PROFILE_UNKNOWN listing the known ids
  const file = registry.list().find((l) => l.profile.id === id)?.file ?? '';
  if (json) return JSON.stringify({ file, ...profile }, null, 2);
  const rel = relative(process.cwd(), file);
  return formatProfile(profile, rel.startsWith('..') || isAbsolute(rel) ? file : rel);
}
