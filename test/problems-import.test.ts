// Importing problem packages without judging anything: unpacking zip/tar/tar.gz, every
// bad-input case (each a 4xx naming the entry), reading legacy / 2023-07 / 2025-09
// packages, content-addressed storage shared across problems and versions, atomic
// replace, and the sweep after a crash. Packages here use the default validator, so the
// import's build step has nothing to compile (the judging suite covers validators).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { FileBlobStore } from '../src/problems/blobs.js';
import { ProblemError } from '../src/problems/errors.js';
import { Importer, versionDirs, type ImportHooks } from '../src/problems/importer.js';
import { SqliteProblemStore } from '../src/problems/sqlite.js';
import { fixture, files, pack, rawTar, zip, type PackFormat, type RawEntry } from './helpers/packages.js';

const CAPS = { timeMs: 30_000, memoryBytes: 2 * 1024 ** 3, outputBytes: 256 << 20 };
const noBuild: ImportHooks = { build: async (meta) => assert.equal(meta.validators.length, 0, 'these packages have no validator to build') };

let root: string;
let n = 0;

function open(opts: { maxBytes?: number; maxFiles?: number; dir?: string } = {}) {
  const dataDir = opts.dir ?? join(root, `d${++n}`);
  const store = new SqliteProblemStore(dataDir, { synchronous: 'NORMAL' });
  const blobs = new FileBlobStore(join(dataDir, 'problems', 'blobs'));
  const importer = new Importer({
    base: join(dataDir, 'problems'), store, blobs, hooks: noBuild, caps: CAPS,
    archive: { maxBytes: opts.maxBytes ?? 1 << 30, maxFiles: opts.maxFiles ?? 1000 },
  });
  return { dataDir, store, blobs, importer, base: join(dataDir, 'problems') };
}

const body = (b: Buffer) => Readable.from([b]);

async function importError(entries: RawEntry[] | Buffer, format: PackFormat = 'tar', opts: Parameters<typeof open>[0] = {}): Promise<ProblemError> {
  const s = open(opts);
  const buf = Buffer.isBuffer(entries) ? entries : await pack(entries, format);
  try {
    await s.importer.import('p', body(buf));
  } catch (e) {
    if (!(e instanceof ProblemError)) throw e;
    // Nothing half-imported is visible, and nothing is left on disk.
    assert.equal(await s.store.current('p'), undefined);
    assert.equal(await s.store.importing('p'), false);
    assert.deepEqual(readdirSync(join(s.base, 'staging')), []);
    assert.deepEqual(readdirSync(join(s.base, 'versions')).flatMap((d) => readdirSync(join(s.base, 'versions', d))), []);
    await s.store.close();
    return e;
  }
  await s.store.close();
  assert.fail('the import should have failed');
}

const minimal = (extra: Record<string, string> = {}) => files({
  'problem.yaml': 'name: Minimal\n', '.timelimit': '1\n',
  'data/secret/1.in': '1\n', 'data/secret/1.ans': '1\n', ...extra,
});

before(() => {
  mkdirSync('/var/tmp', { recursive: true });
  root = mkdtempSync(join('/var/tmp', `gavel-import-${process.pid}-`));
});
after(() => rmSync(root, { recursive: true, force: true }));

