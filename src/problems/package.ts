// Reading an unpacked ICPC / Kattis problem package: which format it is, its limits, its
// validation, its test cases in judging order and its groups. Legacy packages (no
// problem_format_version), 2023-07 and 2025-09 are read; keys of the other versions are
// accepted where the meaning is the same, since real packages mix them.
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { badEntry, ProblemError } from './errors.js';
import type { DefaultValidatorFlags, PackageFormat, PackageProgram, ProblemMeta, ProblemSubmission, ProblemTest, TestGroupInfo } from './types.js';
import { Fields, readIni, readYaml, type YamlMap } from './yaml.js';

export interface PackageCaps {
  timeMs: number;
  memoryBytes: number;
  outputBytes: number;
}

export interface ReadOptions {
  caps: PackageCaps;
  /** The client's time limit, for packages that carry none (?timeLimitMs=). */
  timeLimitMs?: number;
}

export interface ReadPackage {
  /** Package path of the directory holding problem.yaml ("" or a single top directory). */
  root: string;
  /** timeLimitMs is NaN when it must be derived from the accepted submissions. */
  meta: ProblemMeta;
  /** How to derive it (problemtools: slowest accepted run × multiplier, rounded up to the resolution). */
  derive: { multiplier: number; resolutionMs: number };
}

const MIB = 1 << 20;
const DEFAULT_MEMORY_MIB = 2048;
const DEFAULT_OUTPUT_MIB = 8;
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const MAX_DEPTH = 16;

/** Kattis language names → gavel language ids, for include/<language>/. */
const INCLUDE_LANGUAGES: Record<string, string> = {
  c: 'c', cpp: 'cpp', 'c++': 'cpp', java: 'java', python3: 'python3', python: 'python3', kotlin: 'kotlin',
  go: 'go', rust: 'rust', javascript: 'javascript', nodejs: 'javascript',
};

/** Expected final verdicts per submissions/ category (DOMjudge's names and the spec's). */
const CATEGORY_VERDICTS: Record<string, string[]> = {
  accepted: ['AC'],
  wrong_answer: ['WA'],
  time_limit_exceeded: ['TLE', 'WA'],
  run_time_error: ['RE', 'MLE'],
  memory_limit_exceeded: ['MLE', 'RE'],
  output_limit_exceeded: ['OLE'],
  compile_error: ['CE'],
  runtime_error: ['RE', 'MLE'],
};

const DOMJUDGE_RESULTS: Record<string, string> = {
  CORRECT: 'AC', 'WRONG-ANSWER': 'WA', TIMELIMIT: 'TLE', 'RUN-ERROR': 'RE', 'COMPILER-ERROR': 'CE',
  'NO-OUTPUT': 'WA', 'OUTPUT-LIMIT': 'OLE', 'MEMORY-LIMIT': 'MLE',
};

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** Where problem.yaml is: the root, or the only top-level directory (many zips wrap the package). */
function findRoot(dir: string): string {
  if (existsSync(join(dir, 'problem.yaml'))) return '';
  const top = readdirSync(dir).filter((e) => !e.startsWith('.') && e !== '__MACOSX');
  if (top.length === 1 && isDir(join(dir, top[0])) && existsSync(join(dir, top[0], 'problem.yaml'))) return top[0];
  throw new ProblemError(400, 'no_problem_yaml', 'problem.yaml: the package has no problem.yaml at its root (nor in a single top-level directory)', 'problem.yaml');
}

function formatOf(f: Fields): PackageFormat {
  const v = f.string('problem_format_version');
  if (v === undefined || v === 'legacy' || v === 'legacy-icpc') return 'legacy';
  if (v === '2023-07' || v === '2023-07-draft') return '2023-07';
  if (v === '2025-09' || v === '2025-09-draft' || v === 'draft') return '2025-09';
  throw badEntry('bad_config', 'problem.yaml', `problem_format_version ${JSON.stringify(v)} is not one this server reads (legacy, 2023-07, 2025-09)`);
}

function problemName(f: Fields, ini: Record<string, string> | undefined): string {
  const raw = f.raw('name');
  if (typeof raw === 'string' && raw.trim()) return raw.trim();
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
    const m = raw as Record<string, unknown>;
    const v = m.en ?? Object.values(m)[0];
    if (typeof v === 'string') return v.trim();
  }
  return ini?.name ?? '';
}

function seconds(text: string, entry: string): number {
  const n = Number(text.trim());
  if (!Number.isFinite(n) || n <= 0) throw badEntry('bad_config', entry, `the time limit must be a positive number of seconds, got ${JSON.stringify(text.trim().slice(0, 40))}`);
  return Math.round(n * 1000);
}

