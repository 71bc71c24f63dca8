import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseYamlText } from '../../gateway/src/config/yaml-source.js';
import { isShouwangError } from '../../gateway/src/errors.js';

describe('YAML aliases in config files', () => {
  it('reads a generated config that shares one object among 500 buses through aliases', () => {
    const shared = { intervals: { fast: 1000 } };
    const text = stringify({ buses: Array.from({ length: 500 }, (_, i) => ({ id: `b${i}`, polling: shared })) });
    expect((text.match(/\*a\d+/g) ?? []).length).toBe(499);
    const data = parseYamlText(text, 'gen.yaml', 'SW_ERR_CONFIG_INVALID').data as { buses: Array<{ polling: unknown }> };
    expect(data.buses).toHaveLength(500);
    expect(data.buses[499]!.polling).toEqual(shared);
  });

  it('refuses a runaway alias expansion with a config error naming the file', () => {
    // Each level doubles the previous one: 2^20 leaves from 20 short lines.
    const lines = ['a0: &a0 [x, x]'];
    for (let i = 1; i <= 20; i++) lines.push(`a${i}: &a${i} [*a${i - 1}, *a${i - 1}]`);
    let err: unknown;
    try {
      parseYamlText(lines.join('\n'), '/etc/shouwang/bomb.yaml', 'SW_ERR_CONFIG_INVALID');
    } catch (e) {
      err = e;
    }
    expect(isShouwangError(err, 'SW_ERR_CONFIG_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(/^bomb\.yaml: cannot read the YAML/);
  });
});