describe('problem import: formats', () => {
  for (const format of ['zip', 'tar', 'tar.gz'] as const) {
    it(`reads a legacy package with .timelimit as ${format}`, async () => {
      const s = open();
      const { created, version } = await s.importer.import('aplusb', body(await pack(fixture('aplusb'), format)));
      assert.equal(created, true);
      assert.equal(version.version, 1);
      const m = version.meta;
      assert.equal(m.name, 'A plus B');
      assert.equal(m.format, 'legacy');
      assert.equal(m.timeLimitMs, 1000);
      assert.equal(m.timeLimitFrom, '.timelimit');
      assert.equal(m.memoryBytes, 2048 * 2 ** 20, 'the format default memory limit');
      assert.equal(m.outputBytes, 8 << 20, 'the format default output limit');
      assert.deepEqual(m.tests.map((t) => t.name), ['sample/1', 'secret/01-small', 'secret/02-negative', 'secret/03-big']);
      assert.deepEqual(m.submissions.map((x) => `${x.category}/${x.path.split('/').pop()}:${x.expected.join('|')}`), [
        'accepted/ab.cpp:AC', 'accepted/ab.py:AC', 'other/maybe.py:AC|WA', 'run_time_error/abort.c:RE|MLE',
        'time_limit_exceeded/spin.cpp:TLE|WA', 'wrong_answer/int32.c:WA',
      ]);
      // The test tree is hard links to the blobs: no copy.
      const dirs = versionDirs(s.base, 'aplusb', 1);
      const treeFile = join(dirs.tree, 'secret', '03-big.in');
      assert.equal(readFileSync(treeFile, 'utf8'), '1000000000000 1\n');
      assert.equal(statSync(treeFile).ino, statSync(await s.blobs.localPath(version.blobs[m.tests[3].input])).ino);
      assert.equal(statSync(treeFile).mode & 0o777, 0o444);
      await s.store.close();
    });
  }

  it('reads domjudge-problem.ini and validator_flags (legacy)', async () => {
    const s = open();
    const { version } = await s.importer.import('flags', body(await pack(fixture('flags'), 'zip')));
    assert.equal(version.meta.timeLimitMs, 2000);
    assert.equal(version.meta.timeLimitFrom, 'domjudge-problem.ini');
    assert.deepEqual(version.meta.groups.find((g) => g.name === 'secret')!.validatorArgs, ['case_sensitive', 'space_change_sensitive']);
    await s.store.close();
  });

  it('reads a 2023-07 package: limits.time_limit, test_group.yaml, memory in MiB', async () => {
    const s = open();
    const { version } = await s.importer.import('floats', body(await pack(fixture('floats'), 'tar.gz')));
    const m = version.meta;
    assert.equal(m.format, '2023-07');
    assert.equal(m.timeLimitMs, 1500);
    assert.equal(m.memoryBytes, 512 << 20);
    assert.deepEqual(m.groups.find((g) => g.name === 'secret')!.validatorArgs, ['float_absolute_tolerance', '0.001', 'float_relative_tolerance', '0.000001']);
    await s.store.close();
  });

  it('reads 2025-09 scoring groups with max_score, nested under secret', async () => {
    const s = open();
    const { version } = await s.importer.import('scoring', body(await pack(fixture('scoring'), 'tar')));
    const m = version.meta;
    assert.equal(m.format, '2025-09');
    assert.equal(m.type, 'scoring');
    assert.deepEqual(m.tests.map((t) => t.name), ['sample/1', 'secret/group1/1', 'secret/group1/2', 'secret/group2/1', 'secret/group2/2']);
    assert.deepEqual(m.groups.filter((g) => g.maxScore !== undefined).map((g) => [g.name, g.maxScore]), [['secret/group1', 30], ['secret/group2', 70]]);
    await s.store.close();
  });

  it('finds the package inside a single top-level directory', async () => {
    const s = open();
    const wrapped = minimal().map((e) => ({ ...e, path: `minimal/${e.path}` }));
    const { version } = await s.importer.import('m', body(await pack(wrapped, 'zip')));
    assert.deepEqual(version.meta.tests.map((t) => t.name), ['secret/1']);
    await s.store.close();
  });

  it('orders cases lexicographically, samples first, through nested groups', async () => {
    const s = open();
    const pkg = files({
      'problem.yaml': 'name: Order\n', '.timelimit': '1',
      'data/secret/b.in': '', 'data/secret/b.ans': '', 'data/secret/a/2.in': '', 'data/secret/a/2.ans': '',
      'data/secret/a/10.in': '', 'data/secret/a/10.ans': '', 'data/secret/C.in': '', 'data/secret/C.ans': '',
      'data/sample/z.in': '', 'data/sample/z.ans': '',
    });
    const { version } = await s.importer.import('o', body(await pack(pkg, 'tar')));
    assert.deepEqual(version.meta.tests.map((t) => t.name), ['sample/z', 'secret/C', 'secret/a/10', 'secret/a/2', 'secret/b']);
    await s.store.close();
  });

  it('takes the time limit from ?timeLimitMs= when the package has none', async () => {
    const s = open();
    const pkg = files({ 'problem.yaml': 'name: No limit\n', 'data/secret/1.in': '', 'data/secret/1.ans': '' });
    const { version } = await s.importer.import('t', body(await pack(pkg, 'tar')), { timeLimitMs: 2500 });
    assert.equal(version.meta.timeLimitMs, 2500);
    assert.equal(version.meta.timeLimitFrom, 'request');
    await s.store.close();
  });

  it('clamps limits a package asks for to the server caps', async () => {
    const s = open();
    const pkg = minimal({ 'problem.yaml': 'name: Big\nlimits:\n  memory: 100000\n  output: 100000\n' });
    const { version } = await s.importer.import('big', body(await pack(pkg, 'tar')));
    assert.equal(version.meta.memoryBytes, CAPS.memoryBytes);
    assert.equal(version.meta.outputBytes, CAPS.outputBytes);
    await s.store.close();
  });
});