function timeLimit(dir: string, f: Fields, ini: Record<string, string> | undefined, opts: ReadOptions): { ms: number; from: ProblemMeta['timeLimitFrom'] } {
  const limits = f.sub('limits');
  const inYaml = limits.number('time_limit');
  if (inYaml !== undefined) return { ms: seconds(String(inYaml), 'problem.yaml'), from: 'problem.yaml' };
  if (isFile(join(dir, '.timelimit'))) return { ms: seconds(readFileSync(join(dir, '.timelimit'), 'utf8'), '.timelimit'), from: '.timelimit' };
  if (ini?.timelimit !== undefined) return { ms: seconds(ini.timelimit, 'domjudge-problem.ini'), from: 'domjudge-problem.ini' };
  if (opts.timeLimitMs !== undefined) return { ms: opts.timeLimitMs, from: 'request' };
  return { ms: NaN, from: 'accepted submissions' };
}

function mib(f: Fields, key: string, dflt: number, cap: number): number {
  const v = f.number(key, 1);
  return Math.min(cap, Math.round((v ?? dflt) * MIB));
}

/** The problem's type and validation, across the legacy and the new spellings. */
function validationOf(f: Fields, format: PackageFormat): { type: 'pass-fail' | 'scoring'; validation: ProblemMeta['validation']; interactive: boolean } {
  const typeWords = f.words('type') ?? [];
  const validation = f.words('validation') ?? [];
  const bad = [...typeWords, ...validation].find((w) => !['pass-fail', 'scoring', 'interactive', 'multi-pass', 'submit-answer', 'default', 'custom', 'score'].includes(w));
  if (bad) throw badEntry('bad_config', 'problem.yaml', `unknown type or validation "${bad}"`);
  if (typeWords.includes('multi-pass') || validation.includes('multi-pass')) throw new ProblemError(422, 'unsupported', 'problem.yaml: multi-pass problems are not supported by this server', 'problem.yaml');
  if (typeWords.includes('submit-answer')) throw new ProblemError(422, 'unsupported', 'problem.yaml: submit-answer problems are not supported by this server', 'problem.yaml');
  const interactive = typeWords.includes('interactive') || validation.includes('interactive');
  const custom = interactive || validation.includes('custom') || (format === '2025-09' && interactive);
  const scoring = typeWords.includes('scoring') || validation.includes('score');
  return { type: scoring ? 'scoring' : 'pass-fail', validation: interactive ? 'custom interactive' : custom ? 'custom' : 'default', interactive };
}

function programsIn(dir: string, rel: string, single: boolean): PackageProgram[] {
  if (!isDir(dir)) return [];
  if (single) return [{ path: rel, kind: 'dir' }];
  return readdirSync(dir).filter((e) => !e.startsWith('.')).sort().map((e) => ({ path: `${rel}/${e}`, kind: isDir(join(dir, e)) ? 'dir' as const : 'file' as const }));
}

function includesOf(dir: string, root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const inc = join(dir, 'include');
  if (!isDir(inc)) return out;
  for (const e of readdirSync(inc)) {
    const lang = INCLUDE_LANGUAGES[e.toLowerCase()];
    if (lang && isDir(join(inc, e))) out[lang] = posix.join(root, 'include', e);
  }
  return out;
}

function groupConfig(dir: string, entryDir: string): YamlMap | undefined {
  return readYaml(join(dir, 'test_group.yaml'), posix.join(entryDir, 'test_group.yaml'))
    ?? readYaml(join(dir, 'testdata.yaml'), posix.join(entryDir, 'testdata.yaml'));
}

interface GroupState {
  args: string[];
  aggregation: TestGroupInfo['aggregation'];
  acceptScore: number;
  stopOnReject: boolean;
}

function applyGroup(parent: GroupState, cfg: YamlMap | undefined, entry: string, type: 'pass-fail' | 'scoring', baseArgs: string[]): { state: GroupState; maxScore?: number } {
  if (!cfg) return { state: parent };
  const f = new Fields(cfg, entry);
  const args = f.words('output_validator_args') ?? f.words('output_validator_flags');
  const grader = f.words('grader_flags') ?? [];
  let aggregation = parent.aggregation;
  const agg = f.string('score_aggregation') ?? f.string('aggregation');
  if (agg !== undefined) {
    if (agg !== 'sum' && agg !== 'min' && agg !== 'pass-fail') throw badEntry('bad_config', entry, `score_aggregation must be sum, min or pass-fail, got "${agg}"`);
    aggregation = agg;
  }
  if (grader.includes('min')) aggregation = 'min';
  if (grader.includes('sum')) aggregation = 'sum';
  const onReject = f.string('on_reject');
  if (onReject !== undefined && onReject !== 'break' && onReject !== 'continue') throw badEntry('bad_config', entry, `on_reject must be break or continue, got "${onReject}"`);
  const maxScore = type === 'scoring' ? f.number('max_score') : undefined;
  // A group given a max_score and no aggregation is a subtask: all of it or nothing, as
  // the existing group scoring and IOI-style packages have it.
  if (maxScore !== undefined && agg === undefined && !grader.length) aggregation = 'min';
  return {
    state: {
      args: args ? [...baseArgs, ...args] : parent.args,
      aggregation,
      acceptScore: f.number('accept_score') ?? parent.acceptScore,
      stopOnReject: onReject === undefined ? parent.stopOnReject : onReject === 'break',
    },
    maxScore,
  };
}

