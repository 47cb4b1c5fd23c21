import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { fileChunks, gunzipChunks } from './readers.ts';

/** Flow-log-like text of n lines (distinct, so a lost or doubled piece shows). */
function text(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += `2 123456789010 eni-${(i % 97).toString(16).padStart(17, '0')} 10.0.${i & 255}.${i % 250} 198.51.100.${i % 200} ${40000 + (i % 20000)} 443 6 ${i % 90} ${i * 7} 1700000000 1700000060 ACCEPT OK\n`;
  return s;
}

/** `bytes` fed in chunks of the given sizes (cycled), each a fresh view of one reused buffer. */
async function* chunked(bytes: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  const reused = new Uint8Array(Math.max(...sizes));
  for (let pos = 0, k = 0; pos < bytes.length; k++) {
    const n = Math.min(sizes[k % sizes.length], bytes.length - pos);
    reused.set(bytes.subarray(pos, pos + n));
    yield reused.subarray(0, n);
    pos += n;
  }
}

/** Everything a gunzip yields (copied as it comes: the views share one buffer), and its error. */
async function drain(gen: AsyncGenerator<Buffer>): Promise<{ out: string; error?: string }> {
  const parts: Buffer[] = [];
  try {
    for await (const b of gen) parts.push(Buffer.from(b));
  } catch (err) {
    return { out: Buffer.concat(parts).toString('latin1'), error: (err as Error).message };
  }
  return { out: Buffer.concat(parts).toString('latin1') };
}

describe('gunzipChunks', () => {
  const big = text(20_000); // ~2.5 MB of text: many 256 KiB output buffers
  const gz = gzipSync(big);

  it('yields the text exactly, whatever the input chunking, as Node\'s gunzip stream does', async () => {
    for (const sizes of [[gz.length], [1], [7, 4096, 13], [65_536], [1 << 20]]) {
      const direct = await drain(gunzipChunks(chunked(gz, sizes)));
      expect(direct.error).toBeUndefined();
      expect(direct.out).toBe(big);
    }
    expect((await drain(gunzipChunks(chunked(gz, [4096]), { stream: true }))).out).toBe(big);
  });

  it('reads every member of a multi-member gzip (members may end anywhere in a chunk)', async () => {
    const a = text(3000);
    const b = text(5000).replace(/ACCEPT/g, 'REJECT');
    const both = Buffer.concat([gzipSync(a), gzipSync(b), gzipSync('')]);
    for (const sizes of [[both.length], [gzipSync(a).length], [333]]) {
      const r = await drain(gunzipChunks(chunked(both, sizes)));
      expect(r.error).toBeUndefined();
      expect(r.out).toBe(a + b);
    }
  });

  it('skips NUL padding between and after members, whatever the chunking, and reports a non-gzip rest', async () => {
    const a = text(2000);
    const b = text(3000).replace(/ACCEPT/g, 'REJECT');
    const padded = Buffer.concat([gzipSync(a), Buffer.alloc(1000), gzipSync(b), Buffer.alloc(3000)]);
    for (const sizes of [[padded.length], [1], [7, 4096, 13], [gzipSync(a).length + 500], [gzipSync(a).length]]) {
      const r = await drain(gunzipChunks(chunked(padded, sizes)));
      expect(r.error).toBeUndefined();
      expect(r.out).toBe(a + b);
    }
    const garbage = Buffer.concat([gzipSync(a), Buffer.alloc(10), Buffer.from('not gzip\n')]);
    for (const sizes of [[garbage.length], [3]]) {
      const r = await drain(gunzipChunks(chunked(garbage, sizes)));
      expect(r.out).toBe(a);
      expect(r.error).toBe('incorrect header check');
    }
  });

  it('yields what decompressed before a truncation or corruption, then throws zlib\'s reason, as the stream does', async () => {
    const cut = gz.subarray(0, Math.floor(gz.length * 0.6));
    const bad = Buffer.from(gz);
    bad.fill(0xff, 2000, 2100);
    for (const input of [cut, bad, gz.subarray(0, 5), Buffer.from('not gzip at all\n')]) {
      const direct = await drain(gunzipChunks(chunked(input, [8192])));
      const stream = await drain(gunzipChunks(chunked(input, [8192]), { stream: true }));
      expect(direct.error).toBeDefined();
      expect(direct.error).toBe(stream.error);
      expect(big.startsWith(direct.out)).toBe(true);
      // The stream may hold back its last partial buffer; never more than one output chunk.
      expect(direct.out.length).toBeGreaterThanOrEqual(stream.out.length);
      expect(direct.out.length - stream.out.length).toBeLessThanOrEqual(1 << 18);
    }
    const cutOut = (await drain(gunzipChunks(chunked(cut, [8192])))).out;
    expect(cutOut.length).toBeGreaterThan(big.length / 3);
  });

  it('an empty input is a truncated gzip', async () => {
    expect((await drain(gunzipChunks(chunked(new Uint8Array(0), [1])))).error).toBe((await drain(gunzipChunks(chunked(new Uint8Array(0), [1]), { stream: true }))).error);
  });
});

describe('fileChunks', () => {
  it('reads a file whole, in chunks of one reused buffer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flowlens-readers-'));
    const bytes = Buffer.from(text(25_000)); // > 2 read chunks, not a multiple of one
    writeFileSync(join(dir, 'a.log'), bytes);
    const parts: Buffer[] = [];
    const seen = new Set<ArrayBufferLike>();
    for await (const c of fileChunks(join(dir, 'a.log'))) {
      parts.push(Buffer.from(c));
      seen.add(c.buffer);
    }
    expect(parts.length).toBeGreaterThan(2);
    expect(Buffer.concat(parts).equals(bytes)).toBe(true);
    expect(seen.size).toBe(1);
    writeFileSync(join(dir, 'empty.log'), '');
    let n = 0;
    for await (const c of fileChunks(join(dir, 'empty.log'))) n += c.length;
    expect(n).toBe(0);
  });
});

describe('gunzipChunks on a failing input', () => {
  it('ends with the input\'s error on both paths (a read error never hangs a run)', async () => {
    const gz = gzipSync(text(5000));
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield gz.subarray(0, 10_000);
      throw new Error('EIO: i/o error, read');
    }
    for (const stream of [false, true]) {
      const r = await drain(gunzipChunks(failing(), { stream }));
      expect(r.error).toBe('EIO: i/o error, read');
    }
  });
});
