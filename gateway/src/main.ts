#!/usr/bin/env node
/**
 * The `shouwang` command line. This file is only the parse layer: each command's work lives in
 * its own module under cli/, loaded when that command runs (so `shouwang validate` does not
 * load serial port bindings, and a build without the simulator still validates configs).
 *
 * Exit codes: 0 ok, 1 failure (message only; a stack only for unexpected errors), 2 usage error.
 */
import { Command, Option } from 'commander';
import { parseDurationOption, parseIdRange, parseInteger, parseTable } from './cli/args.js';
import { addBusOptions, busConfigFromOptions, type BusCliOptions } from './cli/bus-options.js';
import { reportError, UsageError } from './cli/errors.js';
import { processOutput as io } from './cli/io.js';
import { packageVersion, profileDirsOrDefault } from './cli/paths.js';

/** Load the profiles for scan/read/profiles (validated; an invalid profile is a failure, exit 1). */
async function loadProfiles(dirs: string[] | undefined) {
  const { ProfileRegistry } = await import('./profiles/registry.js');
  return ProfileRegistry.load(profileDirsOrDefault(dirs));
}

/** For repeatable options: `-p a -p b`. */
const collect = (value: string, previous: string[] = []) => [...previous, value];

export function buildProgram(): Command {
  const program = new Command('shouwang')
    .description('Shouwang (守望) edge gateway for access control and alarm devices')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError('(see --help)')
    .exitOverride();

  program
    .command('start')
    .description('run the gateway')
    .option('-c, --config <file>', 'gateway config (default ./gateway.yaml)')
    .option('--demo', 'run against a simulated village (first run creates the admin user)')
    .action(async (o: { config?: string; demo?: boolean }) => {
      const { runStart } = await import('./cli/start.js');
      await runStart(o);
    });

  program
    .command('simulate')
    .description('run the village simulator in the foreground (Ctrl-C stops it)')
    .requiredOption('--village <file>', 'village description (YAML)')
    .option('--control-port <n>', 'HTTP control port for scenarios and faults (default: a free port)')
    .option('--gateway-config <file>', 'also write a gateway config that polls the simulated village')
    .option('--json', 'print one JSON ready line {"ready":true,"endpoints":...}')
    .action(async (o: { village: string; controlPort?: string; gatewayConfig?: string; json?: boolean }) => {
      const controlPort = o.controlPort === undefined ? undefined : parseInteger(o.controlPort, '--control-port', 0, 65535);
      const { runSimulate } = await import('./cli/simulate.js');
      await runSimulate(
        { village: o.village, json: o.json === true, ...(controlPort === undefined ? {} : { controlPort }), ...(o.gatewayConfig === undefined ? {} : { gatewayConfig: o.gatewayConfig }) },
        io,
      );
    });

  program
    .command('receive')
    .description('run the police-station receiver: DC-09 (TCP+UDP), HTTP/MQTT intakes and the alarm console')
    .option('-c, --config <file>', 'receiver config (receiver.yaml)')
    .option('--demo', 'demo receiver: account 1234, console on 127.0.0.1:8090, data in ./data/receiver')
    .option('--tcp-port <n>', '--demo: DC-09 TCP port (default: a free port)')
    .option('--udp-port <n>', '--demo: DC-09 UDP port (default: a free port)')
    .option('--http-port <n>', '--demo: console/API port (default 8090; 0 = a free port)')
    .option('--data-dir <dir>', '--demo: data directory (default ./data/receiver)')
    .option('--account <hex>', '--demo: DC-09 account (default 1234)')
    .option('--ack-url <url>', '--demo: gateway acknowledgement URL (secret in SHOUWANG_ACK_SECRET)')
    .option('--mqtt-url <url>', '--demo: MQTT intake broker (credentials in SHOUWANG_MQTT_USERNAME/PASSWORD)')
    .option('--mqtt-topic <filter>', '--demo: MQTT intake topic (default shouwang/+/uplink/alarm/+)')
    .action(async (o: { config?: string; demo?: boolean; tcpPort?: string; udpPort?: string; httpPort?: string; dataDir?: string; account?: string; ackUrl?: string; mqttUrl?: string; mqttTopic?: string }) => {
      const port = (v: string | undefined, name: string) => (v === undefined ? undefined : parseInteger(v, name, 0, 65535));
      const { runReceive } = await import('./cli/receive.js');
      const { tcpPort, udpPort, httpPort, ...rest } = o;
      const ports = { tcpPort: port(tcpPort, '--tcp-port'), udpPort: port(udpPort, '--udp-port'), httpPort: port(httpPort, '--http-port') };
      await runReceive({ ...rest, ...Object.fromEntries(Object.entries(ports).filter(([, v]) => v !== undefined)) }, io);
    });

  program
    .command('validate')
    .description('check a config and the device profiles without starting anything')
    .option('-c, --config <file>', 'gateway config; without it only the profiles are checked')
    .option('-p, --profiles <dir...>', 'profile directories (default: the config\'s profiles.dirs, else the shipped ones)')
    .action(async (o: { config?: string; profiles?: string[] }) => {
      const { runValidate } = await import('./cli/validate.js');
      runValidate(o, io);
    });

  const profiles = program.command('profiles').description('list and show device profiles');
  profiles
    .command('list')
    .description('table of the known device profiles')
    .option('-p, --profiles <dir...>', 'profile directories (default: the shipped ones)')
    .option('--json', 'JSON output')
    .action(async (o: { profiles?: string[]; json?: boolean }) => {
      const { runProfilesList } = await import('./cli/profiles.js');
      io.out(runProfilesList(await loadProfiles(o.profiles), o.json === true));
    });
  profiles
    .command('show')
    .description('points, events and commands of one profile')
    .argument('<id>', 'profile id')
    // Repeatable rather than variadic: a variadic option would swallow the <id> after it.
    .option('-p, --profiles <dir>', 'profile directory, repeatable (default: the shipped ones)', collect)
    .option('--json', 'JSON output')
    .action(async (id: string, o: { profiles?: string[]; json?: boolean }) => {
      const { runProfilesShow } = await import('./cli/profiles.js');
      io.out(runProfilesShow(await loadProfiles(o.profiles), id, o.json === true));
    });

  const scan = program
    .command('scan')
    .description('find responding unit ids on a line and the profiles they match')
    .option('--ids <list>', 'unit ids, e.g. 1-247 or 1-10,15', '1-247')
    .option('-p, --profiles <dir...>', 'profile directories (default: the shipped ones)')
    .option('--json', 'JSON output')
    .option('--no-progress', 'no progress bar')
    .option('-v, --verbose', 'transport debug log on stderr');
  addBusOptions(scan, '200ms').action(async (o: BusCliOptions & { ids: string; profiles?: string[]; json?: boolean; progress: boolean; verbose?: boolean }) => {
    const ids = parseIdRange(o.ids);
    const bus = busConfigFromOptions(o);
    const timeoutMs = parseDurationOption(o.timeout ?? '200ms', '--timeout', 10, 30_000);
    const registry = await loadProfiles(o.profiles);
    const { runScan } = await import('./cli/scan.js');
    const { openTransport } = await import('./cli/open-transport.js');
    const transport = await openTransport(bus, o.verbose === true);
    try {
      await runScan({ bus, ids, timeoutMs, profiles: registry.list(), json: o.json === true, progress: o.progress && process.stderr.isTTY === true }, transport, io);
    } finally {
      await transport.close();
    }
  });

  const read = program
    .command('read')
    .description('one test read: raw bytes and every plausible decoding')
    .requiredOption('-u, --unit <n>', 'unit (slave) id')
    .option('-t, --table <table>', 'holding | input | coil | discrete', 'holding')
    .requiredOption('-a, --address <n>', 'first address (0-based unless --base 1)')
    .option('-n, --count <n>', 'registers or bits to read', '1')
    .addOption(new Option('--base <0|1>', 'numbering of --address: 0 = protocol address, 1 = datasheet register number').choices(['0', '1']).default('0'))
    .option('--profile <id>', 'also show what this profile decodes from the block')
    .option('-p, --profiles <dir...>', 'profile directories for --profile (default: the shipped ones)')
    .option('--json', 'JSON output')
    .option('-v, --verbose', 'transport debug log on stderr');
  addBusOptions(read, '1s').action(
    async (o: BusCliOptions & { unit: string; table: string; address: string; count: string; base: '0' | '1'; profile?: string; profiles?: string[]; json?: boolean; verbose?: boolean }) => {
      const table = parseTable(o.table);
      const bits = table === 'coil' || table === 'discrete';
      const base = o.base === '1' ? 1 : 0;
      const typedAddress = parseInteger(o.address, '--address', base, 65535 + base);
      const req = {
        unit: parseInteger(o.unit, '--unit', 0, 255),
        table,
        address: typedAddress - base,
        count: parseInteger(o.count, '--count', 1, bits ? 2000 : 125),
        typedAddress,
        base: base as 0 | 1,
      };
      if (req.address + req.count > 65536) throw new UsageError(`--address + --count: the block ends past address 65535`);
      const bus = busConfigFromOptions(o);
      const timeoutMs = parseDurationOption(o.timeout ?? '1s', '--timeout', 10, 30_000);
      const profile = o.profile === undefined ? undefined : (await loadProfiles(o.profiles)).get(o.profile);
      const { runRead } = await import('./cli/read.js');
      const { openTransport } = await import('./cli/open-transport.js');
      const transport = await openTransport(bus, o.verbose === true);
      try {
        await runRead(bus, req, transport, io, { json: o.json === true, timeoutMs, ...(profile ? { profile } : {}) });
      } finally {
        await transport.close();
      }
    },
  );

  program
    .command('passwd')
    .description('hash a password read from stdin (no echo at a terminal)')
    .option('--user <name>', 'MQTT username: print a mqtt.users entry instead of a bare hash')
    .option('--role <role>', 'admin | app | device | nodered | upstream')
    .option('--device <id>', 'for --role device: the device this client is')
    .option('--add <file>', 'add the user to this users file (mqtt.usersFile)')
    .option('--replace', 'with --add: change the password of an existing user')
    .action(async (o: { user?: string; role?: string; device?: string; add?: string; replace?: boolean }) => {
      const { runPasswd, readPassword } = await import('./cli/passwd.js');
      const { hashPassword } = await import('./auth/password.js');
      await runPasswd(o, io, { readPassword: () => readPassword(), hashPassword: (p) => hashPassword(p) });
    });

  program
    .command('schema')
    .description('print the JSON Schema of gateway.yaml (for editor completion)')
    .option('-o, --out <file>', 'write to a file instead of stdout')
    .action(async (o: { out?: string }) => {
      const { gatewayJsonSchemaText } = await import('./cli/json-schema.js');
      const text = gatewayJsonSchemaText();
      if (o.out === undefined) process.stdout.write(text);
      else {
        const { writeFileSync } = await import('node:fs');
        writeFileSync(o.out, text);
        io.err(`wrote ${o.out}`);
      }
    });

  return program;
}

export async function main(argv: string[] = process.argv): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    return reportError(err);
  }
}

// Set exitCode rather than calling process.exit: stdout may still be flushing into a pipe.
// (start and simulate keep the process alive themselves until they are stopped.)
process.exitCode = await main();
