/**
 * The rental-housing domain assembled for app.ts: the personal-data key, the registry, the
 * access log (bus listener + retention schedule) and the door commands, with start/stop.
 *
 *   const access = new AccessModule({ store, config: config.access, dataDir: config.storage.dir, log, commands, profileOf });
 *   access.start(bus);                                   // after the store, before polling starts
 *   await registerAccessRoutes(app, access.routeDeps(auth, (r) => store.appendAudit(r)));
 *   access.stop();                                       // before the store closes
 */
import { join } from 'node:path';
import type { EventBus } from '../core/event-bus.js';
import type { DeviceEvent } from '../core/types.js';
import { ErrorCodes, ShouwangError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Profile } from '../profiles/schema.js';
import type { AuditRecord, Store } from '../store/store.js';
import type { WebAuth } from '../web/auth.js';
import { AccessLog } from './access-log.js';
import type { AccessRouteDeps } from './access-routes.js';
import { PII_KEY_FILE_NAME, accessSchema, type AccessConfig } from './config.js';
import { DoorCommands, type CommandRunner } from './door-commands.js';
import { isAccessError } from './errors.js';
import { redactCardFields } from './pass-fields.js';
import { PiiCrypto } from './pii-crypto.js';
import { Registry } from './registry.js';

export interface AccessModuleOptions {
  store: Store;
  /** The `access:` config slice (defaults when omitted). */
  config?: AccessConfig;
  /** storage.dir: where the key file lives unless config.keyFile says otherwise. */
  dataDir: string;
  log: Logger;
  /** CommandService (the one door for device commands); without it door commands answer "unknown device". */
  commands?: CommandRunner;
  profileOf?: (device: string) => Profile | undefined;
  clock?: () => number;
}

export class AccessModule {
  readonly config: AccessConfig;
  readonly crypto: PiiCrypto;
  readonly registry: Registry;
  readonly accessLog: AccessLog;
  readonly doors: DoorCommands;
  readonly keyFile: string;
  private readonly store: Store;

  constructor(opts: AccessModuleOptions) {
    this.config = opts.config ?? accessSchema.parse({});
    this.store = opts.store;
    this.keyFile = this.config.keyFile ?? join(opts.dataDir, PII_KEY_FILE_NAME);
    // A database that already holds encrypted fields must get its own key back, never a fresh one.
    const keyId = opts.store.registry.getMeta('pii_key_id');
    const { crypto, keyFile } = (() => {
      try {
        return PiiCrypto.fromKeyFile(this.keyFile, { create: keyId === undefined });
      } catch (err) {
        if (keyId !== undefined && err instanceof ShouwangError) {
          throw new ShouwangError(
            ErrorCodes.CONFIG_INVALID,
            `${err.message}; the database ${opts.store.file} holds personal data encrypted with key id ${keyId}: restore that key file from backup (a new key would make names, ID numbers and card hashes unusable)`,
            { cause: err, details: { file: this.keyFile, keyId } },
          );
        }
        throw err;
      }
    })();
    if (keyFile.created) opts.log.warn({ file: keyFile.file }, 'first run: created the personal-data key file; back it up apart from the database');
    if (keyFile.permissionWarning) opts.log.warn({ file: keyFile.file }, keyFile.permissionWarning);
    this.crypto = crypto;
    try {
      this.registry = new Registry({ table: opts.store.registry, crypto, ...(opts.clock ? { clock: opts.clock } : {}) });
    } catch (err) {
      if (isAccessError(err)) throw new ShouwangError(ErrorCodes.CONFIG_INVALID, `${this.keyFile}: ${err.message}`, { cause: err, details: { file: this.keyFile } });
      throw err;
    }
    this.accessLog = new AccessLog({
      table: opts.store.accessLog,
      registry: this.registry,
      log: opts.log.child({ part: 'access-log' }),
      retentionDays: this.config.retentionDays,
      purgeIntervalMs: this.config.purgeInterval,
      maxBatch: this.config.maxBatch,
      ...(opts.clock ? { clock: opts.clock } : {}),
    });
    const profileOf = opts.profileOf ?? (() => undefined);
    this.doors = new DoorCommands({
      commands: opts.commands ?? { execute: async (req) => Promise.reject(new ShouwangError(ErrorCodes.DEVICE_UNKNOWN, `unknown device "${req.device}"`)) },
      profileOf,
      registry: this.registry,
      audit: (r) => opts.store.appendAudit(r),
      ...(opts.clock ? { clock: opts.clock } : {}),
    });
  }

  /** A device event with raw card numbers replaced by their salted hash (the runtime applies it before storing or emitting). */
  redactEvent(event: DeviceEvent): DeviceEvent {
    return redactCardFields(event, (card) => this.registry.hashCard(card));
  }

  /** Listen for passes on the bus and start the retention schedule. */
  start(bus: EventBus): void {
    this.accessLog.attach(bus);
    this.accessLog.start();
  }

  /** Stop listening, write what is queued, stop the schedule. Call before the store closes. */
  stop(): void {
    this.accessLog.stop();
  }

  /** Dependencies of registerAccessRoutes (access-routes.ts). */
  routeDeps(auth: WebAuth, audit: (r: AuditRecord) => void = (r) => this.store.appendAudit(r)): AccessRouteDeps {
    return { auth, registry: this.registry, accessLog: this.accessLog, doors: this.doors, audit, unmaskRoles: this.config.unmaskRoles };
  }
}
