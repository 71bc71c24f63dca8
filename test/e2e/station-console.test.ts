/**
 * The police console in a real browser (Debian chromium via playwright-core) against a real
 * receiver: login is required and a wrong password is refused; an alarm sent over DC-09 (a
 * hand-built frame on a real TCP socket) appears live with its Chinese name, building/room and
 * a ticking "time since press" counter; the alarm sound runs until it is acknowledged; the
 * acknowledge and dispatch buttons send signed callbacks to a real HTTP server; a silent line
 * shows a banner; the English toggle works; logout ends the session.
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorAckSchema } from '../../gateway/src/alarms/operator-ack.js';
import { silentLogger } from '../../gateway/src/log.js';
import { startReceiver, type RunningReceiver } from '../../gateway/src/station/receiver-app.js';
import { parseReceiverConfig } from '../../gateway/src/station/receiver-config.js';
import { waitFor } from '../helpers/processes.js';
import { cidBody, handFrame, sendTcp, startCallbackServer, tempDir, type CallbackServer } from './station-kit.js';

const SECRET = 'console-ack-secret-0123456789';
const OFFICER = { username: 'officer.li', password: 'night-shift-2024' };

/** mm:ss or h:mm:ss as seconds. */
function seconds(text: string): number {
  return text.split(':').reduce((acc, part) => acc * 60 + Number(part), 0);
}

describe('police console in chromium', () => {
  let rx: RunningReceiver;
  let cb: CallbackServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    cb = await startCallbackServer(SECRET);
    const config = parseReceiverConfig({
      dataDir: tempDir('sw-console'),
      http: { port: 0 },
      dc09: {
        accounts: [
          {
            account: '1234',
            name: '新安村',
            zones: { '15': { device: 'pole-15', building: '7栋', room: '302', address: '新安村七巷 7 号', camera: 'http://cam.local/7.jpg' } },
            ackCallback: { url: cb.url, secret: SECRET },
          },
          { account: 'BEEF', name: '北区主机', supervisionMs: 1500 },
        ],
      },
    });
    [rx, browser] = await Promise.all([
      startReceiver({ config, log: silentLogger(), heartbeatMs: 500 }),
      chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required'] }),
    ]);
    rx.auth.createUser({ ...OFFICER, role: 'police' });
    page = await browser.newPage();
    // Fail a step in seconds rather than let one wait eat the whole test budget.
    page.setDefaultTimeout(5000);
  });

  afterAll(async () => {
    await browser?.close();
    await rx?.stop();
    await cb?.close();
  });

  it('needs a login, shows a DC-09 alarm live, acknowledges it back to the gateway, and logs out', async () => {
    // --- login required; a wrong password is refused ---
    await page.goto(rx.url);
    await page.locator('#login-view').waitFor({ state: 'visible' });
    expect(await page.locator('#board-view').isVisible()).toBe(false);
    expect(await page.evaluate(async () => (await fetch('/api/alarms')).status)).toBe(401);
    await page.fill('#login-username', OFFICER.username);
    await page.fill('#login-password', 'not-the-password');
    await page.click('#login-submit');
    await expect.poll(() => page.textContent('#login-error')).toBe('用户名或密码错误');
    expect(await page.locator('#board-view').isVisible()).toBe(false);

    await page.fill('#login-username', OFFICER.username);
    await page.fill('#login-password', OFFICER.password);
    await page.click('#login-submit');
    await page.locator('#board-view').waitFor({ state: 'visible' });
    expect(await page.textContent('#who')).toContain(OFFICER.username);
    await page.locator('body[data-live="true"]').waitFor();
    expect(await page.getAttribute('body', 'data-sounding')).toBe('false');

    // --- an alarm over DC-09 appears live ---
    const pressed = new Date(Date.now() - 2000);
    const frame = handFrame(cidBody({ account: '1234', seq: 77, event: 120, zone: 15, ext: '[XE113.88452][YN22.55431]', at: pressed }));
    expect(await sendTcp(rx.dc09.tcpPort, frame)).toMatch(/"ACK"0077/);
    await page.locator('article.alarm').filter({ hasText: '紧急求助' }).waitFor({ timeout: 5000 });
    // Found by its Chinese name; followed by id, since the name changes with the language.
    const id = await page.locator('article.alarm').filter({ hasText: '紧急求助' }).getAttribute('data-id');
    const card = page.locator(`article.alarm[data-id="${id}"]`);
    const text = (await card.textContent())!;
    for (const part of ['楼栋 7栋', '房间 302', '新安村七巷 7 号', 'pole-15', '1234（新安村）', '防区 015', '22.554310, 113.884520', '未确认']) expect(text).toContain(part);
    expect(await card.locator('a.camera').getAttribute('href')).toBe('http://cam.local/7.jpg');

    // The counter runs from the transmitter's press time and ticks.
    const first = seconds((await card.locator('.elapsed').textContent())!);
    expect(first).toBeGreaterThanOrEqual(2);
    await expect.poll(async () => seconds((await card.locator('.elapsed').textContent())!), { timeout: 3000 }).toBeGreaterThan(first);
    // An unacknowledged alarm keeps the alarm sound going.
    expect(await page.getAttribute('body', 'data-sounding')).toBe('true');
    expect(await page.title()).toMatch(/^\(1\)/);

    // --- the silent panel gets a line-lost banner ---
    await page.locator('.line-lost[data-account="BEEF"]').waitFor({ timeout: 4000 });
    expect(await page.textContent('.line-lost[data-account="BEEF"]')).toContain('线路中断');

    // --- acknowledge: the callback reaches the gateway, signed ---
    await card.getByRole('button', { name: '确认接警' }).click();
    const ackReq = await waitFor(() => cb.requests[0], 5000, 'acknowledgement callback');
    expect(ackReq.signatureOk).toBe(true);
    expect(operatorAckSchema.parse(JSON.parse(ackReq.body))).toMatchObject({ account: '1234', seq: 77, action: 'acknowledged', by: OFFICER.username });
    await expect.poll(() => card.textContent(), { timeout: 5000 }).toContain('已确认接警');
    // The callback goes to the gateway stand-in and the card is updated over SSE: give a loaded machine time.
    await expect.poll(() => card.textContent(), { timeout: 5000 }).toContain('回执已送达网关');
    expect(await page.getAttribute('body', 'data-sounding')).toBe('false');

    // --- English second; the dispatch button in English ---
    await page.click('#lang');
    await expect.poll(() => card.textContent()).toContain('Panic (emergency help)');
    await card.getByRole('button', { name: 'Officer dispatched' }).click();
    const dispatchReq = await waitFor(() => cb.requests[1], 5000, 'dispatch callback');
    expect(JSON.parse(dispatchReq.body)).toMatchObject({ action: 'dispatched', by: OFFICER.username });
    await expect.poll(() => card.textContent()).toContain('Officer dispatched (officer.li');
    await page.click('#lang');
    await expect.poll(() => page.textContent('#logout')).toBe('退出登录');

    // --- logout ends the session ---
    await page.click('#logout');
    await page.locator('#login-view').waitFor({ state: 'visible' });
    expect(await page.evaluate(async () => (await fetch('/api/alarms')).status)).toBe(401);
    await page.reload();
    await page.locator('#login-view').waitFor({ state: 'visible' });
  }, 25_000);
});
