/**
 * Config slice `access.rules` (zod; types are z.infer): the thresholds of the access rules, for
 * the whole site, with per-building overrides. Pure: parsing and merging only.
 *
 *   access:
 *     rules:
 *       heldOpen: { warnAfterS: 60, alarmAfterS: 300 }
 *       invalidBurst: { count: 5, windowMin: 2 }
 *       buildings:
 *         B7: { heldOpen: { warnAfterS: 120 } }   # the market building's gate stands open by day
 *
 * A building override names only what differs; everything else comes from the site values.
 * docs/access-rules.md lists every threshold with its default and why it is what it is.
 */
import { z } from 'zod';

const int = (min: number, max: number) =>
  z.number().int(`expected an integer ${min}-${max}`).min(min, `expected ${min}-${max}`).max(max, `expected ${min}-${max}`);

/**
 * Each section is written once as its fields with defaults; the site block uses it as is, and a
 * building override uses the same fields without defaults, all optional (absent = the site's value).
 */
const enabled = z.boolean().default(true);

/** Door opened while its bolt/lock reports locked — only for doors whose profile has no forced-open rule. */
const doorForced = z.object({ enabled }).strict();
/** Door open longer than warnAfterS: warning; longer than alarmAfterS: alarm. 0 turns a stage off. */
const heldOpen = z.object({ enabled, warnAfterS: int(0, 86_400).default(60), alarmAfterS: int(0, 86_400).default(300) }).strict();
const duress = z.object({ enabled }).strict();
/** At least `count` denied attempts at one door within windowMin minutes. */
const invalidBurst = z.object({ enabled, count: int(2, 1000).default(5), windowMin: int(1, 1440).default(2) }).strict();
/** A lost, returned or cancelled credential, or one outside its lease, is presented. */
const credentialMisuse = z.object({ enabled }).strict();
/** A credential nobody registered is presented: a stranger. */
const stranger = z.object({ enabled }).strict();
/** A tenant with an active credential has not passed a door for `days` days (人房不一致). */
const notSeen = z.object({ enabled, days: int(1, 365).default(7) }).strict();
/** At least `count` granted entries by one tenant between fromHour and toHour (local) within `days` days. */
const lateNight = z
  .object({ enabled, fromHour: int(0, 23).default(0), toHour: int(0, 23).default(5), count: int(1, 1000).default(3), days: int(1, 90).default(7) })
  .strict();
/** One credential presented at `doors` or more different doors within windowMin minutes. */
const multiDoor = z.object({ enabled, doors: int(2, 100).default(3), windowMin: int(1, 1440).default(10) }).strict();
/** Tamper, jammed bolt, low battery (profile alarms) -> maintenance events. */
const maintenance = z.object({ enabled }).strict();

/** The thresholds one building works with (site values merged with its override). */
export const ruleThresholdsSchema = z.object({
  doorForced: doorForced.prefault({}),
  heldOpen: heldOpen.prefault({}),
  duress: duress.prefault({}),
  invalidBurst: invalidBurst.prefault({}),
  credentialMisuse: credentialMisuse.prefault({}),
  stranger: stranger.prefault({}),
  notSeen: notSeen.prefault({}),
  lateNight: lateNight.prefault({}),
  multiDoor: multiDoor.prefault({}),
  maintenance: maintenance.prefault({}),
});
export type RuleThresholds = z.infer<typeof ruleThresholdsSchema>;
type SectionName = keyof RuleThresholds;
const sectionNames = Object.keys(ruleThresholdsSchema.shape) as SectionName[];

/** The same object schema with every field's default removed and every field optional. */
function overrideOf<S extends z.ZodRawShape>(schema: z.ZodObject<S>) {
  const shape = Object.fromEntries(
    Object.entries(schema.shape).map(([k, v]) => [k, (v instanceof z.ZodDefault ? (v.def.innerType as z.ZodType) : (v as z.ZodType)).optional()]),
  );
  return z.object(shape).strict().optional() as unknown as z.ZodOptional<z.ZodObject<{ [K in keyof S]: z.ZodOptional<z.ZodType<z.output<S[K]>>> }>>;
}

