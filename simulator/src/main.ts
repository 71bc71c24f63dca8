/**
 * Process entry: `node --import tsx simulator/src/main.ts --village simulator/villages/demo.yaml`
 * Starts the village and prints ONE JSON line on stdout once everything listens:
 *   {"ready":true,"endpoints":{...}}
 * Logs go to stderr (stdout stays machine-readable). SIGTERM / SIGINT stop the socat children
 * (by PID) and exit.
 *
 * Options: --village <file> (required), --run-dir <dir>, --control-port <n>, --no-socat,
 * --behaviour on|off, --gateway-config <file> (also write the matching gateway config as YAML),
 * --log-level <level>.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { errorMessage } from '../../gateway/src/errors.js';
import { gatewayConfigFor } from './gateway-config.js';
import { killAllSocats } from './pty-line.js';
import { startSimulator, type SimulatorHandle } from './simulator.js';

const usage = 'usage: main.ts --village <file> [--run-dir <dir>] [--control-port <n>] [--no-socat] [--behaviour on|off] [--gateway-config <file>] [--log-level <level>]';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      village: { type: 'string' },
      'run-dir': { type: 'string' },
      'control-port': { type: 'string' },
      'no-socat': { type: 'boolean', default: false },
      behaviour: { type: 'string' },
      'gateway-config': { type: 'string' },
      'log-level': { type: 'string', default: process.env.SW_LOG_LEVEL ?? 'info' },
    },
    strict: true,
  });
  if (!values.village) throw new Error(`--village is required\n${usage}`);
  const port = values['control-port'] === undefined ? 0 : Number(values['control-port']);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--control-port: expected 0-65535, got ${values['control-port']}`);
  if (values.behaviour !== undefined && values.behaviour !== 'on' && values.behaviour !== 'off')
    throw new Error(`--behaviour: expected on or off, got ${values.behaviour}`);
  const log = pino({ level: values['log-level'], base: { app: 'shouwang-sim' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination(2));

  let handle: SimulatorHandle | undefined;
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping simulator');
    const force = setTimeout(() => {
      killAllSocats();
      process.exit(1);
    }, 5000);
    force.unref();
    void (handle?.stop() ?? Promise.resolve()).finally(() => {
      killAllSocats();
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  // A simulator that dies mid-test leaves the gateway's tests failing for the wrong reason:
  // a stray error is logged and the village keeps running.
  process.on('uncaughtException', (err) => log.error({ err: errorMessage(err), stack: err.stack }, 'uncaught exception (simulator keeps running)'));
  process.on('unhandledRejection', (err) => log.error({ err: errorMessage(err) }, 'unhandled rejection (simulator keeps running)'));

  handle = await startSimulator({
    villageFile: values.village,
    runDir: values['run-dir'],
    controlPort: port,
    preferSocat: !values['no-socat'],
    log,
    ...(values.behaviour !== undefined ? { behaviour: values.behaviour === 'on' } : {}),
  });
  if (values['gateway-config']) writeFileSync(values['gateway-config'], stringify(gatewayConfigFor(handle.village, handle.endpoints)));
  if (handle.endpoints.lines === 'rtu-over-tcp') process.stderr.write('shouwang simulator: RTU buses are served as RTU over TCP (socat not used)\n');
  process.stdout.write(`${JSON.stringify({ ready: true, endpoints: handle.endpoints })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`shouwang simulator: ${errorMessage(err)}\n`);
  killAllSocats();
  process.exit(1);
});
