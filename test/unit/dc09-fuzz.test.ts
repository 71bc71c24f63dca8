/**
 * Fuzz: mutated frames must never make the parser or the splitter throw. Half of the mutants
 * get a recomputed CRC and length, so that the mutations reach the header, data, extended
 * data, timestamp and decryption stages instead of all stopping at the CRC. Seeded: a failure
 * prints the seed and case number to replay.
 */
import { describe, expect, it } from 'vitest';
import { buildFrame, Dc09StreamSplitter, MAX_FRAME_BYTES, parseFrame, type Dc09ErrorCode } from '../../gateway/src/alarms/dc09/index.js';
import { fuzzKeys as keys, FUZZ_SEEDS as SEEDS, mutate, prng, repair } from './dc09-hand-frames.js';

const CODES: Dc09ErrorCode[] = ['crc', 'length', 'format', 'unknown-account', 'decrypt'];

describe('DC-09 fuzz', () => {
  it('parseFrame never throws on 12,000 mutated frames and reaches every stage', () => {
    const seed = 20250601;
    const rnd = prng(seed);
    const counts: Record<string, number> = { ok: 0 };
    let roundTrips = 0;
    let repairedEnvelopeErrors = 0;
    for (let n = 0; n < 12_000; n++) {
      const base = SEEDS[n % SEEDS.length]!;
      let frame = mutate(base, rnd);
      let repaired = false;
      if (rnd() < 0.5) {
        const r = repair(frame);
        if (r) {
          frame = r;
          repaired = true;
        }
      }
      let result;
      try {
        result = parseFrame(frame, { keys });
      } catch (err) {
        throw new Error(`seed ${seed} case ${n} threw: ${String(err)} on ${JSON.stringify(frame.toString('latin1'))}`);
      }
      if (result.ok) {
        counts.ok!++;
        const f = result.frame;
        expect(f.seq).toBeGreaterThanOrEqual(0);
        expect(f.seq).toBeLessThanOrEqual(9999);
        // A plain frame that parsed must be rebuilt byte for byte (when the encoder's stricter
        // rules - e.g. 12-character X/Y values - allow it).
        if (!f.encrypted && f.account !== undefined && /^[0-9A-F]{4}$/.test(frame.toString('latin1', 1, 5))) {
          let rebuilt: Buffer | undefined;
          try {
            rebuilt = buildFrame({ ...f, account: f.account, timestamp: f.timestamp ?? null });
          } catch {
            rebuilt = undefined;
          }
          if (rebuilt) {
            expect(rebuilt.toString('latin1'), `seed ${seed} case ${n}`).toBe(frame.toString('latin1'));
            roundTrips++;
          }
        }
      } else {
        expect(CODES).toContain(result.error.code);
        expect(result.error.message.length).toBeGreaterThan(0);
        counts[result.error.code] = (counts[result.error.code] ?? 0) + 1;
        if (repaired && (result.error.code === 'crc' || result.error.code === 'length')) repairedEnvelopeErrors++;
      }
    }
    expect(repairedEnvelopeErrors).toBe(0);
    for (const code of ['crc', 'length', 'format', 'decrypt', 'unknown-account']) {
      expect(counts[code] ?? 0, `no mutant reached ${code}: ${JSON.stringify(counts)}`).toBeGreaterThan(0);
    }
    expect(counts.ok).toBeGreaterThan(0);
    expect(roundTrips).toBeGreaterThan(0);
  });

  it('the splitter never throws and only returns LF…CR frames within the size limit', () => {
    const seed = 4242;
    const rnd = prng(seed);
    for (let round = 0; round < 200; round++) {
      const parts: Buffer[] = [];
      for (let k = 0; k < 60; k++) {
        const pick = rnd();
        if (pick < 0.6) parts.push(mutate(SEEDS[Math.floor(rnd() * SEEDS.length)]!, rnd));
        else if (pick < 0.8) parts.push(SEEDS[Math.floor(rnd() * SEEDS.length)]!);
        else {
          const junk = Buffer.alloc(Math.floor(rnd() * 50));
          for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(rnd() * 256);
          parts.push(junk);
        }
      }
      const stream = Buffer.concat(parts);
      const s = new Dc09StreamSplitter();
      let pos = 0;
      let out = 0;
      while (pos < stream.length) {
        const len = 1 + Math.floor(rnd() * 200);
        for (const f of s.push(stream.subarray(pos, pos + len))) {
          out++;
          expect(f[0]).toBe(0x0a);
          expect(f[f.length - 1]).toBe(0x0d);
          expect(f.subarray(1, -1).includes(0x0a) || f.subarray(1, -1).includes(0x0d)).toBe(false);
          expect(f.length).toBeLessThanOrEqual(MAX_FRAME_BYTES);
          parseFrame(f, { keys });
        }
        pos += len;
      }
      expect(out).toBeGreaterThan(0);
    }
  });
});