/** A building override: any section, any field of it (absent = the site's value). */
const overrideSchema = z
  .object({
    doorForced: overrideOf(doorForced),
    heldOpen: overrideOf(heldOpen),
    duress: overrideOf(duress),
    invalidBurst: overrideOf(invalidBurst),
    credentialMisuse: overrideOf(credentialMisuse),
    stranger: overrideOf(stranger),
    notSeen: overrideOf(notSeen),
    lateNight: overrideOf(lateNight),
    multiDoor: overrideOf(multiDoor),
    maintenance: overrideOf(maintenance),
  })
  .strict();
export type RuleOverride = z.infer<typeof overrideSchema>;

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export const accessRulesSchema = ruleThresholdsSchema
  .extend({
    /** Local time of the rules (late-night window, daily check). Absent: the site's timezone. */
    timezone: z.string().refine(validTimeZone, 'not an IANA time zone (e.g. Asia/Shanghai)').optional(),
    /** When the daily 人房不一致 check runs, local time HH:MM. */
    notSeenCheckAt: z.string().regex(HHMM, 'expected HH:MM (24 h)').default('03:00'),
    /**
     * A momentary warning (stranger, misuse, burst, patterns) stays active this long and then ends
     * by itself; the same rule at the same place meanwhile re-triggers it instead of raising another.
     */
    warningHoldMin: int(1, 1440).default(30),
    /** Per-building overrides, by building id. */
    buildings: z.record(z.string().min(1), overrideSchema).default({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    const check = (t: RuleThresholds, path: Array<string | number>) => {
      const h = t.heldOpen;
      if (h.warnAfterS > 0 && h.alarmAfterS > 0 && h.alarmAfterS <= h.warnAfterS)
        ctx.addIssue({ code: 'custom', path: [...path, 'heldOpen', 'alarmAfterS'], message: `alarmAfterS (${h.alarmAfterS}) must be above warnAfterS (${h.warnAfterS})` });
      const n = t.lateNight;
      if (n.fromHour === n.toHour) ctx.addIssue({ code: 'custom', path: [...path, 'lateNight', 'toHour'], message: 'the late-night window is empty (fromHour equals toHour)' });
    };
    check(c, []);
    for (const [b, o] of Object.entries(c.buildings)) check(mergeThresholds(c, o), ['buildings', b]);
  });

export type AccessRulesConfig = z.infer<typeof accessRulesSchema>;
export type AccessRulesInput = z.input<typeof accessRulesSchema>;

/** Site values with a building's override laid over them, section by section. */
export function mergeThresholds(site: RuleThresholds, override: RuleOverride | undefined): RuleThresholds {
  if (!override) return site;
  const out = {} as Record<SectionName, unknown>;
  for (const n of sectionNames) out[n] = { ...site[n], ...stripUndefined(override[n]) };
  return out as RuleThresholds;
}

function stripUndefined(o: object | undefined): object {
  if (!o) return {};
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** Thresholds per building, merged once and cached (config is frozen at boot). */
export class ThresholdResolver {
  private readonly site: RuleThresholds;
  private readonly cache = new Map<string, RuleThresholds>();

  constructor(private readonly config: AccessRulesConfig) {
    this.site = Object.fromEntries(sectionNames.map((n) => [n, config[n]])) as RuleThresholds;
  }

  /** The thresholds for a building (undefined or unknown building: the site values). */
  for(building: string | undefined): RuleThresholds {
    if (building === undefined) return this.site;
    const override = this.config.buildings[building];
    if (!override) return this.site;
    let merged = this.cache.get(building);
    if (!merged) {
      merged = mergeThresholds(this.site, override);
      this.cache.set(building, merged);
    }
    return merged;
  }
}
