import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { GzipBlocks } from './gzip-blocks.ts';

/** Text with long-range repeats, which blocks compressed apart cannot share. */
function text(lines: number): Buffer {
  let s = '';
  for (let i = 0; i < lines; i++) s += `5 123456789012 eni-0a1b2c3d4e5f6${(i * 7919) % 1000} 10.0.${i % 250}.${(i * 13) % 250} 443 ${32768 + (i % 28000)} 6 ${i % 97} ${i * 31} 1705276800 1705276859 ACCEPT OK\n`;
  return Buffer.from(s, 'latin1');
}

async function gz(chunks: Buffer[], level: number): Promise<Buffer> {
  const path = join(mkdtempSync(join(tmpdir(), 'flowlens-gzb-')), 'a.log.gz');
  const g = await GzipBlocks.create(path, level);
  for (const c of chunks) await g.write(c);
  await g.close();
  return readFileSync(path);
}

describe('parallel gzip blocks', () => {
  it('writes one gzip member that gunzips to the text, across many blocks and chunk sizes', async () => {
    const t = text(60_000); // ~6 MB: several 1 MiB blocks
    const chunks: Buffer[] = [];
    for (let off = 0, n = 1; off < t.length; off += n, n = (n * 7 + 13) % 700_000) chunks.push(Buffer.from(t.subarray(off, off + n)));
    for (const level of [1, 6]) {
      const out = await gz(chunks, level);
      expect(out.subarray(0, 3)).toEqual(Buffer.from([0x1f, 0x8b, 8]));
      expect(gunzipSync(out).equals(t)).toBe(true);
    }
  });

  it('is deterministic and writes a valid empty file', async () => {
    const t = text(20_000);
    expect((await gz([t], 1)).equals(await gz([t], 1))).toBe(true);
    expect(gunzipSync(await gz([], 1)).length).toBe(0);
  });

  it('keeps the compression ratio of one stream within 5% (blocks are compressed apart)', async () => {
    const t = text(60_000);
    const ours = (await gz([t], 6)).length;
    const { gzipSync } = await import('node:zlib');
    expect(ours).toBeLessThan(gzipSync(t, { level: 6 }).length * 1.05);
  });
});
