// The gavel command's help and error output (no sandbox is opened for either).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { oneLine } from '../../src/cli/main.js';

const BIN = fileURLToPath(new URL('../../../bin/gavel.js', import.meta.url));
const gavel = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000 });

describe('gavel --help', () => {
  for (const [args, first] of [
    [['--help'], /^usage: gavel run/],
    [['-h'], /^usage: gavel run/],
    [['run', '--help'], /^usage: gavel run \[--time-ms/],
    [['run', '--time-ms', '5', '-h'], /^usage: gavel run \[--time-ms/],
    [['judge', '--help'], /^usage: gavel judge --language/],
    [['help', 'judge'], /^usage: gavel judge --language/],
  ] as Array<[string[], RegExp]>) {
    test(`gavel ${args.join(' ')}: usage on stdout, exit 0`, () => {
      const r = gavel(...args);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, first);
      assert.equal(r.stderr, '');
    });
  }

  test('no command: usage, exit 2', () => {
    const r = gavel();
    assert.equal(r.status, 2);
    assert.match(r.stdout, /^usage: /);
  });
});

describe('gavel errors', () => {
  test('a usage error is one "gavel:" line and the command\'s usage, exit 2', () => {
    const r = gavel('run', '--bogus');
    assert.equal(r.status, 2);
    const lines = r.stderr.split('\n');
    assert.equal(lines[0], 'gavel: unknown flag --bogus');
    assert.match(lines[1], /^usage: gavel run \[/);
    assert.equal(r.stderr.match(/gavel:/g)?.length, 1, r.stderr);
  });

  test('unknown command', () => {
    const r = gavel('frobnicate');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^gavel: unknown command "frobnicate"\n/);
  });

  test('judge flags are checked before any sandbox is made', () => {
    const r = gavel('judge', '--language', 'c', '/nonexistent.c', '--tests', '/tmp');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^gavel: no such file: \/nonexistent\.c\n/);
  });

  test('messages that already start with "gavel:" are not prefixed twice', () => {
    assert.equal(oneLine(new Error('gavel: seccomp: seccomp_init failed')), 'seccomp: seccomp_init failed');
    assert.equal(oneLine(new Error('plain')), 'plain');
    assert.equal(oneLine('text'), 'text');
  });
});
