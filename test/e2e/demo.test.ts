/**
 * The demo as a person meets it (`npm start` = `shouwang start --demo`): the gateway, the
 * simulated village and the built-in police receiver as real processes. A pole press in the
 * simulator shows up in the police console (real chromium), the officer presses 已派警, and
 * the acknowledgement travels back to the gateway and lights the pole's help-is-coming lamp.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimControlClient } from '../../simulator/src/index.js';
import { jsonLine, startTsProcess, stopAll, type Started } from '../helpers/processes.js';

let dataDir: string;
let demo: Started<true>;
let browser: Browser;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'sw-demo-'));
  const [mqtt, http, receiver] = [await freePort(), await freePort(), await freePort()];
  [demo, browser] = await Promise.all([
    startTsProcess<true>('gateway/src/main.ts', ['start', '--demo'], (line) => (jsonLine(line)?.msg === 'gateway ready' ? true : undefined), {
      timeoutMs: 60_000,
      env: { SW_DATA_DIR: dataDir, SW_MQTT_PORT: String(mqtt), SW_HTTP_PORT: String(http), SW_RECEIVER_PORT: String(receiver), SW_LOG_LEVEL: 'info' },
    }),
    chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] }),
  ]);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await demo?.stop('SIGINT');
  await stopAll();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('npm start demo', () => {
  it('a pole press reaches the police console, and the officer’s acknowledgement lights the pole', async () => {
    const banner = demo.stderrText();
    const consoleUrl = /police console: (http:\/\/127\.0\.0\.1:\d+)/.exec(banner)?.[1];
    const simUrl = /simulator: +(http:\/\/127\.0\.0\.1:\d+)/.exec(banner)?.[1];
    expect(consoleUrl, banner).toBeDefined();
    expect(simUrl, banner).toBeDefined();
    const password = readFileSync(join(dataDir, 'receiver', 'admin-password'), 'utf8').trim();
    const sim = new SimControlClient(simUrl!);

    const page = await browser.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(consoleUrl!);
    await page.fill('#login-username', 'admin');
    await page.fill('#login-password', password);
    await page.click('#login-submit');
    await page.locator('body[data-live="true"]').waitFor();

    await sim.press('pole-1', { holdMs: 800 });
    const card = page.locator('article.alarm').filter({ hasText: '紧急求助' }).first();
    await card.waitFor();
    // The zone table written by the demo resolves the zone to the pole's place.
    expect(await card.textContent()).toContain('village-gate');

    const since = Date.now();
    await card.getByRole('button', { name: '已派警' }).click();
    const light = await sim.waitForWrite('pole-1', (w) => w.table === 'coil' && w.address === 2 && w.values[0] === 1, { since, timeoutMs: 5000 });
    expect(light.ts - since).toBeLessThan(3000);
    await page.close();
  }, 60_000);
});
