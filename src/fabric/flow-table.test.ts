import { describe, expect, it } from 'vitest';
import { CLASS_STRIDE, FlowTable, HopClasses } from './flow-table.ts';

const intern = (k: HopClasses, i: number) => k.intern(i % 3, 167772160 + i, 167772161 + (i % 5), 167772160 + i, 167772161 + (i % 5), i % 2 ? 6 : 17, i % 4 === 0 ? 1 : 0, i % 2, i % 3, 0, 0, 0, false);

/** What a renderer reads of the classes. */
const view = (k: HopClasses) => ({ epoch: k.epoch, data: [...k.data.subarray(0, k.size * CLASS_STRIDE)], templates: k.templates, eni: [...k.tEni.subarray(0, k.templates)], action: [...k.tAction.subarray(0, k.templates)], path: [...k.tPath.subarray(0, k.templates)] });

describe('hop classes', () => {
  it('intern the same hop to the same class; a different direction is another class of the same key', () => {
    const k = new HopClasses();
    const a = k.intern(0, 1, 2, 1, 2, 6, 0, 1, 2, 0, 0, 0, false);
    expect(k.intern(0, 1, 2, 1, 2, 6, 0, 1, 2, 0, 0, 0, false)).toBe(a);
    const b = k.intern(0, 1, 2, 1, 2, 6, 0, 0, 0, 0, 0, 0, false);
    expect(b).not.toBe(a);
    expect(k.key(b)).toBe(k.key(a));
    expect(k.key(k.intern(0, 1, 2, 1, 2, 6, 1, 1, 2, 0, 0, 0, false))).not.toBe(k.key(a));
  });

  it('a render thread copy follows by deltas, and starts over after the classes were cleared', () => {
    const main = new HopClasses();
    const copy = new HopClasses();
    let sent = { epoch: -1, classes: 0, templates: 0 };
    const sync = () => {
      copy.apply(main.since(sent.epoch, sent.classes, sent.templates));
      sent = { epoch: main.epoch, classes: main.size, templates: main.templates };
    };
    for (let i = 0; i < 3000; i++) intern(main, i);
    sync();
    expect(view(copy)).toEqual(view(main));
    for (let i = 3000; i < 5000; i++) intern(main, i);
    sync();
    expect(view(copy)).toEqual(view(main));
    main.clear();
    for (let i = 7000; i < 7100; i++) intern(main, i);
    sync();
    expect(view(copy)).toEqual(view(main));
  });
});

describe('flow table', () => {
  it('merges adds of one key and ports, queued or not, in the order rows were made', () => {
    const k = new HopClasses();
    const t = new FlowTable(k, 4);
    const hc = intern(k, 1);
    const other = intern(k, 2);
    for (let i = 0; i < 1000; i++) t.queue(hc, k.key(hc), 0, 40000 + (i % 300), 443, 2, 100, 1000 + i, 1001 + i, i % 7 === 0 ? 2 : 16);
    t.add(other, k.key(other), 1, 1, 2, 1, 1, 5, 5, 0);
    t.drain();
    expect(t.size).toBe(301);
    // Row 0 is port 40000: adds 0, 300, 600, 900 (packets, bytes, first, last, flags OR-ed).
    expect([...t.acc.subarray(0, 5)]).toEqual([8, 400, 1000, 1901, 18]);
    // add() applied the queued adds first: its row comes after theirs.
    expect(t.hc[300]).toBe(other);
  });
});
