/**
 * Door commands from the rental-housing API (issue #5 part 4), all through the one door for
 * device commands (commands/command-service.ts: role check against the profile, audit record
 * with who / when / which device / why, then the write).
 *
 * Only what the device's profile declares is offered; nothing is invented:
 *   unlock                remote unlock (the shipped lock and controller profiles have it)
 *   issue_temp_code       time-boxed temporary code, argument = minutes of validity
 *   register_credential   open enrolment of a user slot on the lock, argument = slot
 *   cancel_credential     delete a user slot on the lock, argument = slot
 * A profile without the command gets 409 "profile X has no command Y" (audited as denied).
 * None of the shipped profiles has the last three today: their register maps do not say how.
 */
import type { Actor, CommandRequest } from '../commands/command-service.js';
import type { Profile } from '../profiles/schema.js';
import type { AuditRecord } from '../store/store.js';
import { AccessError, conflict, invalid, notFound } from './errors.js';
import type { Registry } from './registry.js';

export const DOOR_COMMANDS = {
  unlock: 'unlock',
  tempCode: 'issue_temp_code',
  registerCredential: 'register_credential',
  cancelCredential: 'cancel_credential',
} as const;

export type DoorCommandId = (typeof DOOR_COMMANDS)[keyof typeof DOOR_COMMANDS];

/** What DoorCommands needs of CommandService. */
export interface CommandRunner {
  execute(req: CommandRequest): Promise<void>;
}

export interface DoorCommandsOptions {
  commands: CommandRunner;
  /** Profile of a configured device, or undefined. */
  profileOf: (device: string) => Profile | undefined;
  registry: Registry;
  audit: (record: AuditRecord) => void;
  clock?: () => number;
}

export const MAX_REASON = 500;

export class DoorCommands {
  private readonly clock: () => number;

  constructor(private readonly opts: DoorCommandsOptions) {
    this.clock = opts.clock ?? Date.now;
  }

  /** Which door commands this device's profile offers. */
  capabilities(device: string): Record<keyof typeof DOOR_COMMANDS, boolean> {
    const profile = this.opts.profileOf(device);
    if (!profile) throw notFound(`device ${device}`);
    const has = (id: string) => profile.commands.some((c) => c.id === id);
    return {
      unlock: has(DOOR_COMMANDS.unlock),
      tempCode: has(DOOR_COMMANDS.tempCode),
      registerCredential: has(DOOR_COMMANDS.registerCredential),
      cancelCredential: has(DOOR_COMMANDS.cancelCredential),
    };
  }

  /** Remote unlock, with a reason (audited: who, when, which door, why). */
  async unlock(device: string, reason: string, actor: Actor): Promise<void> {
    await this.run(device, DOOR_COMMANDS.unlock, undefined, reason, actor);
  }

  /** A time-boxed temporary code, where the lock's profile supports it. */
  async issueTempCode(device: string, minutes: number, reason: string, actor: Actor): Promise<void> {
    await this.run(device, DOOR_COMMANDS.tempCode, minutes, reason, actor);
  }

  /** Open enrolment of a lock-slot credential's slot on its lock, where the profile supports it. */
  async registerOnLock(credentialId: string, reason: string, actor: Actor): Promise<void> {
    const { door, slot } = this.slotCredential(credentialId);
    await this.run(door, DOOR_COMMANDS.registerCredential, slot, reason, actor, credentialId);
  }

  /** Delete a lock-slot credential's slot on its lock, where the profile supports it. */
  async cancelOnLock(credentialId: string, reason: string, actor: Actor): Promise<void> {
    const { door, slot } = this.slotCredential(credentialId);
    await this.run(door, DOOR_COMMANDS.cancelCredential, slot, reason, actor, credentialId);
  }

  private slotCredential(id: string): { door: string; slot: number } {
    const c = this.opts.registry.getCredential(id);
    if (!c) throw notFound(`credential ${id}`);
    if (c.kind !== 'lock_slot' || c.door === undefined || c.slot === undefined) {
      throw conflict(`credential ${id} is a card credential; only lock-slot credentials live in a lock`);
    }
    return { door: c.door, slot: c.slot };
  }

  private async run(device: string, command: DoorCommandId, argument: number | undefined, reason: string, actor: Actor, credential?: string): Promise<void> {
    const why = reason.trim();
    if (why === '' || why.length > MAX_REASON) throw invalid('command', [{ path: 'reason', message: `a reason (1-${MAX_REASON} characters) is required` }]);
    const profile = this.opts.profileOf(device);
    // An unknown device goes to CommandService, which audits the attempt and answers "unknown device".
    if (profile && !profile.commands.some((c) => c.id === command)) {
      const message = `profile ${profile.id} has no command ${command}`;
      this.audit(actor, device, command, { argument, reason: why, credential }, message);
      throw new AccessError('conflict', `${message} (device ${device} has: ${profile.commands.map((c) => c.id).join(', ') || 'none'})`);
    }
    await this.opts.commands.execute({ device, command, reason: why, actor, ...(argument === undefined ? {} : { argument }) });
  }

  private audit(actor: Actor, device: string, command: string, detail: Record<string, unknown>, error: string): void {
    this.opts.audit({
      ts: this.clock(),
      actor: actor.by,
      role: actor.role,
      via: actor.via,
      action: `command:${command}`,
      target: device,
      detail: Object.fromEntries(Object.entries({ command, ...detail }).filter(([, v]) => v !== undefined)),
      result: 'denied',
      error,
    });
  }
}
