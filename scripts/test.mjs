#!/usr/bin/env node
// The one test command (`npm test`, also run by .ci/run): installs what the tests need, builds,
// typechecks and runs every test. Plain Node with no dependencies, so it can run before `npm install`.
import { execSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';

const run = (cmd, opts = {}) => {
  console.log(`\n$ ${cmd}`);
  execSync(cmd, { stdio: 'inherit', ...opts });
};
const has = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;

// Debian packages the tests use: socat for real pty pairs, chromium for the console e2e tests,
// InfluxDB 1.6 and VictoriaMetrics as real time-series servers.
const aptNeeded = [
  ['socat', 'socat'],
  ['chromium', 'chromium'],
  ['influxd', 'influxdb'],
  ['victoria-metrics', 'victoria-metrics'],
].filter(([bin]) => !has(bin)).map(([, pkg]) => pkg);
if (aptNeeded.length > 0) {
  if (process.getuid?.() === 0) {
    run('apt-get update -qq');
    run(`DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${aptNeeded.join(' ')}`);
  } else {
    console.error(`missing ${aptNeeded.join(', ')}: install with sudo apt-get install ${aptNeeded.join(' ')}`);
    process.exit(1);
  }
}

if (!existsSync('node_modules/.package-lock.json') || !existsSync('node_modules/better-sqlite3/build')) run('npm install --no-audit --no-fund');

run('npm run build');
run('npx tsc -p tsconfig.json --noEmit');
// The default reporter for people, a JSON report for the closing count line CI reads.
const report = '.tmp/vitest-report.json';
rmSync(report, { force: true });
let failed = false;
try {
  // Tests may start the compiled entry points just built (test/helpers/processes.ts nodeArgsFor).
  process.env.SW_TEST_BUILT = '1';
  run(`npx vitest run --reporter=default --reporter=json --outputFile.json=${report} ${process.argv.slice(2).join(' ')}`.trim());
} catch {
  failed = true;
}
if (existsSync(report)) {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  console.log(`\n${r.numPassedTests} passed, ${r.numFailedTests} failed`);
}
if (failed) process.exit(1);
