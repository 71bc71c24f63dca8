/**
 * `shouwang receive`: run the police-station receiver (DC-09 over TCP+UDP, HTTP and MQTT
 * intakes, the web console) in the foreground until Ctrl-C or SIGTERM.
 *
 * stdout carries exactly one JSON line once everything listens, for a parent process (the
 * gateway's demo spawns the receiver and parses it):
 *   {"ready":true,"http":"http://127.0.0.1:8090","dc09":{"tcp":PORT,"udp":PORT},"adminPasswordFile":"/abs/path"|null,...}
 * Logs go to stderr. On the first run the generated admin password is printed once to stderr
 * and kept in <dataDir>/admin-password (mode 0600) until the admin changes it.
 *
 * Secrets never go on the command line (shell history, `ps`): --demo reads them from
 * SHOUWANG_INTAKE_SECRET (HTTP intake), SHOUWANG_ACK_SECRET (with --ack-url),
 * SHOUWANG_MQTT_USERNAME / SHOUWANG_MQTT_PASSWORD (with --mqtt-url).
 */
import { resolve } from 'node:path';
import { pino } from 'pino';
import type { ReceiverConfig, ReceiverConfigInput } from '../station/receiver-config.js';
import { UsageError } from './errors.js';
import type { CliOutput } from './io.js';

export interface ReceiveOptions {
  config?: string;
  demo?: boolean;
  tcpPort?: number;
  udpPort?: number;
  httpPort?: number;
  dataDir?: string;
  account?: string;
  ackUrl?: string;
  mqttUrl?: string;
  mqttTopic?: string;
  logLevel?: string;
}

/** The six alarm poles of the demo village (simulator/villages/demo.yaml) as the station's zone table. */
const DEMO_ZONES = {
  '1': { device: 'pole-1', building: '村口', room: '一键报警柱', address: '深圳市宝安区新安街道新安村 村口', lat: 22.5538, lon: 113.883 },
  '2': { device: 'pole-2', building: '市场', room: '一键报警柱', address: '深圳市宝安区新安街道新安村 市场', lat: 22.5545, lon: 113.8842 },
  '3': { device: 'pole-3', building: '祠堂', room: '一键报警柱', address: '深圳市宝安区新安街道新安村 祠堂', lat: 22.555, lon: 113.8848 },
  '4': { device: 'pole-4', building: '篮球场', room: '一键报警柱', address: '深圳市宝安区新安街道新安村 篮球场', lat: 22.5552, lon: 113.8835 },
  '5': { device: 'pole-5', building: '北门', room: '一键报警柱', address: '深圳市宝安区新安街道新安村 北门', lat: 22.55565, lon: 113.8841 },
  '6': { device: 'pole-6', building: '南门', room: '一键报警柱', address: '深圳市宝安区新安街道新安村 南门', lat: 22.55355, lon: 113.8841 },
};

/** The --demo config: account 1234 (the demo village), given or free ports, ./data/receiver. */
export function demoReceiverConfig(o: ReceiveOptions, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): ReceiverConfigInput {
  if (o.ackUrl !== undefined && !env.SHOUWANG_ACK_SECRET) throw new UsageError('--ack-url needs the shared secret in SHOUWANG_ACK_SECRET (at least 16 characters)');
  return {
    dataDir: resolve(cwd, o.dataDir ?? './data/receiver'),
    http: { host: '127.0.0.1', port: o.httpPort ?? 8090 },
    dc09: {
      host: '127.0.0.1',
      tcpPort: o.tcpPort ?? 0,
      udpPort: o.udpPort ?? 0,
      accounts: [
        {
          account: o.account ?? '1234',
          name: '新安村 (演示)',
          zones: DEMO_ZONES,
          ...(o.ackUrl !== undefined ? { ackCallback: { url: o.ackUrl, secret: env.SHOUWANG_ACK_SECRET! } } : {}),
        },
      ],
    },
    ...(env.SHOUWANG_INTAKE_SECRET ? { httpIntake: { secret: env.SHOUWANG_INTAKE_SECRET } } : {}),
    ...(o.mqttUrl !== undefined
      ? {
          mqttIntake: {
            url: o.mqttUrl,
            topic: o.mqttTopic ?? 'shouwang/+/uplink/alarm/+',
            ...(env.SHOUWANG_MQTT_USERNAME ? { username: env.SHOUWANG_MQTT_USERNAME } : {}),
            ...(env.SHOUWANG_MQTT_PASSWORD ? { password: env.SHOUWANG_MQTT_PASSWORD } : {}),
          },
        }
      : {}),
  };
}

/** Resolves once a stop signal arrives. A second signal while stopping exits at once. */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((done) => {
    let seen = false;
    const on = (sig: NodeJS.Signals) => {
      if (seen) process.exit(1);
      seen = true;
      done(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

export async function loadReceiveConfig(opts: ReceiveOptions): Promise<ReceiverConfig> {
  const { loadReceiverConfig, parseReceiverConfig } = await import('../station/receiver-config.js');
  if (opts.config !== undefined && opts.demo) throw new UsageError('give --config FILE or --demo, not both');
  if (opts.config !== undefined) {
    const demoOnly = (['tcpPort', 'udpPort', 'httpPort', 'dataDir', 'account', 'ackUrl', 'mqttUrl', 'mqttTopic'] as const).filter((k) => opts[k] !== undefined);
    if (demoOnly.length > 0) throw new UsageError(`--${demoOnly[0]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} goes with --demo; with --config set it in the file`);
    return loadReceiverConfig(resolve(opts.config));
  }
  if (!opts.demo) throw new UsageError('give --config receiver.yaml, or --demo to try the receiver with the demo account 1234');
  return parseReceiverConfig(demoReceiverConfig(opts), '--demo');
}

export async function runReceive(opts: ReceiveOptions, io: CliOutput): Promise<void> {
  const config = await loadReceiveConfig(opts);
  const { startReceiver } = await import('../station/receiver-app.js');
  const log = pino({ level: opts.logLevel ?? process.env.SW_LOG_LEVEL ?? 'info', base: { app: 'shouwang-receiver' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination(2));
  const stopped = untilSignal();
  const receiver = await startReceiver({ config, log });
  try {
    const first = receiver.firstAdmin;
    if (first.created && first.password !== undefined) {
      io.err(
        [
          '',
          '  首次运行：已创建管理员账号 / First run: created the admin user',
          `  用户名 username: ${first.username}`,
          `  密码   password: ${first.password}`,
          `  (也保存在 also saved in ${first.passwordFile ?? '-'}; 登录后请修改 change it after logging in)`,
          '',
        ].join('\n'),
      );
    }
    io.out(
      JSON.stringify({
        ready: true,
        http: receiver.url,
        dc09: { tcp: receiver.dc09.tcpPort, udp: receiver.dc09.udpPort },
        adminPasswordFile: first.passwordFile ?? null,
        dataDir: config.dataDir,
        accounts: config.dc09.accounts.map((a) => a.account.toUpperCase()),
        httpIntake: config.httpIntake ? `${receiver.url}/api/intake/alarm` : null,
      }),
    );
    const sig = await stopped;
    io.err(`${sig}: stopping the receiver`);
  } finally {
    await receiver.stop();
  }
}
