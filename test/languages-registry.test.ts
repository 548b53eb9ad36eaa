// The language registry: the GAVEL_LANGUAGES file's schema, overrides and additions, and
// version detection (real toolchain probes, no sandbox).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { builtinLanguages, detectLanguages, entryVariables, expand, loadLanguageFile } from '../src/judge/languages.js';
import { FIXTURES_DIR } from './helpers/sandbox.js';

const dir = mkdtempSync(join(tmpdir(), `gavel-langs-${process.pid}-`));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, data: unknown) => {
  const p = join(dir, name);
  writeFileSync(p, typeof data === 'string' ? data : JSON.stringify(data));
  return p;
};

/** The README's worked example: AWK added without touching code. */
const EXAMPLE = join(FIXTURES_DIR, 'gavel-languages.example.json');
const AWK = JSON.parse(readFileSync(EXAMPLE, 'utf8'))[0];

describe('GAVEL_LANGUAGES file', () => {
  test('adds a language and overrides a built-in by id', async () => {
    const p = file('ok.json', [AWK, { ...builtinLanguages().find((l) => l.id === 'bash')!, name: 'Bash (renamed)' }]);
    const langs = await detectLanguages(p);
    if (langs.has('bash')) assert.equal(langs.get('bash')!.name, 'Bash (renamed)');
    const awk = langs.get('awk');
    assert.ok(awk, 'mawk is part of Debian base; the added language is offered');
    assert.match(awk.versionString, /^mawk \d/);
  });
  test('a language whose toolchain is missing is not offered', async () => {
    const p = file('missing.json', [{ ...AWK, id: 'nothere', run: ['/usr/bin/no-such-tool'], version: ['/usr/bin/no-such-tool', '--version'] }]);
    assert.equal((await detectLanguages(p)).has('nothere'), false);
  });
  test('schema errors name the entry and field', () => {
    assert.throws(() => loadLanguageFile(file('bad1.json', [{ ...AWK, run: [] }])), /\/0\/run/);
    assert.throws(() => loadLanguageFile(file('bad2.json', [{ ...AWK, colour: 'red' }])), /language file .*bad2\.json/);
    assert.throws(() => loadLanguageFile(file('bad3.json', [{ ...AWK, versionPattern: '(' }])), /\/0\/versionPattern/);
    assert.throws(() => loadLanguageFile(file('bad4.json', '{ not json')), /bad4\.json/);
    assert.equal(loadLanguageFile(EXAMPLE).length, 1, "the README's example is valid");
  });
});

describe('built-in definitions', () => {
  test('ids are unique, every language has extensions, commands use /usr paths only', () => {
    const all = builtinLanguages();
    assert.equal(new Set(all.map((l) => l.id)).size, all.length);
    assert.ok(all.length >= 20);
    for (const l of all) {
      assert.ok(l.extensions && l.extensions.length > 0, l.id);
      for (const argv of [l.compile, l.run, l.version]) if (argv && argv[0].startsWith('/')) assert.match(argv[0], /^\/usr\/|^\/bin\//, `${l.id}: ${argv[0]}`);
    }
  });
  test('template variables come from the entry point', () => {
    const java = builtinLanguages().find((l) => l.id === 'java')!;
    const { vars, problem } = entryVariables(java, 'package p; public class Q { public static void main(String[] a) {} }');
    assert.equal(problem, undefined);
    assert.deepEqual(expand(java.run, vars).slice(-3), ['-cp', '.', 'p.Q']);
    assert.equal(expand([java.source], vars)[0], 'Q.java');
    assert.match(entryVariables(java, 'class Q {}').problem ?? '', /main/);
  });
});
