import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { compileInsights, QueryError } from '../query/index.ts';
import { UserError } from '../util/errors.ts';
import { srcPath } from '../util/runtime.ts';
import { RESERVED_MEASURES, selection, statsQuery } from './rule-query.ts';
import { RuleFile, type Rule } from './rule-schema.ts';

/** The built-in rules, written as users write theirs. */
export const BUILTIN_RULES_DIR = srcPath('detect/rules/');

/** A rule file problem, located: `file:line:column: message` (one line, exit code 2). */
export class RuleError extends UserError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}:${line}:${column}: ${detail}`, options);
    this.name = 'RuleError';
  }
}

interface Located {
  text: string;
  file: string;
  doc: Document;
  lc: LineCounter;
}

function at(src: Located, offset: number, detail: string, cause?: unknown): RuleError {
  const { line, col } = src.lc.linePos(Math.max(0, Math.min(offset, src.text.length)));
  return new RuleError(src.file, line, col, detail, { cause });
}

/** The node at a zod issue's path (the deepest one that exists). */
function nodeAt(doc: Document, path: readonly PropertyKey[]): YamlNode | undefined {
  let node: unknown = doc.contents;
  let last: YamlNode | undefined = node as YamlNode;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === key);
      if (!pair) return last;
      node = pair.value ?? pair.key;
    } else if (isSeq(node) && typeof key === 'number') {
      node = node.items[key];
    } else {
      return last;
    }
    if (node) last = node as YamlNode;
  }
  return last;
}

/**
 * File offset of a character of a scalar's value: exact for plain, quoted and literal-block
 * scalars; a text search for folded ones.
 */
function valueOffset(src: Located, node: YamlNode, offsetInValue: number): number {
  const start = node.range?.[0] ?? 0;
  if (!isScalar(node) || typeof node.value !== 'string') return start;
  const value = node.value;
  const before = value.slice(0, offsetInValue);
  const lineNo = before.split('\n').length - 1;
  const col = offsetInValue - (before.lastIndexOf('\n') + 1);
  if (node.type === 'PLAIN' || node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE') {
    return start + (node.type === 'PLAIN' ? 0 : 1) + offsetInValue;
  }
  const raw = src.text.slice(start, node.range?.[1] ?? start);
  const rawLines = raw.split('\n');
  if (node.type === 'BLOCK_LITERAL') {
    const content = rawLines.slice(1);
    const indent = Math.min(...content.filter((l) => l.trim()).map((l) => l.length - l.trimStart().length));
    let off = start + rawLines[0].length + 1;
    for (let i = 0; i < lineNo && i < content.length; i++) off += content[i].length + 1;
    return off + (Number.isFinite(indent) ? indent : 0) + col;
  }
  const line = value.split('\n')[lineNo] ?? '';
  const found = raw.indexOf(line.trim().slice(0, 40));
  return found >= 0 ? start + found + Math.max(0, col - (line.length - line.trimStart().length)) : start;
}

/** Compiles `prefix + part + suffix`; a query error inside `part` is reported at its place in the file. */
function check(src: Located, path: PropertyKey[], part: string, prefix = '', suffix = ''): void {
  try {
    compileInsights(prefix + part + suffix, { dialect: 'duckdb' });
  } catch (err) {
    if (!(err instanceof QueryError)) throw err;
    const node = nodeAt(src.doc, path);
    const inPart = err.span.start >= prefix.length && err.span.start <= prefix.length + part.length;
    const off = node ? (inPart ? valueOffset(src, node, err.span.start - prefix.length) : (node.range?.[0] ?? 0)) : 0;
    throw at(src, off, `${path.join('.')}: ${err.detail}`, err);
  }
}

function validateRule(src: Located, rule: Rule, base: PropertyKey[]): void {
  const p = (...k: PropertyKey[]) => [...base, ...k];
  check(src, p('query'), rule.query);
  if (/\|\s*stats\b/i.test(rule.query) || /^\s*stats\b/i.test(rule.query)) {
    const node = nodeAt(src.doc, p('query'));
    throw at(src, node?.range?.[0] ?? 0, 'query: selects records only (filter, fields, parse); the rule adds the stats from actor, target, measures and window');
  }
  check(src, p('actor'), rule.actor, 'stats count(*) by ', ' as actor');
  if (rule.target) check(src, p('target'), rule.target, 'stats count(*) by ', ' as target');
  for (const [name, expr] of Object.entries(rule.measures)) {
    if (RESERVED_MEASURES.includes(name)) {
      const node = nodeAt(src.doc, p('measures', name));
      throw at(src, node?.range?.[0] ?? 0, `measures.${name}: the name is reserved (${RESERVED_MEASURES.join(', ')} are added by the engine)`);
    }
    check(src, p('measures', name), expr, 'stats ', ` as ${name}`);
  }
  const stats = statsQuery(rule, false).split('\n| limit')[0];
  check(src, p('threshold'), rule.threshold, `${stats}\n| filter `);
  if (rule.baseline?.kind === 'seasonal') {
    const m = rule.baseline.measure;
    if (!m || !(m in rule.measures || m === 'records')) {
      const node = nodeAt(src.doc, p('baseline', 'measure')) ?? nodeAt(src.doc, p('baseline'));
      throw at(src, node?.range?.[0] ?? 0, `baseline.measure: expected one of the measures (${['records', ...Object.keys(rule.measures)].join(', ')})`);
    }
  }
  if (rule.groupBy?.includes('target') && !rule.target) {
    const node = nodeAt(src.doc, p('groupBy'));
    throw at(src, node?.range?.[0] ?? 0, 'groupBy: target needs a `target` expression');
  }
  // The whole pipeline, in case parts are fine alone but not together.
  check(src, p('query'), statsQuery(rule, true));
  void selection;
}

/**
 * Parses and validates one rule file (a rule, or `rules: [...]`); errors name the file, line
 * and column.
 * @example parseRuleFile('id: x\n...', 'rules/x.yaml')
 */
export function parseRuleFile(text: string, file: string): Rule[] {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  const src: Located = { text, file, doc, lc };
  if (doc.errors.length) {
    const e = doc.errors[0];
    throw at(src, e.pos[0], `YAML: ${e.message.split('\n')[0]}`, e);
  }
  const parsed = RuleFile.safeParse(doc.toJS());
  if (!parsed.success) {
    // Report the issue of the branch the file meant (a list under `rules:` or one rule).
    const isList = isMap(doc.contents) && doc.contents.has('rules');
    const issues = parsed.error.issues.flatMap((i) => (i.code === 'invalid_union' ? i.errors.flat() : [i]));
    const issue = issues.find((i) => (isList ? i.path[0] === 'rules' : i.path[0] !== 'rules')) ?? parsed.error.issues[0];
    const node = nodeAt(doc, issue.path);
    const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
    const msg = issue.code === 'unrecognized_keys' ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}` : issue.message;
    let off = node?.range?.[0] ?? 0;
    if (issue.code === 'unrecognized_keys' && isMap(node)) {
      const pair = node.items.find((x) => isScalar(x.key) && issue.keys.includes(String(x.key.value)));
      off = (pair?.key as YamlNode | undefined)?.range?.[0] ?? off;
    }
    throw at(src, off, `${where}${msg}`);
  }
  const rules = 'rules' in parsed.data ? parsed.data.rules : [parsed.data];
  const out = rules.map((r, i) => {
    const rule: Rule = { ...r, source: file };
    validateRule(src, rule, 'rules' in parsed.data ? ['rules', i] : []);
    return rule;
  });
  return out;
}

