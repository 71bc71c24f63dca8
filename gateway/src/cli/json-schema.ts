/**
 * `shouwang schema`: the JSON Schema of gateway.yaml, generated from the zod schema so it can
 * never disagree with what the gateway accepts. Editors (VS Code YAML / yaml-language-server,
 * JetBrains) use it for completion and inline checks; technicians get a description of each key
 * on hover, in Chinese and English.
 *
 * Draft-07 is the newest draft yaml-language-server fully supports. What the generator does
 * beyond `z.toJSONSchema(..., { io: 'input' })`:
 *  - durations become one `definitions.duration` (`500ms`, `5s`, `2m`, `1h` or milliseconds);
 *  - defaults zod drops from schemas with a transform inside (durations, polling) are put back:
 *    they are numbers, which are valid input too;
 *  - unions of literals become `enum` (completion lists them); the ±2^53 bounds of `.int()` go;
 *  - descriptions are attached by config path from DESCRIPTIONS below; a path that no longer
 *    exists in the schema throws, so this file cannot silently drift from config/schema.ts.
 */
import { z } from 'zod';
import { busSchema, gatewayConfigSchema } from '../config/schema.js';
import { durationSchema } from '../profiles/schema.js';

type Json = Record<string, unknown>;

const DURATION_DESCRIPTION = 'Duration: 500ms, 5s, 2m, 1h, or a number of milliseconds. 时长：500ms、5s、2m、1h 或毫秒数。';

