/**
 * `shouwang start`: load and check the config and profiles, start the gateway, and stop it
 * cleanly on SIGINT/SIGTERM. With `--demo` it first starts the simulated village as a child
 * process (its own event loop keeps wire timing honest), writes the matching gateway config to
 * the data directory, creates MQTT credentials on first run, and prints where to look.
 */
import { dirname, resolve } from 'node:path';
import { Gateway } from './app.js';
import { checkDevicesAgainstProfiles, loadConfigFile, type LoadedConfig } from './config/load.js';
import { prepareDemo, type DemoChild } from './demo.js';
import { ErrorCodes, ShouwangError } from './errors.js';
import { createLogger } from './log.js';
import { ProfileRegistry } from './profiles/registry.js';

export interface RunOptions {
  configFile?: string;
  demo: boolean;
}

export async function runGateway(opts: RunOptions): Promise<void> {
  const log = createLogger();
  let children: DemoChild[] = [];
  let configFile = opts.configFile;
  let banner: string | undefined;
  if (opts.demo) {
    const demo = await prepareDemo(log);
    children = demo.children;
    configFile = demo.configFile;
    banner = demo.banner;
  }
  const stopChildren = () => Promise.all([...children].reverse().map((c) => c.stop())).then(() => undefined);
  if (!configFile) throw new ShouwangError(ErrorCodes.CONFIG_NOT_FOUND, 'no config: pass --config gateway.yaml, or --demo for the simulated village');
  let gateway: Gateway | undefined;
  try {
    const { config, profiles } = loadChecked(configFile);
    log.level = process.env.SW_LOG_LEVEL ?? config.log.level;
    gateway = new Gateway({ config, profiles, log, baseDir: dirname(resolve(configFile)) });
    await gateway.start();
  } catch (err) {
    await stopChildren();
    throw err;
  }
  if (banner) process.stderr.write(banner.replaceAll('{mqttPort}', String(gateway.info().mqtt.port)));
  await new Promise<void>((done) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      const force = setTimeout(() => process.exit(1), 10_000);
      force.unref();
      void gateway!
        .stop()
        .then(stopChildren)
        .finally(done);
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    for (const c of children) {
      c.child.once('exit', (code) => {
        if (!stopping) log.error({ code, child: c.name }, `the ${c.name} exited; stopping the demo`);
        stop(`${c.name}-exit`);
      });
    }
  });
}


/**
 * The config and profiles, checked against each other. In its own function so that the parsed
 * YAML document (kept by the loader to name lines in errors: 3.8 MB for a 500-device config)
 * is garbage once this returns; as a local of runGateway, which stays suspended for the life of
 * the process, it would be kept alive for good.
 */
function loadChecked(configFile: string): { config: LoadedConfig['config']; profiles: ProfileRegistry } {
  const loaded = loadConfigFile(configFile);
  const profiles = ProfileRegistry.load(loaded.config.profiles.dirs);
  checkDevicesAgainstProfiles(loaded, profiles);
  return { config: loaded.config, profiles };
}
