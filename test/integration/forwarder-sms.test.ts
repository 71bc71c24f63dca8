/**
 * The SMS forwarder over a REAL socat pty pair against the simulator's virtual modem: AT
 * commands in text mode, faults (no network, silent modem, +CMS ERROR, barred number,
 * unsolicited noise), supervision (health down with detectionMs, up again), an unplugged modem
 * (port gone, reopened at the same path), and a port that does not exist.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Alarm } from '../../gateway/src/core/types.js';
import { smsForwarder, smsPathSchema } from '../../gateway/src/alarms/forwarders/sms.js';
import { composeSmsText } from '../../gateway/src/alarms/forwarders/sms-text.js';
import type { Forwarder, OutboundMessage, PathHealth } from '../../gateway/src/alarms/forwarders/types.js';
import { silentLogger } from '../../gateway/src/log.js';
import { VirtualModem } from '../../simulator/src/virtual-modem.js';
import { socatAvailable } from '../../simulator/src/pty-line.js';
import { sleep, waitFor } from '../helpers/processes.js';

const FIRST = '+8613800138000';
const SECOND = '13900139000';

function alarm(overrides: Partial<Alarm> = {}): Alarm {
  return {
    id: '01JD3QX5T7K2M9PQRS4VWXYZ8A',
    site: 'testvillage',
    device: 'pole-03',
    profile: 'generic-alarm-pole',
    rule: 'panic',
    name: { zh: '一键报警', en: 'Panic button' },
    code: { cid: 120, sia: 'PA' },
    severity: 'emergency',
    kind: 'alarm',
    latch: true,
    silent: false,
    state: 'queued',
    raisedAt: Date.UTC(2026, 10, 22, 14, 3, 5),
    updatedAt: Date.UTC(2026, 10, 22, 14, 3, 5),
    location: { building: 'B', floor: '2', room: '201', lat: 22.5401, lon: 113.9312 },
    fields: {},
    ...overrides,
  };
}

function message(outboxId: number, overrides: Partial<OutboundMessage> = {}): OutboundMessage {
  return { outboxId, route: 'police', account: '1234', seq: 42, alarm: alarm(), zone: 3, group: 1, attempt: 1, queuedAt: Date.now(), ...overrides };
}

interface Running {
  modem: VirtualModem;
  forwarder: Forwarder;
  health: PathHealth[];
}

const started: Array<{ stop(): Promise<void> }> = [];

async function startPath(config: Record<string, unknown>): Promise<Omit<Running, 'modem'>> {
  const health: PathHealth[] = [];
  const parsed = smsPathSchema.parse({ id: 'sms-backup', type: 'sms', numbers: [FIRST, SECOND], ...config });
  const forwarder = smsForwarder.create(parsed, {
    log: silentLogger(),
    now: () => Date.now(),
    site: 'testvillage',
    onHealth: (h) => health.push(h),
    onOperatorAck: () => undefined,
  });
  started.push(forwarder);
  await forwarder.start();
  return { forwarder, health };
}

async function startWithModem(config: Record<string, unknown> = {}): Promise<Running> {
  const modem = await VirtualModem.start();
  started.push(modem);
  const r = await startPath({ port: modem.path, heartbeatMs: 200, timeoutMs: 2000, ...config });
  return { ...r, modem };
}

function send(forwarder: Forwarder, msg: OutboundMessage, signal: AbortSignal = new AbortController().signal) {
  return forwarder.send(msg, signal);
}

beforeAll(() => {
  expect(socatAvailable(), 'socat must be installed for these tests').toBe(true);
});

afterEach(async () => {
  // Forwarders first (they hold the gateway end), then the modems.
  for (const s of started.splice(0).reverse()) await s.stop();
});

describe('SMS forwarder over the virtual modem', () => {
  it('sets text mode, sends the composed text to every number and reports the message references', async () => {
    const { modem, forwarder, health } = await startWithModem();
    expect(forwarder.health().up).toBe(true);
    expect(health[0]?.up).toBe(true);
    const msg = message(1);
    const result = await send(forwarder, msg);
    expect(result.outcome).toBe('delivered');

    const sent = modem.messages();
    expect(sent.map((m) => m.to)).toEqual([FIRST, SECOND]);
    const text = sent[0]!.text;
    expect(sent[1]!.text).toBe(text);
    expect(text).toBe(composeSmsText(msg));
    expect(text.startsWith('SHOUWANG ALARM PA panic acct 1234 seq 0042 dev pole-03')).toBe(true);
    expect(text).toContain('22.5401N 113.9312E');
    expect(text).toContain('2026-11-22 14:03:05Z');
    expect(text).toContain('id 01JD3QX5T7K2M9PQRS4VWXYZ8A');
    expect(text.length).toBeLessThanOrEqual(160);
    if (result.outcome === 'delivered') {
      expect(result.detail).toContain(`${FIRST} ref ${sent[0]!.ref}`);
      expect(result.detail).toContain(`${SECOND} ref ${sent[1]!.ref}`);
    }
    // The modem starts in PDU mode with echo on: the forwarder must have set it up before AT+CMGS.
    const commands = modem.commands();
    const firstCmgs = commands.findIndex((c) => c.startsWith('AT+CMGS='));
    for (const setup of ['ATE0', 'AT+CMGF=1', 'AT+CSCS="GSM"']) {
      const at = commands.indexOf(setup);
      expect(at, setup).toBeGreaterThanOrEqual(0);
      expect(at, setup).toBeLessThan(firstCmgs);
    }
    expect(commands).toContain('AT+CREG?');
    expect(commands).toContain('AT+CSQ');
  });

  it('sends a restore as RESTORE and ignores unsolicited lines between the answers', async () => {
    const { modem, forwarder } = await startWithModem();
    modem.setFault({ unsolicitedNoise: true });
    const restore = alarm({ id: '01JD3R0000000000000000000B', kind: 'restore', code: { cid: 137, sia: 'TR' }, rule: 'tamper', restores: '01JD3QX5T7K2M9PQRS4VWXYZ8A' });
    const result = await send(forwarder, message(2, { alarm: restore, seq: 43 }));
    expect(result.outcome).toBe('delivered');
    const sent = modem.messages();
    expect(sent).toHaveLength(2);
    expect(sent[0]!.text.startsWith('SHOUWANG RESTORE TR tamper acct 1234 seq 0043')).toBe(true);
  });

  it('no network: health goes down with detectionMs, sending is retried with the reason; back to normal: up, delivered', async () => {
    const { modem, forwarder, health } = await startWithModem();
    await waitFor(() => forwarder.health().lastOkAt, 2000, 'a first successful heartbeat');
    modem.setFault({ noNetwork: true });
    const down = await waitFor(() => health.find((h) => !h.up && h.detectionMs !== undefined), 3000, 'health down');
    expect(down.reason).toContain('not registered');
    expect(down.reason).toContain(modem.path);
    // Heartbeat every 200 ms: the loss is seen within about one interval after the last good exchange.
    expect(down.detectionMs!).toBeGreaterThan(0);
    expect(down.detectionMs!).toBeLessThan(1500);

    const result = await send(forwarder, message(3));
    expect(result).toMatchObject({ outcome: 'retry' });
    if (result.outcome === 'retry') expect(result.reason).toContain('+CMS ERROR: 331 (no network service)');
    expect(modem.messages()).toHaveLength(0);

    const downEvents = health.length;
    modem.setFault({ noNetwork: false });
    await waitFor(() => health.slice(downEvents).find((h) => h.up), 3000, 'health up again');
    expect(forwarder.health().up).toBe(true);
    expect((await send(forwarder, message(3, { attempt: 2 }))).outcome).toBe('delivered');
    expect(modem.messages()).toHaveLength(2);
  });

  it('a silent modem: retry after timeoutMs naming the port and the command, health down; answers again: up', async () => {
    const { modem, forwarder, health } = await startWithModem({ timeoutMs: 400, heartbeatMs: 0 });
    modem.setFault({ silent: true });
    const t0 = Date.now();
    const result = await send(forwarder, message(4));
    const elapsed = Date.now() - t0;
    expect(result.outcome).toBe('retry');
    if (result.outcome === 'retry') {
      expect(result.reason).toContain(modem.path);
      expect(result.reason).toContain('ATE0');
      expect(result.reason).toContain('400 ms');
    }
    expect(elapsed).toBeGreaterThanOrEqual(390);
    expect(elapsed).toBeLessThan(2000);
    expect(forwarder.health().up).toBe(false);
    expect(health.at(-1)?.detectionMs).toBeGreaterThanOrEqual(390);

    modem.setFault({ silent: false });
    expect((await send(forwarder, message(4, { attempt: 2 }))).outcome).toBe('delivered');
    expect(forwarder.health().up).toBe(true);
    expect(modem.messages()).toHaveLength(2);
  });

  it('the network is slower than timeoutMs: retry; the late +CMGS answer is not taken for the answers after it', async () => {
    const { modem, forwarder } = await startWithModem({ timeoutMs: 500, heartbeatMs: 0 });
    modem.submitDelayMs = 700;
    // A few ms per answer, as real modems take: the gateway has written its next command by the
    // time the one after the late pair is answered.
    modem.answerDelayMs = 5;
    const result = await send(forwarder, message(5));
    expect(result.outcome).toBe('retry');
    if (result.outcome === 'retry') {
      expect(result.reason).toContain('no answer after the text of AT+CMGS="+8613800138000"');
      expect(result.reason).toContain(modem.path);
    }
    // Retry at once, as a dispatcher may. Like a real modem, the virtual one answers the retry's
    // first command only after the late `+CMGS: <ref>` + OK of the first try (the message went
    // out after all: an SMS cannot be called back). Read as the retry's answers, that late pair
    // would shift every answer after it by one.
    modem.submitDelayMs = 20;
    const retry = await send(forwarder, message(5, { attempt: 2 }));
    expect(retry).toMatchObject({ outcome: 'delivered' });
    const sent = modem.messages();
    expect(sent.map((m) => m.to)).toEqual([FIRST, FIRST, SECOND]);
    // The refs reported are the retry's, not the late answer to the first try.
    if (retry.outcome === 'delivered') {
      expect(retry.detail).toBe(`SMS accepted for ${FIRST} ref ${sent[1]!.ref}, ${SECOND} ref ${sent[2]!.ref}`);
    }
    // And the line is in step afterwards: one more message goes through cleanly.
    expect((await send(forwarder, message(55))).outcome).toBe('delivered');
    expect(modem.messages()).toHaveLength(5);
  });

  it('+CMS ERROR: 500 on the next message: retry with the error in words, then delivered', async () => {
    const { modem, forwarder } = await startWithModem();
    modem.setFault({ cmsError: true });
    const result = await send(forwarder, message(6));
    expect(result.outcome).toBe('retry');
    if (result.outcome === 'retry') {
      expect(result.reason).toContain('+CMS ERROR: 500 (unknown error)');
      expect(result.reason).toContain(FIRST);
    }
    expect(modem.messages()).toHaveLength(0);
    expect(forwarder.health().up).toBe(true);
    expect((await send(forwarder, message(6, { attempt: 2 }))).outcome).toBe('delivered');
    expect(modem.messages().map((m) => m.to)).toEqual([FIRST, SECOND]);
  });

  it('one number refused: retry; the retry goes only to the number still owed', async () => {
    const { modem, forwarder } = await startWithModem();
    modem.setFault({ refuseNumbers: [SECOND] });
    const first = await send(forwarder, message(7));
    expect(first.outcome).toBe('retry');
    if (first.outcome === 'retry') expect(first.reason).toContain(SECOND);
    expect(modem.messages().map((m) => m.to)).toEqual([FIRST]);
    modem.setFault({ refuseNumbers: [] });
    const second = await send(forwarder, message(7, { attempt: 2 }));
    expect(second.outcome).toBe('delivered');
    expect(modem.messages().map((m) => m.to)).toEqual([FIRST, SECOND]);
    if (second.outcome === 'delivered') expect(second.detail).toContain(`${FIRST} ref ${modem.messages()[0]!.ref}`);
  });

  it('gives up when the dispatcher aborts, long before timeoutMs', async () => {
    const { modem, forwarder } = await startWithModem({ timeoutMs: 10_000, heartbeatMs: 0 });
    modem.setFault({ silent: true });
    const t0 = Date.now();
    const result = await send(forwarder, message(8), AbortSignal.timeout(150));
    expect(result.outcome).toBe('retry');
    if (result.outcome === 'retry') expect(result.reason).toContain('aborted');
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('modem unplugged: health down naming the port; reopened at the same path and set up again: up, delivered', async () => {
    const { modem, forwarder, health } = await startWithModem({ heartbeatMs: 300 });
    await waitFor(() => forwarder.health().lastOkAt, 2000, 'a first successful heartbeat');
    const setupsBefore = modem.commands().filter((c) => c === 'AT+CMGF=1').length;
    await modem.unplug(400);
    const down = await waitFor(() => health.find((h) => !h.up), 3000, 'health down');
    expect(down.reason).toContain(modem.path);
    expect(down.detectionMs).toBeGreaterThanOrEqual(0);
    const whileDown = await send(forwarder, message(9));
    // Either the port is still gone, or it just came back at power-on defaults: never a throw.
    if (whileDown.outcome === 'retry') expect(whileDown.reason).toContain(modem.path);

    await waitFor(() => forwarder.health().up, 5000, 'health up after replug');
    expect(health.at(-1)?.up).toBe(true);
    expect(modem.commands().filter((c) => c === 'AT+CMGF=1').length).toBeGreaterThan(setupsBefore);
    expect((await send(forwarder, message(9, { attempt: 2 }))).outcome).toBe('delivered');
    expect(modem.messages().filter((m) => m.to === SECOND).length).toBeGreaterThanOrEqual(1);
  });
});

describe('SMS forwarder without a modem', () => {
  /** A temp dir removed after everything in it was stopped (cleanups run in reverse). */
  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'sw-sms-'));
    started.unshift({ stop: async () => rmSync(dir, { recursive: true, force: true }) });
    return dir;
  }

  it('a missing port: start() does not throw, health is down naming the port, send() retries naming it', async () => {
    const dir = tempDir();
    const port = join(dir, 'ttyUSB-missing');
    expect(existsSync(port)).toBe(false);
    const { forwarder, health } = await startPath({ port, heartbeatMs: 0, timeoutMs: 500 });
    const h = forwarder.health();
    expect(h.up).toBe(false);
    expect(h.reason).toContain(port);
    expect(health.some((e) => !e.up && e.reason?.includes(port))).toBe(true);
    const result = await send(forwarder, message(10));
    expect(result.outcome).toBe('retry');
    if (result.outcome === 'retry') {
      expect(result.reason).toContain(port);
      expect(result.reason).toContain('ATE0');
    }
  });

  it('a port that appears later is picked up without a restart', async () => {
    const dir = tempDir();
    const path = join(dir, 'modem');
    const { forwarder, health } = await startPath({ port: path, heartbeatMs: 0, timeoutMs: 1000 });
    expect(forwarder.health().up).toBe(false);
    const modem = await VirtualModem.start({ dir });
    started.push(modem);
    expect(modem.path).toBe(path);
    await waitFor(() => health.find((h) => h.up), 4000, 'health up once the port exists');
    expect((await send(forwarder, message(11))).outcome).toBe('delivered');
    expect(modem.messages()).toHaveLength(2);
  });
});