/** Cases and subgroups of one data directory, recursively, in lexicographic order. */
function walkGroup(
  abs: string, dataRel: string, pkgRel: string, state: GroupState, depth: number, seen: Set<string>,
  out: { tests: ProblemTest[]; groups: TestGroupInfo[] }, ctx: { type: 'pass-fail' | 'scoring'; baseArgs: string[]; pkgDir: string },
  maxScore: number | undefined,
): void {
  const real = realpathSync.native(abs);
  if (seen.has(real) || depth > MAX_DEPTH) throw badEntry('bad_data', pkgRel, 'test data directories nest too deep or loop');
  seen.add(real);
  out.groups.push({ name: dataRel, validatorArgs: state.args, ...(maxScore !== undefined ? { maxScore } : {}), aggregation: state.aggregation, acceptScore: state.acceptScore, stopOnReject: state.stopOnReject });
  const entries = readdirSync(abs).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const names = new Set(entries);
  for (const e of entries) {
    const p = join(abs, e);
    const rel = `${pkgRel}/${e}`;
    if (isDir(p)) {
      if (!NAME.test(e)) throw badEntry('bad_name', rel, 'test group names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*');
      const child = applyGroup(state, groupConfig(p, rel), `${rel}/test_group.yaml`, ctx.type, ctx.baseArgs);
      walkGroup(p, `${dataRel}/${e}`, rel, child.state, depth + 1, seen, out, ctx, child.maxScore);
      continue;
    }
    if (!e.endsWith('.in')) continue;
    const stem = e.slice(0, -3);
    if (!NAME.test(stem)) throw badEntry('bad_name', rel, 'test case names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*');
    if (!names.has(`${stem}.ans`) || !isFile(join(abs, `${stem}.ans`))) throw badEntry('missing_answer', rel, `test case has no ${stem}.ans beside it`);
    if (!isFile(p)) throw badEntry('bad_data', rel, 'is not a regular file');
    out.tests.push({
      name: `${dataRel}/${stem}`, group: dataRel,
      input: canonical(ctx.pkgDir, p), answer: canonical(ctx.pkgDir, join(abs, `${stem}.ans`)),
      inputBytes: statSync(p).size, answerBytes: statSync(join(abs, `${stem}.ans`)).size,
    });
  }
}

/** The package path a file really is (through in-package symlinks), so its hash can be found. */
function canonical(extractDir: string, p: string): string {
  const root = realpathSync.native(extractDir);
  return realpathSync.native(p).slice(root.length + 1);
}

