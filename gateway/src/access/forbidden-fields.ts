/**
 * The gateway never stores biometrics, templates, photos or PINs: they stay in the lock
 * (issue #5, PIPL "sensitive personal information"). The zod schemas are strict, so any unknown
 * key is refused anyway; this check runs first so that the answer says *why* instead of a bare
 * "unrecognized key", and so that a future schema that grows a loose field cannot let one in.
 *
 * A key is refused when one of its words (split at camelCase, `_`, `-`, `.`, spaces) is one of
 * FORBIDDEN_WORDS: `fingerprint`, `faceImage`, `photo_url`, `pinCode`, `PIN` are refused;
 * `mapping`, `opinion` (which merely contain "pin") are not. Values are never inspected:
 * `method: "fingerprint"` is fine.
 */
import type { AccessIssue } from './errors.js';

export const FORBIDDEN_WORDS: ReadonlySet<string> = new Set([
  'fingerprint',
  'fingerprints',
  'finger',
  'template',
  'templates',
  'biometric',
  'biometrics',
  'photo',
  'photos',
  'picture',
  'image',
  'portrait',
  'selfie',
  'face',
  'faces',
  'iris',
  'palm',
  'palmprint',
  'vein',
  'voiceprint',
  'pin',
  'pins',
  'pincode',
  'passcode',
  'password',
  'passwd',
]);

export const FORBIDDEN_REASON = 'the gateway never stores biometrics, templates, photos, PINs or passwords (they stay in the lock)';

function words(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '');
}

export function isForbiddenKey(key: string): boolean {
  return words(key).some((w) => FORBIDDEN_WORDS.has(w));
}

/** Every forbidden key anywhere in `value` (objects and arrays, any depth), with its path. */
export function forbiddenFields(value: unknown, path: string[] = []): AccessIssue[] {
  const found: AccessIssue[] = [];
  const visit = (v: unknown, at: string[], depth: number): void => {
    if (depth > 16 || v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      v.forEach((item, i) => visit(item, [...at, String(i)], depth + 1));
      return;
    }
    for (const [k, child] of Object.entries(v as Record<string, unknown>)) {
      if (isForbiddenKey(k)) found.push({ path: [...at, k].join('.'), message: `field "${k}" refused: ${FORBIDDEN_REASON}` });
      else visit(child, [...at, k], depth + 1);
    }
  };
  visit(value, path, 0);
  return found;
}
