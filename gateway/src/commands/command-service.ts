/**
 * The one narrow door for commands going down to devices (remote unlock, siren, pole light):
 * validate the target and the caller's role against the profile, write an audit record, then ask
 * the device's poller to write. Nothing else writes to devices.
 */
import { z } from 'zod';
import type { AlarmService } from '../alarms/alarm-service.js';
import { ErrorCodes, ShouwangError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { CommandDef, Profile } from '../profiles/schema.js';
import type { AuditRecord } from '../store/store.js';

export const commandRoleSchema = z.enum(['admin', 'manager', 'technician', 'police']);
export type CommandRole = z.infer<typeof commandRoleSchema>;

export interface Actor {
  /** User name, MQTT username, or `system:<module>` for the gateway itself. */
  by: string;
  role: CommandRole;
  /** Where the command came from: mqtt, cli, api, system. */
  via: string;
}

export interface CommandRequest {
  device: string;
  command: string;
  argument?: number | boolean;
  reason?: string;
  actor: Actor;
}


/** Where commands are written: the device's bus scheduler (Modbus) or raw-serial poller (frames). */
export interface DeviceWriter {
  writeRegisters(device: string, table: 'coil' | 'holding', address: number, values: readonly number[]): Promise<void>;
  sendFrame(device: string, frameId: string, arg?: number): Promise<void>;
}

export interface CommandServiceOptions {
  /** Profile of a device, or undefined for an unknown device. */
  profileOf: (device: string) => Profile | undefined;
  writer: DeviceWriter;
  audit: (record: AuditRecord) => void;
  alarms: AlarmService;
  log: Logger;
  clock?: () => number;
}

/** Gateway-level commands (device id `gateway`): alarm handling by a person. */
const gatewayCommands: Record<string, readonly CommandRole[]> = {
  reset_alarm: ['admin', 'manager', 'police'],
  acknowledge_alarm: ['admin', 'manager', 'police'],
};

const alarmArgs = z.object({ alarmId: z.string().min(1), note: z.string().max(500).optional() }).strict();

export class CommandService {
  private readonly clock: () => number;
  private readonly pulses = new Set<NodeJS.Timeout>();

  constructor(private readonly opts: CommandServiceOptions) {
    this.clock = opts.clock ?? Date.now;
  }

  /** Run a device command. Throws ShouwangError (unknown / forbidden / transport) after auditing. */
  async execute(req: CommandRequest): Promise<void> {
    const profile = this.opts.profileOf(req.device);
    const def = profile?.commands.find((c) => c.id === req.command);
    const detail: Record<string, unknown> = { command: req.command, argument: req.argument, reason: req.reason };
    const fail = (code: typeof ErrorCodes.COMMAND_UNKNOWN | typeof ErrorCodes.COMMAND_FORBIDDEN, message: string): never => {
      this.audit(req, detail, 'denied', message);
      throw new ShouwangError(code, message);
    };
    if (!profile) return fail(ErrorCodes.COMMAND_UNKNOWN, `unknown device "${req.device}"`);
    if (!def) return fail(ErrorCodes.COMMAND_UNKNOWN, `device "${req.device}" (${profile.id}) has no command "${req.command}" (has: ${profile.commands.map((c) => c.id).join(', ') || 'none'})`);
    if (!def.roles.includes(req.actor.role) && req.actor.role !== 'admin')
      return fail(ErrorCodes.COMMAND_FORBIDDEN, `role ${req.actor.role} may not run ${req.command} on ${req.device} (allowed: ${def.roles.join(', ')})`);
    const argProblem = argumentProblem(def, req.argument);
    if (argProblem) return fail(ErrorCodes.COMMAND_UNKNOWN, `${req.device} ${req.command}: ${argProblem}`);
    try {
      await this.write(req.device, def, req.argument);
      this.audit(req, detail, 'ok');
    } catch (err) {
      this.audit(req, detail, 'failed', errorMessage(err));
      throw err;
    }
  }

  /** A gateway-level command (`reset_alarm`, `acknowledge_alarm`) with `{ alarmId, note }`. */
  gatewayCommand(command: string, payload: unknown, actor: Actor): void {
    const roles = gatewayCommands[command];
    const req: CommandRequest = { device: 'gateway', command, actor };
    const detail = { command, payload };
    if (!roles) {
      this.audit(req, detail, 'denied', 'unknown gateway command');
      throw new ShouwangError(ErrorCodes.COMMAND_UNKNOWN, `unknown gateway command "${command}" (has: ${Object.keys(gatewayCommands).join(', ')})`);
    }
    if (!roles.includes(actor.role)) {
      this.audit(req, detail, 'denied', `role ${actor.role} not allowed`);
      throw new ShouwangError(ErrorCodes.COMMAND_FORBIDDEN, `role ${actor.role} may not ${command}`);
    }
    const parsed = alarmArgs.safeParse(payload);
    if (!parsed.success) {
      const message = `gateway ${command}: payload must be {"alarmId": "...", "note"?: "..."} (${parsed.error.issues[0]?.message ?? 'invalid'})`;
      this.audit(req, detail, 'denied', message);
      throw new ShouwangError(ErrorCodes.PAYLOAD_INVALID, message);
    }
    const who = { by: actor.by, ...(parsed.data.note === undefined ? {} : { note: parsed.data.note }) };
    try {
      if (command === 'reset_alarm') this.opts.alarms.reset(parsed.data.alarmId, who);
      else this.opts.alarms.transition(parsed.data.alarmId, 'acknowledged', who);
      this.audit(req, detail, 'ok');
    } catch (err) {
      this.audit(req, detail, 'failed', errorMessage(err));
      throw err;
    }
  }

  stop(): void {
    for (const t of this.pulses) clearTimeout(t);
    this.pulses.clear();
  }

  private async write(device: string, def: CommandDef, argument: number | boolean | undefined): Promise<void> {
    if (def.frame !== undefined) {
      await this.opts.writer.sendFrame(device, def.frame, argument === undefined ? undefined : Number(argument));
      return;
    }
    const w = def.write!;
    const value = Number(w.value ?? argument ?? 0);
    await this.opts.writer.writeRegisters(device, w.table, w.address, [value]);
    if (def.pulse !== undefined) {
      // Pulse: write the rest value back after the pulse time (door strikes, sirens).
      const back = Number(def.pulseValue ?? 0);
      const t = setTimeout(() => {
        this.pulses.delete(t);
        this.opts.writer.writeRegisters(device, w.table, w.address, [back]).catch((err: unknown) => {
          this.opts.log.error({ err: errorMessage(err), device, command: def.id }, 'pulse write-back failed');
        });
      }, def.pulse);
      this.pulses.add(t);
    }
  }

  private audit(req: CommandRequest, detail: Record<string, unknown>, result: AuditRecord['result'], error?: string): void {
    const record: AuditRecord = {
      ts: this.clock(),
      actor: req.actor.by,
      role: req.actor.role,
      via: req.actor.via,
      action: `command:${req.command}`,
      target: req.device,
      detail,
      result,
      ...(error === undefined ? {} : { error }),
    };
    try {
      this.opts.audit(record);
    } catch (err) {
      this.opts.log.error({ err: errorMessage(err), record }, 'audit record could not be written');
    }
    this.opts.log.info({ audit: record }, `command ${req.command} on ${req.device}: ${result}`);
  }
}

function argumentProblem(def: CommandDef, arg: number | boolean | undefined): string | undefined {
  // Commands with a fixed value (or a frame without an argument) ignore any argument given.
  if (!def.argument) return undefined;
  if (arg === undefined) return `needs an argument (${def.argument.type})`;
  const n = Number(arg);
  if (!Number.isFinite(n)) return `argument must be a number, got ${JSON.stringify(arg)}`;
  if (def.argument.min !== undefined && n < def.argument.min) return `argument must be >= ${def.argument.min}, got ${n}`;
  if (def.argument.max !== undefined && n > def.argument.max) return `argument must be <= ${def.argument.max}, got ${n}`;
  return undefined;
}
