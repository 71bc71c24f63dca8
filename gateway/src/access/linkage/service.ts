/**
 * 十户联防: when a household has an alarm, the other households of its linkage group are told
 * (MQTT `<prefix>/<site>/linkage/<group>`, QoS 1, and a signed webhook) and the group's sirens
 * and strobes fire through the command service (actor `system:linkage`, role admin, audited like
 * every command) where the group's policy says so. When a person resets the alarm, the group
 * hears `phase: reset` and sirens still on are switched off.
 *
 * It listens to the bus `alarm` messages, which the alarm service emits only after the alarm is
 * stored: linkage never runs for an alarm the gateway could forget. Only an alarm's first
 * announcement (state `raised`) starts linkage; its later lifecycle messages do not repeat it.
 */
import type { EventBus } from '../../core/event-bus.js';
import type { Alarm } from '../../core/types.js';
import type { CommandRequest } from '../../commands/command-service.js';
import { ErrorCodes, ShouwangError, errorMessage } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Profile } from '../../profiles/schema.js';
import { policyFor, type LinkageConfig, type LinkagePolicy } from './config.js';
import { planLinkage, resetMessage, type LinkageMessage, type LinkagePlan, type LinkageRoom, type SirenStep } from './plan.js';
import { linkageTopic } from './topic.js';
import { postLinkage, type WebhookOutcome } from './webhook.js';

/** The households: which room a device belongs to, and the rooms of a group (the registry). */
export interface LinkageDirectory {
  roomOfDevice(device: string): LinkageRoom | undefined;
  roomsInGroup(group: string): LinkageRoom[];
}

export interface LinkageOptions {
  config: LinkageConfig;
  site: string;
  topicPrefix: string;
  bus: EventBus;
  directory: LinkageDirectory;
  /** The embedded broker (MqttBroker.publish fits). */
  mqtt?: { publish(topic: string, payload: string, opts: { qos: 1; retain: false }): Promise<void> };
  /** The command service (CommandService.execute fits): the one door for writes to devices. */
  commands: { execute(req: CommandRequest): Promise<void> };
  /** To check at start() that every siren has the commands its group will send. */
  profileOf?: (device: string) => Profile | undefined;
  log: Logger;
  clock?: () => number;
}

interface Linked {
  plan: LinkagePlan;
  offTimer?: NodeJS.Timeout;
  sirensOn: boolean;
}

export interface LinkageStats {
  linked: number;
  published: number;
  webhooks: { ok: number; failed: number };
  commands: { ok: number; failed: number };
}

export const LINKAGE_ACTOR = { by: 'system:linkage', role: 'admin', via: 'system' } as const;

export class LinkageService {
  private readonly clock: () => number;
  private readonly linked = new Map<string, Linked>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly abort = new AbortController();
  private unsubscribe: (() => void) | undefined;
  private readonly counters: LinkageStats = { linked: 0, published: 0, webhooks: { ok: 0, failed: 0 }, commands: { ok: 0, failed: 0 } };

  constructor(private readonly opts: LinkageOptions) {
    this.clock = opts.clock ?? Date.now;
  }

  /** Check the sirens of every configured group, then listen. Throws CONFIG_INVALID naming the entry. */
  start(): void {
    this.checkSirens();
    if (!this.opts.config.enabled) return;
    this.unsubscribe = this.opts.bus.on('alarm', (a) => this.handleAlarm(a));
  }

