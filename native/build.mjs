// Builds the C shim (libgavel.so) and the sandbox init (gavel-init) during `npm ci`.
// The sandbox cannot work without them, so a missing compiler is a hard, named error.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'build');
const cc = process.env.CC || 'cc';

if (spawnSync(cc, ['--version'], { stdio: 'ignore' }).status !== 0) {
  console.error(`gavel: no C compiler found (tried "${cc}"). Install one first, e.g. "apt-get install gcc libc6-dev", or set CC.`);
  process.exit(1);
}
mkdirSync(out, { recursive: true });
const common = ['-O2', '-Wall', '-Wextra', '-Werror', '-fno-strict-aliasing', '-D_GNU_SOURCE'];
const run = (args) => execFileSync(cc, args, { stdio: 'inherit' });
// Hidden by default: only GV_EXPORT functions are the library's API.
// -z nodelete: the shim owns a reaper thread; unloading the library under it crashes Node at exit.
run([...common, '-fPIC', '-shared', '-pthread', '-fvisibility=hidden', '-fno-stack-protector', '-Wl,-z,nodelete',
  '-o', join(out, 'libgavel.so'), ...['shim.c', 'child.c', 'reaper.c'].map((f) => join(here, f))]);
// The init runs inside every sandbox as pid 1; static so the sandbox needs no loader for it.
run([...common, '-static', '-o', join(out, 'gavel-init'), join(here, 'init.c')]);
