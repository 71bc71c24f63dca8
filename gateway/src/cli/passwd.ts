/**
 * `shouwang passwd`: hash a password for gateway.yaml or a users file. The password is read
 * from stdin — typed without echo at a terminal, or piped by a provisioning script — and never
 * from the command line, where it would land in shell history and `ps`.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { isMap, isSeq, parseDocument, YAMLSeq } from 'yaml';
import { z } from 'zod';
import { readYamlFile, validateYaml } from '../config/yaml-source.js';
import { mqttRoleSchema, mqttUserSchema, mqttUsersFileSchema, type MqttUserConfig } from '../config/schema.js';
import { ErrorCodes } from '../errors.js';
import { CliError, UsageError } from './errors.js';
import type { CliOutput } from './io.js';

/** Shorter passwords are refused: MQTT ports are reachable from the LAN, and scrypt only slows guessing down. */
export const MIN_PASSWORD_LENGTH = 8;

export interface PasswdOptions {
  user?: string;
  role?: string;
  device?: string;
  add?: string;
  replace?: boolean;
}

/** Read all of a piped stdin and take the first line (provisioning scripts: `echo "$PW" | shouwang passwd`). */
async function readPipedPassword(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  const text = Buffer.concat(chunks).toString('utf8');
  return text.split(/\r?\n/)[0] ?? '';
}

