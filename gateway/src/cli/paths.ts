/**
 * Where the shipped files are. The CLI runs from source (tsx, gateway/src/cli) and compiled
 * (dist/gateway/src/cli), and from any working directory, so paths are found from this module's
 * location, not from process.cwd().
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedRoot: string | undefined;

/** The package root: the nearest ancestor with the shouwang package.json. */
export function packageRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'shouwang') return (cachedRoot = dir);
      } catch {
        // not ours; keep walking up
      }
    }
    const up = dirname(dir);
    if (up === dir) return (cachedRoot = process.cwd());
    dir = up;
  }
}

/** The profiles shipped with the gateway. */
export function shippedProfilesDir(): string {
  return join(packageRoot(), 'device-profiles');
}

/** `--profiles` dirs resolved against the working directory, or the shipped ones. */
export function profileDirsOrDefault(dirs: readonly string[] | undefined): string[] {
  return dirs && dirs.length > 0 ? dirs.map((d) => resolve(d)) : [shippedProfilesDir()];
}

export function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}
