import { fieldByName } from '../schema/columns.ts';
import type { ColumnBatch } from './batch.ts';

/**
 * A line parser generated for one format (one list of fields): straight-line code with the
 * field kinds, column arrays and limits baked in, instead of a loop over fields with a switch
 * on each field's kind and an indirection to its column. It takes only the well-formed lines
 * (single values, strict IPv4, numbers below 2^53, blanks between fields): anything else makes
 * it return false, and the generic parser (LineParser's own) parses the line again from the
 * start, producing exactly what it always did, errors included. Every field it writes before
 * giving up, the generic parser writes again with the same value.
 *
 * Returns undefined for formats it does not handle (unknown fields kept as `extra`).
 * @example const make = compileFastLine(DEFAULT_FIELDS, maxes); const parse = make(batch); parse(buf, 0, n, 1)
 */
export function compileFastLine(fields: readonly string[], maxes: Float64Array): ((batch: ColumnBatch) => FastLine) | undefined {
  // One function per format for the life of the thread: a new Function per file is new code to
  // V8, which runs it unoptimised and spends 100-200 ms of TurboFan on it again. Measured on 400
  // gzip files of 5,000 records: 13.4-15.0 s before, 10.1-10.8 s after, 30% less CPU.
  const key = `${fields.join(' ')}|${maxes.join(' ')}`;
  if (COMPILED.has(key)) return COMPILED.get(key);
  // A server fed many custom formats must not keep every one's code forever.
  if (COMPILED.size >= 256) COMPILED.clear();
  const made = generate(fields, maxes);
  COMPILED.set(key, made);
  return made;
}

const COMPILED = new Map<string, ((batch: ColumnBatch) => FastLine) | undefined>();

