/**
 * The linkage topic `<prefix>/<site>/linkage/<group>` (QoS 1, not retained: a notice of
 * something happening now, not a state). `linkage` sits where a device id would, like `alarm`
 * and `gateway`, so it must be a reserved device id (see docs/access-rules.md "Wiring").
 */
const LEVEL = /^[^/#+\u0000]+$/;

export function linkageTopic(prefix: string, site: string, group: string): string {
  for (const [name, v] of [['topic prefix', prefix], ['site id', site], ['linkage group', group]] as const) {
    if (!LEVEL.test(v)) throw new Error(`${name} "${v}" cannot be an MQTT topic level (no /, #, + or empty)`);
  }
  return `${prefix}/${site}/linkage/${group}`;
}
