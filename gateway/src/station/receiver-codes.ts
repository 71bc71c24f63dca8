/**
 * Names of the common alarm event codes, Contact ID (3 digits) and SIA DC-03 (2 letters), in
 * Chinese and English, for the police console. Small on purpose: the codes our device profiles
 * send plus the ones every panel sends. An unknown code still shows, as "事件 CID 123 / Event CID 123".
 *
 * `severity` decides whether the console sounds: `alarm` events beep until acknowledged,
 * `trouble` and `info` (tests, power-up, restores) are listed quietly. Pure data.
 */

export type CodeSeverity = 'alarm' | 'trouble' | 'info';

export interface EventCodeInfo {
  cid?: number;
  sia?: string;
  zh: string;
  en: string;
  severity: CodeSeverity;
}

/** Each row pairs a Contact ID code with its usual SIA code (either may be absent). */
export const EVENT_CODES: readonly EventCodeInfo[] = [
  { cid: 100, sia: 'MA', zh: '医疗求助', en: 'Medical emergency', severity: 'alarm' },
  { cid: 110, sia: 'FA', zh: '火警', en: 'Fire alarm', severity: 'alarm' },
  { cid: 111, zh: '烟感火警', en: 'Smoke alarm', severity: 'alarm' },
  { cid: 120, sia: 'PA', zh: '紧急求助', en: 'Panic (emergency help)', severity: 'alarm' },
  { cid: 121, sia: 'HA', zh: '胁迫', en: 'Duress', severity: 'alarm' },
  { cid: 122, zh: '无声紧急求助', en: 'Silent panic', severity: 'alarm' },
  { cid: 123, zh: '有声紧急求助', en: 'Audible panic', severity: 'alarm' },
  { cid: 130, sia: 'BA', zh: '入侵', en: 'Burglary (intrusion)', severity: 'alarm' },
  { cid: 131, zh: '周界入侵', en: 'Perimeter intrusion', severity: 'alarm' },
  { cid: 132, zh: '室内入侵', en: 'Interior intrusion', severity: 'alarm' },
  { cid: 133, zh: '24小时防区报警', en: '24-hour zone alarm', severity: 'alarm' },
  { cid: 137, sia: 'TA', zh: '防拆', en: 'Tamper', severity: 'alarm' },
  { cid: 144, zh: '探测器防拆', en: 'Sensor tamper', severity: 'alarm' },
  { cid: 150, zh: '24小时非防盗报警', en: '24-hour non-burglary alarm', severity: 'alarm' },
  { cid: 151, sia: 'GA', zh: '燃气泄漏', en: 'Gas detected', severity: 'alarm' },
  { cid: 154, sia: 'WA', zh: '漏水', en: 'Water leakage', severity: 'alarm' },
  { cid: 158, sia: 'KA', zh: '高温', en: 'High temperature', severity: 'alarm' },
  { cid: 162, zh: '一氧化碳', en: 'Carbon monoxide', severity: 'alarm' },
  { cid: 301, sia: 'AT', zh: '交流电断电', en: 'AC power loss', severity: 'trouble' },
  { cid: 302, sia: 'YT', zh: '主机电池欠压', en: 'Low system battery', severity: 'trouble' },
  { cid: 350, sia: 'YC', zh: '通信故障', en: 'Communication trouble', severity: 'trouble' },
  { cid: 373, sia: 'FT', zh: '火警回路故障', en: 'Fire trouble', severity: 'trouble' },
  { cid: 380, sia: 'UT', zh: '探测器故障', en: 'Sensor trouble', severity: 'trouble' },
  { cid: 384, sia: 'XT', zh: '无线设备电池低', en: 'Low battery (wireless device)', severity: 'trouble' },
  { cid: 401, sia: 'OP', zh: '撤防', en: 'Disarmed (opening)', severity: 'info' },
  { cid: 402, sia: 'CL', zh: '布防', en: 'Armed (closing)', severity: 'info' },
  { cid: 423, sia: 'DF', zh: '强行开门', en: 'Door forced', severity: 'alarm' },
  { cid: 426, sia: 'DN', zh: '门长时间未关', en: 'Door left open', severity: 'trouble' },
  { cid: 570, sia: 'BB', zh: '防区旁路', en: 'Zone bypass', severity: 'info' },
  { cid: 602, sia: 'RP', zh: '定期测试', en: 'Periodic test', severity: 'info' },
  { sia: 'RR', zh: '系统上电/复位', en: 'Power up / reset', severity: 'info' },
  { sia: 'YK', zh: '通信恢复', en: 'Communication restored', severity: 'info' },
  { sia: 'BR', zh: '入侵恢复', en: 'Burglary restore', severity: 'info' },
  { sia: 'FR', zh: '火警恢复', en: 'Fire restore', severity: 'info' },
  { sia: 'PR', zh: '紧急求助恢复', en: 'Panic restore', severity: 'info' },
  { sia: 'HR', zh: '胁迫恢复', en: 'Duress restore', severity: 'info' },
  { sia: 'TR', zh: '防拆恢复', en: 'Tamper restore', severity: 'info' },
  { sia: 'GR', zh: '燃气恢复', en: 'Gas restore', severity: 'info' },
  { sia: 'WR', zh: '漏水恢复', en: 'Water restore', severity: 'info' },
  { sia: 'DR', zh: '门恢复', en: 'Door restore', severity: 'info' },
  { sia: 'AR', zh: '交流电恢复', en: 'AC power restore', severity: 'info' },
  { sia: 'YR', zh: '主机电池恢复', en: 'System battery restore', severity: 'info' },
];

/** SIA codes that report the end of a condition (the DC-03 "…R" restore codes above). */
const SIA_RESTORES = new Set(['BR', 'FR', 'PR', 'HR', 'TR', 'GR', 'WR', 'DR', 'AR', 'YR', 'MR', 'KR', 'UR', 'XR']);

const byCid = new Map<number, EventCodeInfo>();
const bySia = new Map<string, EventCodeInfo>();
for (const row of EVENT_CODES) {
  if (row.cid !== undefined) byCid.set(row.cid, row);
  if (row.sia !== undefined) bySia.set(row.sia, row);
}

export function isSiaRestore(code: string): boolean {
  return SIA_RESTORES.has(code);
}

export interface EventName {
  zh: string;
  en: string;
  severity: CodeSeverity;
}

/**
 * Name of an event, preferring Contact ID (more specific: 111 smoke vs FA fire). A restore
 * (Contact ID qualifier 3) reads "恢复：火警 / Restore: Fire alarm" and never sounds.
 */
export function eventName(code: { cid?: number | undefined; sia?: string | undefined }, kind: 'alarm' | 'restore' = 'alarm'): EventName {
  const info = (code.cid !== undefined ? byCid.get(code.cid) : undefined) ?? (code.sia !== undefined ? bySia.get(code.sia) : undefined);
  const label = code.cid !== undefined ? `CID ${String(code.cid).padStart(3, '0')}` : `SIA ${code.sia ?? '?'}`;
  const base: EventName = info ? { zh: info.zh, en: info.en, severity: info.severity } : { zh: `事件 ${label}`, en: `Event ${label}`, severity: 'alarm' };
  if (kind === 'restore' && !(code.sia !== undefined && isSiaRestore(code.sia) && code.cid === undefined)) {
    return { zh: `恢复：${base.zh}`, en: `Restore: ${base.en}`, severity: 'info' };
  }
  return kind === 'restore' ? { ...base, severity: 'info' } : base;
}