function generate(fields: readonly string[], maxes: Float64Array): ((batch: ColumnBatch) => FastLine) | undefined {
  const defs = fields.map((f) => fieldByName(f));
  if (defs.some((d) => !d) || new Set(defs).size !== defs.length) return undefined;
  const lines: string[] = [];
  const emit = (s: string) => lines.push(s);
  // Bindings: one const per column array, taken from the batch once per batch.
  const binds: string[] = [];
  const startAt = fields.indexOf('start');
  const endAt = fields.indexOf('end');
  emit('if (end > start && buf[end - 1] === 13) end--;');
  emit('let i = start;');
  emit('if (i >= end) return false;');
  emit('let c = buf[i];');
  // A first token in a-z may be a header line, and leading blanks are rare: the generic parser
  // decides. Every comparison here runs on every line: one that only a header reaches (as
  // `c <= 122` after `c >= 97`) has no type feedback when V8 optimises, and the next file's
  // header line threw the optimised parser away.
  emit('if ((c - 97) >>> 0 < 26 || c === 32 || c === 9) return false;');
  emit('const row = batch.length;');
  emit('const rb = row >> 3, rm = ~(1 << (row & 7));');
  emit('let s = 0, v = 0, h = 0, o = 0, nd = 0, dots = 0;');
  emit(`let tStart = -1, tEnd = -1;`);
  const dash = '(c === 45 && (i + 1 === end || buf[i + 1] === 32 || buf[i + 1] === 9))';
  const next = 'c = ++i < end ? buf[i] : 32;';
  defs.forEach((def, k) => {
    const col = `c${k}`;
    binds.push(`const ${col} = cols[${k}];`);
    const nullOut = `${col}.valid[rb] &= rm; ${col}.hasNull = true;`;
    emit(`// ${def!.field} (${def!.kind})`);
    emit('s = i;');
    switch (def!.kind) {
      case 'int':
      case 'bigint': {
        const bigint = def!.kind === 'bigint';
        binds.push(bigint ? `const w${k} = ${col}.i64w;` : `const a${k} = ${col}.i32;`);
        emit(`if ${dash} { i++; ${nullOut} }`);
        emit('else {');
        emit('  v = 0;');
        emit(`  while (c >= 48 && c <= 57) { v = v * 10 + (c - 48); ${next} }`);
        // Up to 15 digits stays below 2^53 (exact as a double); longer goes the generic way.
        emit(bigint ? `  if (i === s || i - s > 15 || (c !== 32 && c !== 9)) return false;` : `  if (i === s || (c !== 32 && c !== 9) || v > ${maxes[k]}) return false;`);
        if (bigint) {
          emit(`  o = v >>> 0; w${k}[2 * row] = o; w${k}[2 * row + 1] = (v - o) / 4294967296;`);
          if (k === startAt) emit('  tStart = v;');
          if (k === endAt) emit('  tEnd = v;');
        } else emit(`  a${k}[row] = v;`);
        emit('}');
        break;
      }
      case 'addr': {
        binds.push(`const a${k} = ${col}.i32;`, `const u${k} = ${col}.u32;`, `const d${k} = ${col}.dict;`);
        emit(`if ${dash} { i++; a${k}[row] = 0; ${nullOut} }`);
        emit('else {');
        emit('  v = 0; o = 0; nd = 0; dots = 0;');
        emit('  while (c !== 32 && c !== 9) {');
        emit('    if (c >= 48 && c <= 57) { if ((nd > 0 && o === 0) || ++nd > 3) return false; o = o * 10 + (c - 48); }');
        emit('    else if (c === 46 && nd > 0 && o <= 255 && dots < 3) { v = v * 256 + o; o = 0; nd = 0; dots++; }');
        emit('    else return false;');
        emit(`    ${next}`);
        emit('  }');
        emit('  if (dots !== 3 || nd === 0 || o > 255) return false;');
        emit('  v = v * 256 + o;');
        emit(`  a${k}[row] = d${k}.codeV4(v, buf, s, i); u${k}[row] = v;`);
        emit('}');
        break;
      }
      case 'action':
      case 'status': {
        binds.push(`const a${k} = ${col}.u8;`);
        const words = def!.kind === 'action' ? ['ACCEPT', 'REJECT'] : ['OK', 'NODATA', 'SKIPDATA'];
        emit(`if ${dash} { i++; ${nullOut} }`);
        emit('else {');
        emit('  while (c !== 32 && c !== 9) { c = ++i < end ? buf[i] : 32; }');
        emit('  v = i - s;');
        const tests = words.map((w, n) => {
          const bytes = [...w].map((ch, p) => `buf[s + ${p}] === ${ch.charCodeAt(0)}`).join(' && ');
          return `${n ? 'else ' : ''}if (v === ${w.length} && ${bytes}) a${k}[row] = ${n};`;
        });
        for (const t of tests) emit('  ' + t);
        emit('  else return false;');
        emit('}');
        break;
      }
      case 'string': {
        binds.push(`const a${k} = ${col}.i32;`, `const d${k} = ${col}.dict;`);
        emit(`if ${dash} { i++; a${k}[row] = 0; }`);
        emit('else {');
        emit('  h = 0x811c9dc5;');
        emit(`  while (c !== 32 && c !== 9) { h = Math.imul(h ^ c, 0x01000193); ${next} }`);
        emit(`  a${k}[row] = d${k}.codeHashed(buf, s, i, h);`);
        emit('}');
        break;
      }
    }
    // Blanks after the field; the next field must follow (the last one: nothing may).
    emit('while (i < end && ((c = buf[i]) === 32 || c === 9)) i++;');
    if (k < defs.length - 1) emit('if (i >= end) return false; c = buf[i];');
    else emit('if (i !== end) return false;');
  });
  // The partition day: the window start, else its end, else today (as the generic parser).
  emit(
    startAt >= 0 || endAt >= 0
      ? 'batch.day[row] = Math.floor((tStart >= 0 ? tStart : tEnd >= 0 ? tEnd : Date.now() / 1000) / 86400);'
      : 'batch.day[row] = Math.floor(Date.now() / 86400000);',
  );
  emit('batch.lineNo[row] = lineNo;');
  emit('batch.length = row + 1;');
  emit('return true;');
  // One function per format, the batch an argument: a closure per batch would make V8 start
  // over with each batch's own (unoptimised) copy.
  const body = `const cols = batch.columns;\n${binds.join('\n')}\n${lines.join('\n')}`;
  const parse = new Function('buf', 'start', 'end', 'lineNo', 'batch', body) as (buf: Uint8Array, start: number, end: number, lineNo: number, batch: ColumnBatch) => boolean;
  return (batch) => (buf, start, end, lineNo) => parse(buf, start, end, lineNo, batch);
}

/** Parses buf[start, end) into the next row of its batch; false: not taken, use the generic parser. */
export type FastLine = (buf: Uint8Array, start: number, end: number, lineNo: number) => boolean;