  /** Stop listening; cancel siren-off timers and webhook retries; wait for what is in flight. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.abort.abort();
    for (const l of this.linked.values()) if (l.offTimer) clearTimeout(l.offTimer);
    await Promise.allSettled([...this.inFlight]);
  }

  /** Resolves when every notification and command started so far has finished (tests). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  stats(): LinkageStats {
    return { ...this.counters, webhooks: { ...this.counters.webhooks }, commands: { ...this.counters.commands } };
  }

  handleAlarm(alarm: Alarm): void {
    if (alarm.state === 'reset') {
      const l = this.linked.get(alarm.id);
      if (l) this.track(this.ended(alarm.id, l));
      return;
    }
    if (alarm.state !== 'raised' || alarm.kind !== 'alarm' || this.linked.has(alarm.id)) return;
    const room = this.opts.directory.roomOfDevice(alarm.device);
    if (!room?.linkageGroup) return;
    const group = room.linkageGroup;
    const policy = policyFor(this.opts.config, group);
    const now = this.clock();
    const plan = planLinkage(alarm, room, this.opts.directory.roomsInGroup(group), policy, this.opts.site, now);
    if (!plan) return;
    const l: Linked = { plan, sirensOn: plan.sirens.length > 0 };
    this.linked.set(alarm.id, l);
    this.counters.linked++;
    this.opts.log.warn({ alarm: alarm.id, group, room: room.id, notify: plan.message.notify.length, sirens: plan.message.sirens }, 'linkage: alarm announced to the group');
    this.track(this.announce(plan.message, plan, policy));
    if (plan.sirens.length > 0) this.track(this.run(plan.sirens, `十户联防 ${group}: alarm ${alarm.id} (${alarm.rule}) at room ${room.id}`));
    if (plan.offAfterMs !== undefined && plan.sirensOff.length > 0) {
      l.offTimer = setTimeout(() => {
        l.offTimer = undefined;
        if (!l.sirensOn) return;
        l.sirensOn = false;
        this.track(this.run(plan.sirensOff, `十户联防 ${group}: ${plan.offAfterMs! / 1000} s after alarm ${alarm.id}`));
      }, plan.offAfterMs);
      l.offTimer.unref();
    }
  }

  private async ended(alarmId: string, l: Linked): Promise<void> {
    this.linked.delete(alarmId);
    if (l.offTimer) clearTimeout(l.offTimer);
    const off = l.sirensOn ? l.plan.sirensOff : [];
    l.sirensOn = false;
    const devices = [...new Set(off.map((s) => s.device))];
    const msg = resetMessage(l.plan.message, this.clock(), devices);
    const policy = policyFor(this.opts.config, l.plan.message.group);
    await Promise.all([this.announce(msg, l.plan, policy), off.length > 0 ? this.run(off, `十户联防 ${msg.group}: alarm ${alarmId} reset`) : undefined]);
  }

  private async announce(msg: LinkageMessage, plan: LinkagePlan, policy: LinkagePolicy): Promise<void> {
    const jobs: Array<Promise<void>> = [];
    if (plan.mqtt && this.opts.mqtt) jobs.push(this.publish(msg));
    if (policy.webhook) jobs.push(this.webhook(msg, policy));
    await Promise.all(jobs);
  }

  private async publish(msg: LinkageMessage): Promise<void> {
    try {
      await this.opts.mqtt!.publish(linkageTopic(this.opts.topicPrefix, this.opts.site, msg.group), JSON.stringify(msg), { qos: 1, retain: false });
      this.counters.published++;
    } catch (err) {
      this.opts.log.error({ group: msg.group, alarm: msg.alarm.id, err: errorMessage(err) }, 'linkage: MQTT publish failed');
    }
  }

  private async webhook(msg: LinkageMessage, policy: LinkagePolicy): Promise<void> {
    let out: WebhookOutcome;
    try {
      out = await postLinkage(policy.webhook!, msg, { now: this.clock, signal: this.abort.signal });
    } catch (err) {
      out = { ok: false, reason: errorMessage(err), attempts: 0 };
    }
    if (out.ok) this.counters.webhooks.ok++;
    else {
      this.counters.webhooks.failed++;
      this.opts.log.error({ group: msg.group, alarm: msg.alarm.id, phase: msg.phase, reason: out.reason, attempts: out.attempts }, 'linkage: webhook not delivered');
    }
  }

  /** Run siren commands one after the other (one bus, one request at a time anyway); a failure does not stop the rest. */
  private async run(steps: readonly SirenStep[], reason: string): Promise<void> {
    for (const s of steps) {
      try {
        await this.opts.commands.execute({ device: s.device, command: s.command, reason, actor: { ...LINKAGE_ACTOR } });
        this.counters.commands.ok++;
      } catch (err) {
        this.counters.commands.failed++;
        this.opts.log.error({ device: s.device, command: s.command, err: errorMessage(err) }, 'linkage: siren command failed');
      }
    }
  }

  private track(p: Promise<unknown>): void {
    const t = p.catch((err: unknown) => this.opts.log.error({ err: errorMessage(err) }, 'linkage failed')).finally(() => this.inFlight.delete(t));
    this.inFlight.add(t);
  }

  private checkSirens(): void {
    const { profileOf, config } = this.opts;
    if (!profileOf) return;
    const check = (sirens: LinkagePolicy['sirens'], path: string) => {
      if (!sirens) return;
      sirens.devices.forEach((device, i) => {
        const profile = profileOf(device);
        if (!profile) throw new ShouwangError(ErrorCodes.CONFIG_INVALID, `${path}.sirens.devices[${i}]: no device "${device}" in the gateway config`);
        for (const command of [...sirens.commands, ...sirens.offCommands]) {
          if (!profile.commands.some((c) => c.id === command))
            throw new ShouwangError(ErrorCodes.CONFIG_INVALID, `${path}.sirens: device "${device}" (${profile.id}) has no command "${command}" (has: ${profile.commands.map((c) => c.id).join(', ') || 'none'})`);
        }
      });
    };
    check(config.defaults.sirens, 'access.linkage.defaults');
    config.groups.forEach((g, i) => check(g.sirens, `access.linkage.groups[${i}]`));
  }
}