/** Read one line from a TTY with echo off. Ctrl-C aborts; backspace works. */
function readHiddenLine(prompt: string, stdin: NodeJS.ReadStream, stderr: NodeJS.WriteStream): Promise<string> {
  return new Promise((resolve, reject) => {
    stderr.write(prompt);
    let value = '';
    const finish = (err?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      stderr.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (data: Buffer) => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003') return finish(new CliError('aborted'));
        if (ch === '\u0004' && value === '') return finish(new CliError('aborted'));
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}

export async function readPassword(stdin: NodeJS.ReadStream = process.stdin, stderr: NodeJS.WriteStream = process.stderr): Promise<string> {
  if (stdin.isTTY) {
    const first = await readHiddenLine('Password 密码: ', stdin, stderr);
    const again = await readHiddenLine('Again 再次输入: ', stdin, stderr);
    if (first !== again) throw new CliError('the two passwords differ; nothing was written');
    return first;
  }
  return readPipedPassword(stdin);
}

export function checkPassword(plain: string): void {
  if (plain.length === 0) throw new CliError('empty password (type it, or pipe it on stdin)');
  if ([...plain].length < MIN_PASSWORD_LENGTH) throw new CliError(`password too short: use at least ${MIN_PASSWORD_LENGTH} characters`);
}

/** The users-file entry, validated with the same schema the broker uses. */
export function userEntry(opts: PasswdOptions, passwordHash: string): MqttUserConfig {
  if (opts.user === undefined) throw new UsageError('--user is required with --role and --add');
  if (opts.role === undefined) throw new UsageError(`--role is required with --user (${mqttRoleSchema.options.join(', ')})`);
  const role = mqttRoleSchema.safeParse(opts.role);
  if (!role.success) throw new UsageError(`--role: expected one of ${mqttRoleSchema.options.join(', ')}, got "${opts.role}"`);
  if (opts.device !== undefined && role.data !== 'device') throw new UsageError('--device goes with --role device');
  // The broker refuses a device account that does not say which device it is.
  if (role.data === 'device' && opts.device === undefined) throw new UsageError('--role device needs --device <device id> (the device this client is)');
  const raw = { username: opts.user, passwordHash, role: role.data, ...(opts.device === undefined ? {} : { device: opts.device }) };
  const parsed = mqttUserSchema.safeParse(raw);
  if (!parsed.success) {
    const field: Record<string, string> = { username: '--user', device: '--device', role: '--role' };
    throw new UsageError(parsed.error.issues.map((i) => `${field[String(i.path[0])] ?? String(i.path[0])}: ${i.message}`).join('; '));
  }
  return parsed.data;
}

/** YAML of one entry, as it appears in `users:` (no defaults that the schema fills in anyway). */
function entryForYaml(u: MqttUserConfig): Record<string, unknown> {
  return { username: u.username, passwordHash: u.passwordHash, role: u.role, ...(u.device === undefined ? {} : { device: u.device }) };
}

const NEW_FILE_HEADER =
  '# MQTT users for the Shouwang gateway (mqtt.usersFile). Written by `shouwang passwd --add`.\n' +
  '# 网关 MQTT 用户（由 `shouwang passwd --add` 写入）。Only scrypt hashes here, never plain passwords.\n';

/** Either form the broker reads: `users: [...]` (what this command creates) or a bare list (what the demo writes). */
const anyUsersFileSchema = z.union([mqttUsersFileSchema, z.array(mqttUserSchema)]);

/**
 * Add (or with `replace`, update) a user in a users file, keeping its comments and its form
 * (a bare list stays a bare list). The file is validated before and after, written to a temp
 * file, fsync'd and renamed over the old one, so a crash cannot leave the broker a half-written file.
 */
export function addUserToFile(file: string, user: MqttUserConfig, replace = false): 'added' | 'replaced' {
  let text = NEW_FILE_HEADER + 'users: []\n';
  if (existsSync(file)) {
    const parsed = readYamlFile(file, ErrorCodes.CONFIG_INVALID);
    if (parsed.data !== null && parsed.data !== undefined) validateYaml(parsed, anyUsersFileSchema, ErrorCodes.CONFIG_INVALID);
    text = readFileSync(file, 'utf8');
  }
  let doc = parseDocument(text);
  // A file holding only comments parses to nothing: give it an empty list to append to.
  if (doc.contents === null) doc = parseDocument(`${text.trimEnd()}\nusers: []\n`);
  let seq: YAMLSeq;
  if (isSeq(doc.contents)) seq = doc.contents;
  else if (isMap(doc.contents)) {
    const users = doc.get('users');
    if (isSeq(users)) seq = users;
    else {
      seq = new YAMLSeq();
      doc.set('users', seq);
    }
  } else throw new CliError(`${basename(file)}: expected a users: list`);
  const existing = seq.items.findIndex((item) => isMap(item) && item.get('username') === user.username);
  const node = doc.createNode(entryForYaml(user));
  let result: 'added' | 'replaced' = 'added';
  if (existing >= 0) {
    if (!replace) throw new CliError(`${basename(file)}: user "${user.username}" already exists (use --replace to change the password)`);
    seq.items[existing] = node;
    result = 'replaced';
  } else seq.items.push(node);
  // Flow-style `users: []` of a new file would print the entries inline; block style reads better.
  seq.flow = false;
  const out = doc.toString();
  validateYaml({ file: basename(file), data: parseDocument(out).toJS(), lineAt: () => undefined }, anyUsersFileSchema, ErrorCodes.CONFIG_INVALID);
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, out);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  return result;
}

export async function runPasswd(
  opts: PasswdOptions,
  io: CliOutput,
  deps: { readPassword: () => Promise<string>; hashPassword: (plain: string) => string },
): Promise<void> {
  const wantsEntry = opts.user !== undefined || opts.role !== undefined || opts.add !== undefined;
  // Check the arguments before asking for a password: nobody wants to type it twice for nothing.
  if (wantsEntry) userEntry(opts, 'scrypt$placeholder');
  if (opts.device !== undefined && !wantsEntry) throw new UsageError('--device goes with --user and --role device');
  if (opts.replace && opts.add === undefined) throw new UsageError('--replace goes with --add FILE');
  const plain = await deps.readPassword();
  checkPassword(plain);
  const hash = deps.hashPassword(plain);
  if (!wantsEntry) {
    io.out(hash);
    return;
  }
  const entry = userEntry(opts, hash);
  if (opts.add !== undefined) {
    const what = addUserToFile(opts.add, entry, opts.replace);
    io.err(`${what} user "${entry.username}" (${entry.role}) in ${opts.add}`);
    return;
  }
  // No file: print a snippet to paste under mqtt.users in gateway.yaml.
  const snippet = parseDocument('[]');
  (snippet.contents as YAMLSeq).items.push(snippet.createNode(entryForYaml(entry)));
  (snippet.contents as YAMLSeq).flow = false;
  io.out(`# paste under mqtt.users: in gateway.yaml\n${snippet.toString()}`);
}
