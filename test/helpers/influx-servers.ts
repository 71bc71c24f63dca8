/**
 * Real time-series servers for integration tests, started and stopped by the tests themselves:
 *
 *   - InfluxDB 1.6 (Debian `influxdb`, /usr/bin/influxd) with a temp config: temp meta/data/wal
 *     dirs, reporting disabled, HTTP and RPC on 127.0.0.1 free ports, every other listener and
 *     background service off. Ready (GET /ping -> 204) in well under a second.
 *   - VictoriaMetrics (Debian `victoria-metrics`) on 127.0.0.1 with a temp storage dir; it takes
 *     line protocol on /api/v2/write and gives it back on /api/v1/export.
 *
 * Processes are stopped by PID (SIGTERM, SIGKILL after 5 s). Temp dirs are removed by `dispose`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const INFLUXD_BIN = '/usr/bin/influxd';
export const VICTORIA_METRICS_BIN = '/usr/bin/victoria-metrics';

/** A free TCP port on 127.0.0.1 (closed again before it is returned). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A child process with its stderr/stdout tail kept for error messages. */
class Proc {
  readonly child: ChildProcess;
  private output = '';
  private exited = false;

  constructor(bin: string, args: string[]) {
    this.child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d: Buffer) => {
      this.output = (this.output + d.toString()).slice(-4000);
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    this.child.once('exit', () => {
      this.exited = true;
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get alive(): boolean {
    return !this.exited && this.child.exitCode === null && this.child.signalCode === null;
  }

  tail(): string {
    return this.output;
  }

  /** SIGTERM by PID, SIGKILL after 5 s; resolves when it has exited. */
  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    return new Promise((resolve) => {
      if (!this.alive) return resolve();
      const kill = setTimeout(() => {
        try {
          process.kill(this.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }, 5000);
      this.child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      try {
        process.kill(this.pid, signal);
      } catch {
        clearTimeout(kill);
        resolve();
      }
    });
  }
}

async function waitHttp(url: string, okStatus: number, proc: Proc, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (!proc.alive) throw new Error(`${what} exited before it was ready:\n${proc.tail()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      if (res.status === okStatus) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > end) throw new Error(`${what} not ready within ${timeoutMs} ms:\n${proc.tail()}`);
    await sleep(25);
  }
}

export interface InfluxdOptions {
  /** `[http] auth-enabled = true`; an admin user is created on first start. */
  auth?: { username: string; password: string };
}

/** One InfluxQL result series, flattened to rows (tags merged in). */
export type InfluxRow = Record<string, string | number | boolean | null>;

export class InfluxdServer {
  readonly dir: string;
  readonly url: string;
  private proc: Proc | undefined;

  private constructor(
    readonly port: number,
    private readonly configFile: string,
    dir: string,
    readonly auth: InfluxdOptions['auth'],
  ) {
    this.dir = dir;
    this.url = `http://127.0.0.1:${port}`;
  }

  static async start(options: InfluxdOptions = {}): Promise<InfluxdServer> {
    const dir = mkdtempSync(join(tmpdir(), 'sw-influxd-'));
    const [httpPort, rpcPort] = [await freePort(), await freePort()];
    const configFile = join(dir, 'influxdb.conf');
    writeFileSync(
      configFile,
      [
        'reporting-disabled = true',
        `bind-address = "127.0.0.1:${rpcPort}"`,
        '[meta]',
        `  dir = "${join(dir, 'meta')}"`,
        '  logging-enabled = false',
        '[data]',
        `  dir = "${join(dir, 'data')}"`,
        `  wal-dir = "${join(dir, 'wal')}"`,
        '  query-log-enabled = false',
        '  index-version = "inmem"',
        '[coordinator]',
        '  log-queries-after = "0s"',
        '[retention]',
        '  enabled = false',
        '[shard-precreation]',
        '  enabled = false',
        '[monitor]',
        '  store-enabled = false',
        '[subscriber]',
        '  enabled = false',
        '[continuous_queries]',
        '  enabled = false',
        '[http]',
        '  enabled = true',
        `  bind-address = "127.0.0.1:${httpPort}"`,
        `  auth-enabled = ${options.auth ? 'true' : 'false'}`,
        '  log-enabled = false',
        '  pprof-enabled = false',
        '[logging]',
        '  level = "warn"',
        '  suppress-logo = true',
        '[ifql]',
        '  enabled = false',
        '',
      ].join('\n'),
    );
    const server = new InfluxdServer(httpPort, configFile, dir, options.auth);
    await server.restart();
    if (options.auth) {
      // With auth enabled and no user yet, InfluxDB 1.x accepts exactly this one statement.
      await server.query(`CREATE USER "${options.auth.username}" WITH PASSWORD '${options.auth.password}' WITH ALL PRIVILEGES`);
    }
    return server;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get running(): boolean {
    return this.proc?.alive ?? false;
  }

  /** Start (again) on the same port with the same data. */
  async restart(): Promise<void> {
    if (this.proc?.alive) return;
    this.proc = new Proc(INFLUXD_BIN, ['-config', this.configFile]);
    await waitHttp(`${this.url}/ping`, 204, this.proc, `influxd on ${this.url}`);
  }

  /** Stop by PID (SIGTERM; SIGKILL to simulate a crash). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.proc?.stop(signal);
  }

  /** Stop and remove the temp dir. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Run InfluxQL (POST /query, epoch=ms); throws on an error in the answer. */
  async query(q: string, db?: string): Promise<Array<{ name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }>> {
    const params = new URLSearchParams({ q, epoch: 'ms' });
    if (db) params.set('db', db);
    const headers: Record<string, string> = this.auth
      ? { authorization: `Basic ${Buffer.from(`${this.auth.username}:${this.auth.password}`).toString('base64')}` }
      : {};
    const res = await fetch(`${this.url}/query`, { method: 'POST', body: params, headers, signal: AbortSignal.timeout(10_000) });
    const json = (await res.json()) as {
      error?: string;
      results?: Array<{ error?: string; series?: Array<{ name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }> }>;
    };
    const err = json.error ?? json.results?.find((r) => r.error)?.error;
    if (err || !res.ok) throw new Error(`influxd query "${q}" failed: HTTP ${res.status} ${err ?? ''}`);
    return json.results?.flatMap((r) => r.series ?? []) ?? [];
  }

  /** Rows of a SELECT as objects; tags of GROUP BY * are merged in. */
  async select(q: string, db: string): Promise<InfluxRow[]> {
    const series = await this.query(q, db);
    return series.flatMap((s) =>
      s.values.map((v) => {
        const row: InfluxRow = { ...(s.tags ?? {}) };
        s.columns.forEach((c, i) => {
          row[c] = v[i] as InfluxRow[string];
        });
        return row;
      }),
    );
  }

  async createDatabase(name: string): Promise<void> {
    await this.query(`CREATE DATABASE "${name}"`);
  }

  /** SELECT count(<field>) ... as a number (0 when there is no such series). */
  async count(field: string, measurement: string, db: string, where = ''): Promise<number> {
    const rows = await this.select(`SELECT count("${field}") FROM "${measurement}"${where ? ` WHERE ${where}` : ''}`, db);
    return rows.length === 0 ? 0 : Number(rows[0]!.count);
  }
}

export interface VmSeries {
  metric: Record<string, string>;
  values: number[];
  timestamps: number[];
}

export class VictoriaMetricsServer {
  readonly url: string;
  private proc: Proc | undefined;

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly extraArgs: string[],
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  /**
   * `-dedup.minScrapeInterval=1ms` makes VictoriaMetrics keep one sample per series and
   * millisecond, as InfluxDB does (by default it keeps duplicates); `-retentionPeriod=100y`
   * keeps test timestamps from any date.
   */
  static async start(extraArgs: string[] = []): Promise<VictoriaMetricsServer> {
    const dir = mkdtempSync(join(tmpdir(), 'sw-vm-'));
    const server = new VictoriaMetricsServer(await freePort(), dir, extraArgs);
    await server.restart();
    return server;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async restart(): Promise<void> {
    if (this.proc?.alive) return;
    this.proc = new Proc(VICTORIA_METRICS_BIN, [
      `-httpListenAddr=127.0.0.1:${this.port}`,
      `-storageDataPath=${join(this.dir, 'data')}`,
      '-retentionPeriod=100y',
      '-loggerLevel=ERROR',
      ...this.extraArgs,
    ]);
    await waitHttp(`${this.url}/health`, 200, this.proc, `victoria-metrics on ${this.url}`);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.proc?.stop(signal);
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Make freshly ingested samples visible to reads. */
  async flush(): Promise<void> {
    const res = await fetch(`${this.url}/internal/force_flush`, { signal: AbortSignal.timeout(10_000) });
    await res.body?.cancel();
  }

  /** GET /api/v1/export for a series selector, e.g. `{__name__=~"door_lock_.*"}`. */
  async export(match: string): Promise<VmSeries[]> {
    await this.flush();
    const params = new URLSearchParams({ 'match[]': match, start: '0' });
    const res = await fetch(`${this.url}/api/v1/export?${params}`, { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`victoria-metrics export ${match} failed: HTTP ${res.status} ${await res.text()}`);
    const text = await res.text();
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as VmSeries);
  }

  /** Poll export until `done(series)` holds (ingestion is asynchronous). */
  async waitExport(match: string, done: (s: VmSeries[]) => boolean, timeoutMs = 10_000): Promise<VmSeries[]> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.export(match);
      if (done(s)) return s;
      if (Date.now() > end) return s;
      await sleep(100);
    }
  }
}