/** Config path (`buses[].timeout`, `devices[].poll.*`) -> hover text. English first line, Chinese second. */
export const DESCRIPTIONS: Readonly<Record<string, string>> = {
  site: 'This gateway\'s site: one village, compound or building group.\n站点：一个城中村、小区或楼栋群。',
  'site.id': 'Site id; appears in MQTT topics shouwang/<site>/... and in alarms sent to the police station.\n站点编号，用于 MQTT 主题和上报派出所的报警。',
  'site.name': 'Display name, e.g. 石牌村东区.\n站点显示名称。',
  'site.address': 'Street address sent with alarms.\n地址，随报警一起上报。',
  'site.timezone': 'IANA time zone for schedules and reports.\n时区。',
  storage: 'Local storage.\n本地存储。',
  'storage.dir': 'Directory for the SQLite database (alarm outbox, access log, telemetry spool); relative paths are relative to this file.\n数据目录（报警发件箱、通行记录等），相对路径以本文件所在目录为准。',
  profiles: 'Device profiles (one YAML file per device model).\n设备档案（每种设备型号一个 YAML 文件）。',
  'profiles.dirs': 'Directories with device profiles; relative to this file. Check them with `shouwang validate`.\n设备档案目录，可用 `shouwang validate` 检查。',
  buses: 'RS485 lines and network links the gateway polls. Test one with `shouwang scan` / `shouwang read` before adding devices.\n总线：RS485 串口和网络连接。添加设备前可用 `shouwang scan` / `shouwang read` 测试。',
  'buses[].type':
    'rtu: Modbus RTU on a local serial port (USB-RS485 adapter); rtu-over-tcp: Modbus RTU through a transparent serial device server (DTU); tcp: Modbus TCP; raw-serial: vendor framing (lock boards).\nrtu：本机串口 Modbus RTU；rtu-over-tcp：经串口服务器（DTU）透传的 RTU；tcp：Modbus TCP；raw-serial：厂家私有协议（如锁控板）。',
  'buses[].id': 'Bus id, referenced by devices[].bus.\n总线编号，设备通过 bus 字段引用。',
  'buses[].name': 'Display name, e.g. "3号楼 RS485".\n显示名称。',
  'buses[].timeout': 'Response timeout per request. 300ms suits 9600 baud; raise it for slow devices or DTUs over 4G.\n每次请求的应答超时。',
  'buses[].interFrameDelay': 'Silence after a frame before the next request. Default: 3.5 character times (1.75 ms above 19200 baud).\n帧间静默时间，默认 3.5 个字符时间。',
  'buses[].reconnect': 'Wait before reopening a lost port or connection.\n串口或连接断开后重连前的等待时间。',
  'buses[].polling': 'Polling schedule of this bus.\n本总线的轮询设置。',
  'buses[].polling.intervals': 'Interval per poll class (points choose a class in their profile). alarm: 0 sweeps alarm points back to back.\n各轮询等级的间隔；alarm: 0 表示报警点连续轮询。',
  'buses[].polling.readsBetweenAlarmSweeps': 'Other reads allowed between two alarm sweeps; bounds alarm latency.\n两次报警点轮询之间允许的其他读取次数。',
  'buses[].polling.queueLimit': 'Most pending reads a bus may hold.\n总线待处理读取队列上限。',
  'buses[].polling.breaker': 'Per-device circuit breaker: stop hammering a dead device, probe it with growing backoff.\n单设备熔断：设备无应答时按退避时间探测。',
  'buses[].polling.staleAfterIntervals': 'A value older than this many poll intervals is published with quality "stale".\n超过多少个轮询周期未更新的值标记为过期。',
  'buses[].path': 'Serial port: /dev/ttyUSB0, /dev/ttyS1, COM3.\n串口设备路径。',
  'buses[].baudRate': 'Baud rate of the RS485 line (all devices on a line must match).\n波特率（同一总线上所有设备须一致）。',
  'buses[].parity': 'Parity: none (8N1), even (8E1) or odd (8O1).\n校验位。',
  'buses[].dataBits': 'Data bits (almost always 8).\n数据位。',
  'buses[].stopBits': 'Stop bits.\n停止位。',
  'buses[].host': 'IP address or host name of the Modbus TCP device or serial device server.\nModbus TCP 设备或串口服务器的地址。',
  'buses[].port': 'TCP port (Modbus TCP: 502; DTUs often 4001 or 8899).\nTCP 端口。',
  devices: 'Device instances: which profile, on which bus, at which unit id, where.\n设备实例：档案、总线、从站地址、位置。',
  'devices[].id': 'Device id; appears in MQTT topics and alarms. Keep it stable.\n设备编号，用于 MQTT 主题和报警，请保持不变。',
  'devices[].name': 'Display name, e.g. "3栋 201 门锁".\n显示名称。',
  'devices[].profile': 'Profile id (see `shouwang profiles list`).\n设备档案编号（见 `shouwang profiles list`）。',
  'devices[].bus': 'Bus id; omit for devices that connect to the MQTT broker themselves.\n所在总线；直接连 MQTT 的设备不填。',
  'devices[].unitId': 'Modbus unit (slave) id 1-247, unique per bus. `shouwang scan` finds them.\nModbus 从站地址 1-247，同一总线内不可重复。',
  'devices[].location': 'Where the device is; sent with its alarms.\n安装位置，随报警上报。',
  'devices[].labels': 'Free key/value labels, e.g. landlord: 张三.\n自定义标签。',
  'devices[].enabled': 'false keeps the device configured but unpolled.\n设为 false 时不轮询该设备。',
  'devices[].poll': 'Per-point override of the poll class (alarm, fast, normal, slow) or interval.\n按点位覆盖轮询等级或间隔。',
  mqtt: 'The embedded MQTT broker (for IP devices, apps and Node-RED).\n内置 MQTT 服务器。',
  'mqtt.host': 'Address to listen on. 127.0.0.1 keeps the broker local; 0.0.0.0 opens it to the LAN.\n监听地址。',
  'mqtt.port': 'MQTT port (0 = choose a free port).\nMQTT 端口。',
  'mqtt.allowAnonymous': 'Let clients without a password subscribe to state, availability and events (never to commands).\n允许匿名客户端订阅状态和事件（不能下发命令）。',
  'mqtt.users': 'MQTT users. Make each passwordHash with `shouwang passwd --user NAME --role ROLE`.\nMQTT 用户，密码哈希用 `shouwang passwd` 生成。',
  'mqtt.users[].username': 'MQTT username.\n用户名。',
  'mqtt.users[].passwordHash': 'scrypt$... hash from `shouwang passwd`; never a plain password.\n由 `shouwang passwd` 生成的哈希，切勿填写明文密码。',
  'mqtt.users[].role': 'Role: decides which topics this client may publish and subscribe to.\n角色：决定该客户端可发布和订阅的主题。',
  'mqtt.users[].device': 'For role device: the MQTT-native device this client is.\n角色为 device 时对应的设备编号。',
  'mqtt.users[].publish': 'Extra topic filters this client may publish to.\n额外允许发布的主题。',
  'mqtt.users[].subscribe': 'Extra topic filters this client may subscribe to.\n额外允许订阅的主题。',
  'mqtt.usersFile': 'File with more users, kept out of this file (`shouwang passwd --add FILE`); relative to this file.\n额外的用户文件（`shouwang passwd --add` 写入）。',
  'mqtt.tls': 'MQTT over TLS on a second port.\nTLS 加密端口。',
  'mqtt.topicPrefix': 'First topic level (default shouwang).\n主题前缀。',
  log: 'Logging.\n日志。',
  'log.level': 'Log level.\n日志级别。',
};

const SAFE = Number.MAX_SAFE_INTEGER;

/**
 * The baud rate check is a zod refine, which JSON Schema cannot see; offer the rates the schema
 * accepts as an enum (found by asking the schema, so the list cannot drift).
 */