describe('problem import: storage and versions', () => {
  it('stores identical files once across problems and versions', async () => {
    const s = open();
    const pkg = await pack(fixture('aplusb'), 'tar');
    await s.importer.import('a', body(pkg));
    const count = () => readdirSync(s.blobs.dir).flatMap((d) => readdirSync(join(s.blobs.dir, d))).length;
    const once = count();
    assert.equal(once, 8, '4 inputs and 4 answers, all different');
    await s.importer.import('b', body(pkg));
    const { created, version } = await s.importer.import('a', body(pkg));
    assert.equal(created, false);
    assert.equal(version.version, 2);
    assert.equal(count(), once, 'no new blob for the same data');
    await s.store.close();
  });

  it('replacing keeps the old version readable; a failed replace leaves the current one serving', async () => {
    const s = open();
    await s.importer.import('p', body(await pack(minimal(), 'tar')));
    await s.importer.import('p', body(await pack(minimal({ 'data/secret/2.in': '2\n', 'data/secret/2.ans': '2\n' }), 'tar')));
    await assert.rejects(s.importer.import('p', body(await pack(minimal({ 'data/secret/3.in': 'x' }), 'tar'))), /3\.in: test case has no 3\.ans/);
    const cur = await s.store.current('p');
    assert.equal(cur!.version, 2);
    assert.equal(cur!.meta.tests.length, 2);
    assert.equal((await s.store.version('p', 1))!.meta.tests.length, 1);
    assert.ok(existsSync(versionDirs(s.base, 'p', 1).tree));
    assert.equal(existsSync(versionDirs(s.base, 'p', 3).root), false);
    // Version numbers are never reused, even after a failure or a delete.
    await s.store.delete('p');
    const again = await s.importer.import('p', body(await pack(minimal(), 'tar')));
    assert.equal(again.version.version, 4);
    await s.store.close();
  });

  it('refuses a second import of the same id while one runs (409), and a delete meanwhile', async () => {
    const s = open();
    const slow = new Readable({ read() {} });
    const first = s.importer.import('busy', slow);
    await new Promise((r) => setTimeout(r, 20));
    await assert.rejects(s.importer.import('busy', body(await pack(minimal(), 'tar'))), (e: ProblemError) => e.status === 409);
    await assert.rejects(s.store.delete('busy'), /an import of problem "busy" is running/);
    slow.push(await pack(minimal(), 'tar'));
    slow.push(null);
    assert.equal((await first).version.version, 1);
    await s.store.close();
  });

  it('recover() sweeps staging, uncommitted version dirs, stale locks and unreferenced blobs', async () => {
    const s = open();
    await s.importer.import('keep', body(await pack(minimal(), 'tar')));
    // What a process killed mid-import leaves: a lock, a staging dir, a renamed version dir, blobs.
    const ticket = await s.store.begin('dead');
    mkdirSync(join(s.base, 'staging', 'dead.x', 'pkg'), { recursive: true });
    mkdirSync(versionDirs(s.base, 'dead', ticket.version).tree, { recursive: true });
    mkdirSync(versionDirs(s.base, 'keep', 99).root + '.tmp', { recursive: true });
    const orphan = join(root, `orphan-${n}`);
    writeFileSync(orphan, 'orphan data');
    await s.blobs.putFile('0'.repeat(64), orphan);
    await s.store.close();

    const t = open({ dir: s.dataDir });
    const swept = await t.importer.recover();
    // The successful import's own stage may still be going away in the background.
    assert.ok(swept.staging >= 1);
    assert.deepEqual({ versions: swept.versions, blobs: swept.blobs }, { versions: 2, blobs: 1 });
    assert.deepEqual(readdirSync(join(t.base, 'staging')), []);
    assert.equal(await t.store.importing('dead'), false);
    assert.deepEqual(readdirSync(join(t.base, 'versions')), ['keep']);
    const keep = (await t.store.current('keep'))!;
    assert.equal(readFileSync(await t.blobs.localPath(keep.blobs[keep.meta.tests[0].input]), 'utf8'), '1\n');
    await t.store.close();
  });
});