function expectedResults(file: string): string[] | undefined {
  let text: string;
  try {
    const st = statSync(file);
    if (!st.isFile() || st.size > 1 << 20) return undefined;
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const m = /@EXPECTED_RESULTS@\s*:?\s*([A-Z, -]+)/.exec(text);
  if (!m) return undefined;
  const verdicts = m[1].split(',').map((s) => DOMJUDGE_RESULTS[s.trim()]).filter((v): v is string => !!v);
  return verdicts.length ? [...new Set(verdicts)] : undefined;
}

function submissionsOf(dir: string, root: string): ProblemSubmission[] {
  const subs = join(dir, 'submissions');
  if (!isDir(subs)) return [];
  const out: ProblemSubmission[] = [];
  for (const category of readdirSync(subs).sort()) {
    const cdir = join(subs, category);
    if (!isDir(cdir)) continue;
    const standard = CATEGORY_VERDICTS[category];
    for (const e of readdirSync(cdir).sort()) {
      if (e.startsWith('.')) continue;
      const p = join(cdir, e);
      const path = posix.join(root, 'submissions', category, e);
      // DOMjudge ignores @EXPECTED_RESULTS@ inside the standard categories.
      const expected = standard ?? (isFile(p) ? expectedResults(p) : undefined);
      if (!expected) continue;
      out.push({ category, path, expected });
    }
  }
  return out;
}

/** Parses the default validator's flags (unknown ones are ignored, as problemtools does). */
export function defaultValidatorFlags(args: string[], entry = 'validator flags'): DefaultValidatorFlags {
  const out: DefaultValidatorFlags = { caseSensitive: false, spaceChangeSensitive: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const num = () => {
      const v = Number(args[++i]);
      if (args[i] === undefined || !Number.isFinite(v) || v < 0) throw badEntry('bad_config', entry, `${a} needs a non-negative number`);
      return v;
    };
    if (a === 'case_sensitive') out.caseSensitive = true;
    else if (a === 'space_change_sensitive') out.spaceChangeSensitive = true;
    else if (a === 'float_tolerance') out.absoluteTolerance = out.relativeTolerance = num();
    else if (a === 'float_absolute_tolerance') out.absoluteTolerance = num();
    else if (a === 'float_relative_tolerance') out.relativeTolerance = num();
  }
  return out;
}

/** Reads the unpacked package at `dir`. */
export function readPackage(dir: string, opts: ReadOptions): ReadPackage {
  const root = findRoot(dir);
  const pdir = join(dir, root);
  const yaml = readYaml(join(pdir, 'problem.yaml'), 'problem.yaml') ?? {};
  const f = new Fields(yaml, 'problem.yaml');
  const format = formatOf(f);
  const ini = readIni(join(pdir, 'domjudge-problem.ini'), 'domjudge-problem.ini');
  const { type, interactive } = validationOf(f, format);
  let { validation } = validationOf(f, format);
  const tl = timeLimit(pdir, f, ini, opts);
  if (tl.ms > opts.caps.timeMs) throw badEntry('limit_above_cap', tl.from, `the time limit of ${tl.ms} ms is above the server's cap of ${opts.caps.timeMs} ms`);
  const limits = f.sub('limits');
  const baseArgs = f.words('validator_flags') ?? f.sub('validator_flags').words('args') ?? [];
  if (validation === 'default') defaultValidatorFlags(baseArgs, 'problem.yaml');

  const single = isDir(join(pdir, 'output_validator'));
  const validators = single ? programsIn(join(pdir, 'output_validator'), posix.join(root, 'output_validator'), true)
    : programsIn(join(pdir, 'output_validators'), posix.join(root, 'output_validators'), false);
  // 2025-09 has no "validation" key: a package with an output validator uses it.
  if (format === '2025-09' && validation === 'default' && validators.length > 0) validation = 'custom';
  if (validation !== 'default' && validators.length === 0) {
    throw new ProblemError(400, 'missing_validator', `output_validator/: validation is "${validation}" but the package has no output validator`, 'output_validator/');
  }
  if (interactive && validators.length > 1) throw badEntry('bad_validator', 'output_validators/', 'an interactive problem must have exactly one validator');

  const data = join(pdir, 'data');
  const out = { tests: [] as ProblemTest[], groups: [] as TestGroupInfo[] };
  const top: GroupState = { args: baseArgs, aggregation: 'sum', acceptScore: 1, stopOnReject: type === 'pass-fail' };
  const topCfg = applyGroup(top, groupConfig(data, posix.join(root, 'data')), posix.join(root, 'data', 'testdata.yaml'), type, baseArgs).state;
  const seen = new Set<string>();
  for (const g of ['sample', 'secret']) {
    const gdir = join(data, g);
    if (!isDir(gdir)) continue;
    const rel = posix.join(root, 'data', g);
    const child = applyGroup(topCfg, groupConfig(gdir, rel), `${rel}/test_group.yaml`, type, baseArgs);
    walkGroup(gdir, g, rel, child.state, 0, seen, out, { type, baseArgs, pkgDir: dir }, child.maxScore);
  }
  if (!out.tests.some((t) => t.group === 'secret' || t.group.startsWith('secret/'))) {
    throw new ProblemError(400, 'no_tests', `${posix.join(root, 'data/secret')}: the package has no secret test cases (data/secret/*.in with .ans)`, posix.join(root, 'data/secret'));
  }

  const meta: ProblemMeta = {
    name: problemName(f, ini), format, type, interactive, validation,
    timeLimitMs: tl.ms, timeLimitFrom: tl.from,
    memoryBytes: mib(limits, 'memory', DEFAULT_MEMORY_MIB, opts.caps.memoryBytes),
    outputBytes: mib(limits, 'output', DEFAULT_OUTPUT_MIB, opts.caps.outputBytes),
    validationLimits: {
      timeMs: Math.round(Math.min(limits.number('validation_time', 1) ?? 60, opts.caps.timeMs / 1000 * 4) * 1000),
      memoryBytes: mib(limits, 'validation_memory', 1024, opts.caps.memoryBytes),
      outputBytes: mib(limits, 'validation_output', 8, opts.caps.outputBytes),
    },
    validators, includes: includesOf(pdir, root), tests: out.tests, groups: out.groups,
    submissions: submissionsOf(pdir, root),
  };
  const derive = {
    multiplier: limits.number('time_multiplier', 1) ?? limits.sub('time_multipliers').number('ac_to_time_limit', 1) ?? 5,
    resolutionMs: Math.round((limits.number('time_resolution') ?? 1) * 1000) || 1000,
  };
  return { root, meta, derive };
}
