/**
 * The rental-housing services built on the registry and access log: the access rules (warnings
 * and alarms through the AlarmService, hence the outbox), 十户联防 linkage, and the reports over
 * a read-only connection to the store. One start/stop for app.ts.
 */
import type { AlarmService } from '../alarms/alarm-service.js';
import type { CommandRequest } from '../commands/command-service.js';
import type { EventBus } from '../core/event-bus.js';
import type { SqliteDatabase } from '../store/sqlite.js';
import type { Store } from '../store/store.js';
import type { Logger } from '../log.js';
import type { Profile } from '../profiles/schema.js';
import type { AccessModule } from './access-module.js';
import type { AccessConfig } from './config.js';
import { LinkageService } from './linkage/index.js';
import { AccessReports, openReportDatabase } from './reports/index.js';
import { AccessRulesRunner, configRuleDirectory, sqlTenantQueries } from './rules/index.js';
import type { RuntimeDevice } from '../runtime/device-runtime.js';

export interface AccessServicesOptions {
  config: AccessConfig;
  site: string;
  timeZone: string;
  storageDir: string;
  topicPrefix: string;
  devices: readonly RuntimeDevice[];
  access: AccessModule;
  store: Store;
  bus: EventBus;
  alarms: AlarmService;
  commands: { execute(req: CommandRequest): Promise<void> };
  mqtt: { publish(topic: string, payload: string, opts: { qos: 1; retain: false }): Promise<void> };
  profileOf: (device: string) => Profile | undefined;
  log: Logger;
}

export class AccessServices {
  readonly reports: AccessReports;
  private readonly readDb: SqliteDatabase;
  private readonly rules: AccessRulesRunner;
  private readonly linkage: LinkageService;

  constructor(o: AccessServicesOptions) {
    const registry = o.access.registry;
    // Reports and the daily not-seen check read through their own connection (WAL: no blocking of writes).
    this.readDb = openReportDatabase(o.storageDir);
    const tenants = sqlTenantQueries(this.readDb);
    this.rules = new AccessRulesRunner({
      config: o.config.rules,
      site: o.site,
      timezone: o.timeZone,
      bus: o.bus,
      alarms: o.alarms,
      events: o.store,
      directory: configRuleDirectory({
        devices: o.devices,
        rooms: () => registry.listRooms(),
        registeredTenants: tenants.registeredTenants,
        lastSeen: tenants.lastSeen,
      }),
      log: o.log.child({ part: 'rules' }),
    });
    this.linkage = new LinkageService({
      config: o.config.linkage,
      site: o.site,
      topicPrefix: o.topicPrefix,
      bus: o.bus,
      directory: { roomOfDevice: (d) => registry.roomOfDoor(d), roomsInGroup: (g) => registry.listRooms({ linkageGroup: g }) },
      mqtt: o.mqtt,
      commands: o.commands,
      profileOf: o.profileOf,
      log: o.log.child({ part: 'linkage' }),
    });
    this.reports = new AccessReports(this.readDb);
  }

  start(): void {
    this.rules.start();
    this.linkage.start();
  }

  async stop(): Promise<void> {
    await this.linkage.stop();
    this.rules.stop();
    this.readDb.close();
  }
}