describe('problem import: bad input is a 4xx naming the entry', () => {
  it('not an archive → 400', async () => {
    const e = await importError(Buffer.from('this is not a package at all, just some text that is long enough'));
    assert.equal(e.status, 400);
    assert.equal(e.code, 'not_an_archive');
  });

  it('an empty body → 400', async () => {
    assert.equal((await importError(Buffer.alloc(0))).code, 'not_an_archive');
  });

  it('a truncated tar.gz → 400', async () => {
    const gz = await pack(minimal(), 'tar.gz');
    const e = await importError(gz.subarray(0, gz.length - 30));
    assert.equal(e.status, 400);
  });

  it('no problem.yaml → 400', async () => {
    const e = await importError(files({ 'data/secret/1.in': '', 'data/secret/1.ans': '' }));
    assert.equal(e.code, 'no_problem_yaml');
    assert.equal(e.entry, 'problem.yaml');
  });

  it('a YAML error names the file and the line', async () => {
    const e = await importError(minimal({ 'problem.yaml': 'name: Broken\nlimits:\n  memory: [1, 2\n' }));
    assert.equal(e.code, 'bad_yaml');
    assert.match(e.message, /^problem\.yaml line \d+, column \d+: /);
  });

  it('a YAML error in a test group names that file', async () => {
    const e = await importError(minimal({ 'data/secret/test_group.yaml': 'a: b: c\n' }));
    assert.match(e.message, /data\/secret\/test_group\.yaml line 1/);
  });

  it('a test without its .ans → 400 naming the .in', async () => {
    const e = await importError(minimal({ 'data/secret/2.in': '2\n' }));
    assert.equal(e.code, 'missing_answer');
    assert.equal(e.entry, 'data/secret/2.in');
  });

  it('no secret test cases → 400', async () => {
    assert.equal((await importError(files({ 'problem.yaml': 'name: x\n', '.timelimit': '1' }))).code, 'no_tests');
  });

  it('no time limit anywhere and no accepted submission → 400 saying so', async () => {
    const e = await importError(files({ 'problem.yaml': 'name: x\n', 'data/secret/1.in': '', 'data/secret/1.ans': '' }));
    assert.equal(e.code, 'no_time_limit');
    assert.match(e.message, /timeLimitMs/);
  });

  it('a path with .. → 400 (tar)', async () => {
    const e = await importError(rawTar([...minimal(), { path: 'data/../../evil', body: 'x' }]));
    assert.equal(e.code, 'dotdot_path');
    assert.equal(e.entry, 'data/../../evil');
  });

  it('a path with .. → 400 (zip)', async () => {
    const z = await zip([...minimal(), { path: 'XX/evil', body: 'x' }]);
    const patched = Buffer.from(z.toString('latin1').replaceAll('XX/evil', '../evil'), 'latin1');
    const e = await importError(patched);
    assert.equal(e.status, 400);
    assert.match(e.message, /\.\.\/evil/);
  });

  it('an absolute path → 400', async () => {
    const e = await importError(rawTar([...minimal(), { path: '/etc/evil', body: 'x' }]));
    assert.equal(e.code, 'absolute_path');
    assert.equal(e.entry, '/etc/evil');
  });

  it('a symlink leaving the package → 400 (tar, relative and absolute, and through a chain)', async () => {
    for (const [link, entries] of [
      ['data/secret/x.in', [{ path: 'data/secret/x.in', type: 'SymbolicLink', linkpath: '../../../etc/passwd' }]],
      ['data/secret/x.in', [{ path: 'data/secret/x.in', type: 'SymbolicLink', linkpath: '/etc/passwd' }]],
      ['b', [{ path: 'a', type: 'SymbolicLink', linkpath: '.' }, { path: 'b', type: 'SymbolicLink', linkpath: 'a/..' }]],
    ] as Array<[string, RawEntry[]]>) {
      const e = await importError(rawTar([...minimal(), ...entries]));
      assert.equal(e.code, 'symlink_escape', `${link}: ${e.message}`);
      assert.equal(e.entry, link);
    }
  });

  it('a symlink leaving the package → 400 (zip)', async () => {
    const e = await importError(await zip([...minimal(), { path: 'data/secret/y.ans', type: 'SymbolicLink', linkpath: '../../../../etc/shadow' }]));
    assert.equal(e.code, 'symlink_escape');
  });

  it('a symlink inside the package is followed', async () => {
    const s = open();
    const pkg = rawTar([...minimal(), { path: 'data/secret/2.in', type: 'SymbolicLink', linkpath: '1.in' }, { path: 'data/secret/2.ans', type: 'SymbolicLink', linkpath: '../secret/1.ans' }]);
    const { version } = await s.importer.import('ln', body(pkg));
    assert.deepEqual(version.meta.tests.map((t) => t.input), ['data/secret/1.in', 'data/secret/1.in']);
    await s.store.close();
  });

  it('device files and FIFOs → 400', async () => {
    for (const type of ['CharacterDevice', 'BlockDevice', 'FIFO'] as const) {
      const e = await importError(rawTar([...minimal(), { path: 'data/dev', type }]));
      assert.equal(e.code, 'device_file');
      assert.equal(e.entry, 'data/dev');
    }
  });

  it('a zip bomb stops at the cap (413), whatever the archive claims', async () => {
    const bomb = await zip([...minimal(), { path: 'data/secret/huge.in', body: Buffer.alloc(64 << 20) }]);
    assert.ok(bomb.length < 1 << 20, 'a small archive');
    const e = await importError(bomb, 'zip', { maxBytes: 8 << 20 });
    assert.equal(e.status, 413);
    assert.equal(e.entry, 'data/secret/huge.in');
  });

  it('a tar.gz bomb stops at the cap (413)', async () => {
    const e = await importError(await pack([...minimal(), { path: 'data/secret/huge.in', body: Buffer.alloc(64 << 20) }], 'tar.gz'), 'tar.gz', { maxBytes: 8 << 20 });
    assert.equal(e.status, 413);
    assert.equal(e.code, 'package_too_large');
  });

  it('a body over GAVEL_MAX_PROBLEM_BYTES → 413', async () => {
    const e = await importError(await pack(minimal({ 'data/secret/big.in': 'x'.repeat(100_000), 'data/secret/big.ans': '' }), 'zip'), 'zip', { maxBytes: 50_000 });
    assert.equal(e.status, 413);
  });

  it('too many files → 413', async () => {
    const many: Record<string, string> = {};
    for (let i = 0; i < 30; i++) many[`data/secret/${i}.in`] = '';
    const e = await importError(minimal(many), 'tar', { maxFiles: 20 });
    assert.equal(e.status, 413);
    assert.equal(e.code, 'too_many_files');
  });

  it('a duplicate entry → 400', async () => {
    const e = await importError(rawTar([...minimal(), { path: 'data/secret/1.in', body: 'again' }]));
    assert.equal(e.code, 'duplicate_entry');
  });

  it('an invalid problem id → 400', async () => {
    const s = open();
    await assert.rejects(s.importer.import('../x', body(Buffer.alloc(0))), (e: ProblemError) => e.status === 400 && e.code === 'invalid_problem_id');
    await s.store.close();
  });

  it('custom validation without a validator → 400', async () => {
    const e = await importError(minimal({ 'problem.yaml': 'name: x\nvalidation: custom\n' }));
    assert.equal(e.code, 'missing_validator');
  });

  it('a bad key type names the key', async () => {
    const e = await importError(minimal({ 'problem.yaml': 'name: x\nlimits:\n  memory: lots\n' }));
    assert.match(e.message, /problem\.yaml: limits\.memory must be a number/);
  });

  it('an unknown problem_format_version → 400', async () => {
    assert.match((await importError(minimal({ 'problem.yaml': 'problem_format_version: 1999-01\n' }))).message, /1999-01/);
  });
});
