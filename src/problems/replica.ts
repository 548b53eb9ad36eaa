// A version directory shared across a cluster: the importing node stores every file of it but
// the test tree (package files kept for judging, built validators and interactors) as blobs
// with a manifest, and a node that judges the version without having imported it rebuilds the
// directory from that manifest. The rebuild happens under a temporary name and appears by
// rename, so a judge never sees half a directory and two nodes (or two runs) racing both end
// with one whole copy.
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join, posix } from 'node:path';
import { sha256File, type VersionDirs } from './importer.js';
import type { BlobStore, StoredVersion } from './store.js';

export type Manifest = NonNullable<StoredVersion['files']>;

/** The parts of a version directory the manifest covers; tree/ is rebuilt from the test blobs. */
const REPLICATED = ['files', 'build'] as const;

/**
 * Stores the files of the version directory at `root` as blobs; returns the manifest.
 * Each file is put from a copy in `scratch`, because a blob store may take the file over
 * (make it read-only, link it into a cache) and built programs must keep their modes.
 */
export async function storeVersionFiles(root: string, blobs: BlobStore, scratch: string): Promise<Manifest> {
  const out: Manifest = {};
  mkdirSync(scratch, { recursive: true, mode: 0o700 });
  let n = 0;
  const walk = async (rel: string) => {
    const st = lstatSync(join(root, rel));
    if (st.isDirectory()) {
      // Directories are listed too (hash ""): a program may expect an empty one in place.
      out[rel] = { hash: '', mode: st.mode & 0o7777 };
      for (const e of readdirSync(join(root, rel)).sort()) await walk(posix.join(rel, e));
    } else if (st.isFile()) {
      const copy = join(scratch, String(n++));
      copyFileSync(join(root, rel), copy);
      const hash = await sha256File(copy);
      await blobs.putFile(hash, copy);
      out[rel] = { hash, mode: st.mode & 0o7777 };
    } else {
      throw new Error(`${join(root, rel)}: neither a file nor a directory, so it cannot be replicated to other nodes`);
    }
  };
  for (const part of REPLICATED) if (existsSync(join(root, part))) await walk(part);
  return out;
}

/**
 * Builds the version directory `dirs` from the version's manifest and its test blobs, unless
 * it is there already. `makeTree` lays out the test tree (the importer's own way of doing it).
 */
export async function materialise(v: StoredVersion, dirs: VersionDirs, blobs: BlobStore,
  makeTree: (tree: string) => Promise<void>): Promise<void> {
  if (existsSync(dirs.root)) return;
  if (!v.files) throw new Error(`problem "${v.id}" version ${v.version} has no file manifest, and its files are not on this node`);
  const tmp = `${dirs.root}.m-${process.pid}-${Math.random().toString(36).slice(2)}`;
  mkdirSync(tmp, { recursive: true, mode: 0o755 });
  try {
    // Sorted, a directory comes before what it holds.
    for (const rel of Object.keys(v.files).sort()) {
      const { hash, mode } = v.files[rel];
      if (posix.isAbsolute(rel) || rel.split('/').includes('..')) throw new Error(`manifest path "${rel}" leaves the version directory`);
      const dest = join(tmp, ...rel.split('/'));
      if (hash === '') mkdirSync(dest, { recursive: true, mode: 0o755 });
      else copyFileSync(await blobs.localPath(hash), dest);
      chmodSync(dest, mode);
    }
    await makeTree(join(tmp, 'tree'));
    try {
      renameSync(tmp, dirs.root);
    } catch (e) {
      // Another run put the directory in place first: theirs is the same.
      const code = (e as NodeJS.ErrnoException).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !existsSync(dirs.root)) throw e;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
