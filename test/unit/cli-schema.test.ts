import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { DESCRIPTIONS, gatewayJsonSchema, gatewayJsonSchemaText } from '../../gateway/src/cli/json-schema.js';
import { gatewayConfigSchema } from '../../gateway/src/config/schema.js';

const root = new URL('../..', import.meta.url).pathname;

describe('gateway JSON Schema', () => {
  it('docs/gateway.schema.json is exactly what `shouwang schema` generates (regenerate: shouwang schema --out docs/gateway.schema.json)', () => {
    expect(readFileSync(`${root}docs/gateway.schema.json`, 'utf8')).toBe(gatewayJsonSchemaText());
  });

  it('gateway.example.yaml points editors at the committed schema', () => {
    expect(readFileSync(`${root}gateway.example.yaml`, 'utf8').split('\n')[0]).toBe('# yaml-language-server: $schema=./docs/gateway.schema.json');
  });

  it('is draft-07 with one shared duration definition and defaults zod drops on transforms', () => {
    const s = gatewayJsonSchema() as any;
    expect(s.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(s.definitions.duration.anyOf).toEqual([
      { type: 'integer', minimum: 0 },
      { type: 'string', pattern: '^\\d+(\\.\\d+)?(ms|s|m|h)$' },
    ]);
    const rtu = s.properties.buses.items.oneOf.find((b: any) => b.properties.type.const === 'rtu');
    expect(rtu.properties.timeout.default).toBe(300);
    expect(rtu.properties.timeout.allOf).toEqual([{ $ref: '#/definitions/duration' }]);
    expect(rtu.properties.baudRate.enum).toEqual([1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200]);
    expect(rtu.properties.dataBits).toMatchObject({ enum: [7, 8], default: 8 });
    expect(rtu.properties.polling.default.intervals).toEqual({ alarm: 0, fast: 1000, normal: 5000, slow: 60000 });
    expect(s.properties.devices.items.properties.unitId).toMatchObject({ type: 'integer', minimum: 1, maximum: 247 });
    expect(s.properties.devices.items.properties.unitId.description).toBe(DESCRIPTIONS['devices[].unitId']);
    // no ±2^53 noise from .int()
    expect(JSON.stringify(s)).not.toContain('9007199254740991');
  });

  it('accepts what the zod schema accepts and rejects what it rejects (round trip through z.fromJSONSchema)', () => {
    const fromJson = z.fromJSONSchema(gatewayJsonSchema() as any);
    const example = parse(readFileSync(`${root}gateway.example.yaml`, 'utf8'));
    expect(gatewayConfigSchema.safeParse(example).success).toBe(true);
    expect(fromJson.safeParse(example).success).toBe(true);
    const bad = [
      { ...example, devices: [{ id: 'x', profile: 'p', bus: 'rs485-b3', unitId: 300 }] },
      { ...example, buses: [{ id: 'b', type: 'rtu', path: '/dev/x', timeout: 'soon' }] },
      { ...example, buses: [{ id: 'b', type: 'rtu', path: '/dev/x', baudRate: 12345 }] },
      { ...example, site: { id: 'has space' } },
      { ...example, surprise: true },
    ];
    for (const b of bad) {
      expect(gatewayConfigSchema.safeParse(b).success).toBe(false);
      expect(fromJson.safeParse(b).success).toBe(false);
    }
  });
});