function acceptedBaudRates(): number[] {
  const candidates = [300, 600, 1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200, 230400, 460800, 921600];
  const shape = busSchema.options.find((o) => o.shape.type.value === 'rtu')?.shape;
  const baud = shape && 'baudRate' in shape ? shape.baudRate : undefined;
  if (!baud) throw new Error('json-schema: no rtu bus with a baudRate in busSchema');
  return candidates.filter((b) => baud.safeParse(b).success);
}

/** Enums for fields whose allowed values live in refinements, by config path. */
function refinedEnums(): Record<string, unknown[]> {
  return { 'buses[].baudRate': acceptedBaudRates() };
}

/** Zod hooks: durations as one definition, and defaults restored on transforming schemas. */
function override(ctx: { zodSchema: unknown; jsonSchema: Json }): void {
  const zs = ctx.zodSchema as z.ZodType;
  const json = ctx.jsonSchema;
  if (zs === durationSchema) {
    json.description = DURATION_DESCRIPTION;
    json.examples = ['300ms', '5s', '1m', 1000];
  }
  const def = (zs as unknown as { _zod: { def: { type: string; defaultValue?: unknown } } })._zod.def;
  if (def.type === 'default' && !('default' in json)) {
    // The default is the parsed (output) value; for our schemas that is plain numbers and objects,
    // which are also valid input, so editors may show and insert it.
    json.default = JSON.parse(JSON.stringify(def.defaultValue)) as unknown;
  }
}

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Cleanups that make the output read well in an editor (pure, in place). */
function tidy(node: unknown): void {
  if (Array.isArray(node)) {
    node.forEach(tidy);
    return;
  }
  if (!isObject(node)) return;
  if (node.minimum === -SAFE) delete node.minimum;
  if (node.maximum === SAFE) delete node.maximum;
  for (const key of ['anyOf', 'oneOf'] as const) {
    const branches = node[key];
    if (Array.isArray(branches) && branches.length > 0 && branches.every((b) => isObject(b) && 'const' in b && Object.keys(b).every((k) => k === 'const' || k === 'type'))) {
      const types = new Set(branches.map((b) => (b as Json).type));
      delete node[key];
      node.enum = branches.map((b) => (b as Json).const);
      if (types.size === 1 && !types.has(undefined)) node.type = [...types][0];
    }
  }
  for (const v of Object.values(node)) tidy(v);
}

/**
 * Attach DESCRIPTIONS by config path, recording the paths found. Branches of a union or
 * intersection share their parent's path: they get no copy of its description, but their
 * properties are described (each bus type's `timeout`, for example).
 */
function describe(node: unknown, path: string, found: Set<string>, enums: Record<string, unknown[]>, isBranch = false): void {
  if (!isObject(node)) return;
  const values = enums[path];
  if (values !== undefined && !isBranch) {
    node.enum = values;
    found.add(path);
  }
  const text = DESCRIPTIONS[path];
  if (text !== undefined && path !== '' && !isBranch) {
    node.description = text;
    found.add(path);
  }
  const props = node.properties;
  if (isObject(props)) for (const [k, v] of Object.entries(props)) describe(v, path === '' ? k : `${path}.${k}`, found, enums);
  if (isObject(node.items)) describe(node.items, `${path}[]`, found, enums);
  if (isObject(node.additionalProperties)) describe(node.additionalProperties, `${path}.*`, found, enums);
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    const branches = node[key];
    if (Array.isArray(branches)) for (const b of branches) describe(b, path, found, enums, true);
  }
}

/** The JSON Schema object for gateway.yaml. */
export function gatewayJsonSchema(): Json {
  const registry = z.registry<{ id?: string }>();
  registry.add(durationSchema, { id: 'duration' });
  const schema = z.toJSONSchema(gatewayConfigSchema, {
    io: 'input',
    target: 'draft-07',
    metadata: registry,
    override: (ctx) => override(ctx as unknown as { zodSchema: unknown; jsonSchema: Json }),
  }) as Json;
  tidy(schema);
  const found = new Set<string>();
  const enums = refinedEnums();
  describe(schema, '', found, enums);
  const missing = [...Object.keys(DESCRIPTIONS), ...Object.keys(enums)].filter((p) => !found.has(p));
  if (missing.length > 0) throw new Error(`json-schema DESCRIPTIONS name config paths that no longer exist: ${missing.join(', ')}`);
  const { $schema, ...rest } = schema;
  return {
    $schema,
    $id: 'https://shouwang.local/schemas/gateway.schema.json',
    title: 'Shouwang gateway config (gateway.yaml) 守望网关配置',
    description: 'Generated by `shouwang schema` from gateway/src/config/schema.ts. Do not edit by hand.',
    ...rest,
  };
}

/** The text written to docs/gateway.schema.json (stable: two-space JSON, trailing newline). */
export function gatewayJsonSchemaText(): string {
  return `${JSON.stringify(gatewayJsonSchema(), null, 2)}\n`;
}
