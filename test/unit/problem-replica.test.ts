// The version-directory manifest: stored from one directory, rebuilt into another with the same
// bytes and modes, directories included; a rebuild racing one already in place keeps it whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileBlobStore } from '../../src/problems/blobs.js';
import { versionDirs } from '../../src/problems/importer.js';
import { materialise, storeVersionFiles } from '../../src/problems/replica.js';
import type { StoredVersion } from '../../src/problems/store.js';

test('a version directory survives the trip through blobs and a manifest', async () => {
  const tmp = mkdtempSync(join(tmpdir(), `gavel-replica-${process.pid}-`));
  try {
    const blobs = new FileBlobStore(join(tmp, 'blobs'));
    const src = join(tmp, 'src');
    mkdirSync(join(src, 'files', 'output_validators', 'v'), { recursive: true });
    mkdirSync(join(src, 'build', '0'), { recursive: true });
    mkdirSync(join(src, 'build', '1'), { recursive: true });
    writeFileSync(join(src, 'files', 'output_validators', 'v', 'v.cpp'), 'int main() {}\n');
    writeFileSync(join(src, 'build', '0', 'run'), '#!/bin/sh\nexit 42\n');
    chmodSync(join(src, 'build', '0', 'run'), 0o755);
    const files = await storeVersionFiles(src, blobs, join(tmp, 'scratch'));
    assert.deepEqual(Object.keys(files).sort(), ['build', 'build/0', 'build/0/run', 'build/1', 'files', 'files/output_validators', 'files/output_validators/v', 'files/output_validators/v/v.cpp']);
    assert.equal(files['build/0/run'].mode, 0o755);
    assert.equal(files['build/1'].hash, '');
    // The source keeps its modes: the blob store took a copy.
    assert.equal(statSync(join(src, 'build', '0', 'run')).mode & 0o777, 0o755);

    const v: StoredVersion = { id: 'p', version: 1, meta: {} as StoredVersion['meta'], blobs: {}, bytes: 0, createdAt: 0, files };
    const dirs = versionDirs(join(tmp, 'other'), 'p', 1);
    mkdirSync(join(tmp, 'other', 'versions', 'p'), { recursive: true });
    let trees = 0;
    const tree = async (t: string) => { trees++; mkdirSync(t); writeFileSync(join(t, '1.in'), '1\n'); };
    await Promise.all([materialise(v, dirs, blobs, tree), materialise(v, dirs, blobs, tree)]);
    assert.equal(readFileSync(join(dirs.build, '0', 'run'), 'utf8'), '#!/bin/sh\nexit 42\n');
    assert.equal(statSync(join(dirs.build, '0', 'run')).mode & 0o777, 0o755);
    assert.ok(statSync(join(dirs.build, '1')).isDirectory());
    assert.equal(readFileSync(join(dirs.tree, '1.in'), 'utf8'), '1\n');
    assert.ok(trees >= 1);
    assert.deepEqual(readdirSync(join(tmp, 'other', 'versions', 'p')), ['1'], 'no temporary directory left');

    const evil: StoredVersion = { ...v, version: 2, files: { '../x': { hash: '', mode: 0o755 } } };
    await assert.rejects(materialise(evil, versionDirs(join(tmp, 'other'), 'p', 2), blobs, tree), /leaves the version directory/);
    assert.ok(!existsSync(join(tmp, 'other', 'versions', 'p', '2')));
    assert.deepEqual(readdirSync(join(tmp, 'other', 'versions', 'p')), ['1']);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
