import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { emulate } from './emulate.ts';

describe('scenario labels', () => {
  it("nacl-blocks-return names every interface of the subnet, the web tier's too", async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'flowlens-labels-')), 'logs');
    const { labels } = await emulate({ scenarios: ['nacl-blocks-return'], duration: 1200, seed: 1, out });
    const l = labels.find((x) => x.kind === 'nacl-blocks-return')!;
    // Default topology: web-1, web-2, app-1 and app-2 share subnet 10.0.10.0/24; all lose replies.
    expect([...l.actors].sort()).toEqual(['10.0.10.11', '10.0.10.12', '10.0.10.21', '10.0.10.22']);
    expect(l.enis).toHaveLength(4);
  }, 60_000);
});