async function ruleFiles(dir: string): Promise<string[]> {
  const st = await stat(dir).catch(() => undefined);
  if (!st) throw new UserError(`--rules ${dir}: no such file or folder`);
  if (st.isFile()) return [dir];
  const out: string[] = [];
  for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await ruleFiles(p)));
    else if (/\.ya?ml$/i.test(e.name)) out.push(p);
  }
  return out;
}

/**
 * Loads every rule of a folder (recursively, *.yaml / *.yml) or one file; ids must be unique.
 * @example const rules = await loadRules('./my-rules')
 */
export async function loadRules(dir: string): Promise<Rule[]> {
  const files = await ruleFiles(dir);
  const out: Rule[] = [];
  const seen = new Map<string, Rule>();
  for (const f of files) {
    const text = await readFile(f, 'utf8');
    const shown = relative(process.cwd(), f).startsWith('..') ? f : relative(process.cwd(), f) || basename(f);
    for (const r of parseRuleFile(text, shown)) {
      const prev = seen.get(r.id);
      if (prev) {
        const line = text.split('\n').findIndex((l) => new RegExp(`^\\s*-?\\s*id:\\s*["']?${r.id}["']?\\s*$`).test(l));
        throw new RuleError(shown, line + 1, 1, `rule id "${r.id}" is also defined in ${prev.source}`);
      }
      seen.set(r.id, r);
      out.push(r);
    }
  }
  return out;
}

/**
 * The built-in rules, plus the user's (a user rule with a built-in's id replaces it).
 * @example await rulesFor('./my-rules')
 */
export async function rulesFor(userDir?: string, opts: { builtins?: boolean } = {}): Promise<Rule[]> {
  const builtins = opts.builtins === false || !existsSync(BUILTIN_RULES_DIR) ? [] : await loadRules(BUILTIN_RULES_DIR);
  if (!userDir) return builtins;
  const user = await loadRules(userDir);
  const ids = new Set(user.map((r) => r.id));
  return [...builtins.filter((r) => !ids.has(r.id)), ...user];
}
