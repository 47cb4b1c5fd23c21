import type { Span } from './ast.ts';
import { QueryError } from './errors.ts';

/** A regular expression rewritten for RE2 (DuckDB and ClickHouse both use it). */
export interface Re2Pattern {
  readonly pattern: string;
  /** Capturing groups in order; `name` is set for named groups. */
  readonly groups: readonly { readonly index: number; readonly name?: string }[];
}

// RE2 knows these escapes; anything else (\Z, \G, \K, \R, back-references) it rejects at run time.
const RE2_ESCAPE_LETTERS = new Set('dDsSwWbBAzntrfvaxpPQECu'.split(''));
const RE2_FLAGS = /^[imsU-]*$/;

/**
 * Checks a Logs Insights regex (Java/PCRE flavour) and rewrites it for RE2: named groups
 * `(?<n>...)` become plain groups (RE2 in DuckDB only knows `(?P<n>...)`) and constructs RE2
 * cannot run (look-around, back-references, possessive quantifiers) are refused here, with
 * the position, instead of failing later inside the database.
 * @example toRe2('(?<eni>eni-\\w+)', src, span).groups // [{index: 1, name: 'eni'}]
 */
export function toRe2(regex: string, source: string, span: Span): Re2Pattern {
  const fail = (msg: string): never => {
    throw new QueryError(msg, source, span);
  };
  if (regex.includes('\0')) fail('a regular expression cannot contain a NUL character');
  let out = '';
  const groups: { index: number; name?: string }[] = [];
  let inClass = false;
  let depth = 0;
  for (let i = 0; i < regex.length; i++) {
    const c = regex[i];
    if (c === '\\') {
      const e = regex[i + 1];
      if (e === undefined) fail('regular expression ends with a lone `\\`');
      if (/[1-9]/.test(e) || e === 'k') fail('back-references (`\\1`, `\\k<name>`) are not supported; RE2 cannot run them');
      if (/[A-Za-z]/.test(e) && !RE2_ESCAPE_LETTERS.has(e)) fail(`unsupported escape \`\\${e}\` in regular expression`);
      out += c + e;
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      out += c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      // A `]` right after `[` or `[^` is a literal member, not the end of the class.
      if (regex[i + 1] === '^') out += regex[++i];
      if (regex[i + 1] === ']') out += regex[++i];
      continue;
    }
    if (c === '(') {
      depth++;
      if (regex[i + 1] !== '?') {
        groups.push({ index: groups.length + 1 });
        out += c;
        continue;
      }
      const rest = regex.slice(i + 2);
      const named = /^P?<([A-Za-z_][A-Za-z0-9_@.]*)>/.exec(rest);
      if (named) {
        groups.push({ index: groups.length + 1, name: named[1] });
        out += '(';
        i += 1 + named[0].length;
        continue;
      }
      if (/^(?:[=!]|<[=!])/.test(rest)) fail('look-ahead and look-behind groups are not supported; RE2 cannot run them');
      if (rest.startsWith('>')) fail('atomic groups `(?>...)` are not supported; RE2 cannot run them');
      const flags = /^([^:)]*)([:)])/.exec(rest);
      if (!flags || !RE2_FLAGS.test(flags[1])) fail('unsupported group syntax `(?`; expected `(?:`, `(?i)` or a named group `(?<name>...)`');
      out += c;
      continue;
    }
    if (c === ')') depth--;
    if ((c === '+' || c === '*' || c === '?' || c === '}') && regex[i + 1] === '+') {
      fail('possessive quantifiers (`*+`, `++`) are not supported; RE2 cannot run them');
    }
    if (c === '{') {
      const rep = /^\{(\d+)(?:,(\d*))?\}/.exec(regex.slice(i));
      if (rep && (Number(rep[1]) > 1000 || Number(rep[2] || 0) > 1000)) fail('repetition counts above 1000 are not supported');
    }
    out += c;
  }
  if (inClass) fail('unterminated character class `[` in regular expression');
  if (depth !== 0) fail('unbalanced parentheses in regular expression');
  return { pattern: out, groups };
}

/**
 * Turns a `parse` glob (`"user=*, method:*"`) into a regex with one group per `*`. Groups are
 * lazy so each `*` stops at the text that follows it; a trailing `*` takes the rest.
 * @example globToRe2('a=* b=*') // {pattern: '(?s)a=(.*?) b=(.*)', groups: [...]}
 */
export function globToRe2(glob: string): Re2Pattern {
  const parts = glob.split('*');
  let out = '(?s)';
  const groups: { index: number }[] = [];
  parts.forEach((lit, i) => {
    out += lit.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&');
    if (i < parts.length - 1) {
      groups.push({ index: i + 1 });
      out += i === parts.length - 2 && parts[parts.length - 1] === '' ? '(.*)' : '(.*?)';
    }
  });
  return { pattern: out, groups };
}
