// `gavel run`: one command in the sandbox, like isolate's CLI, for debugging limits and
// for benchmarks. Prints the result as JSON.
import { closeSync, existsSync, statfsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readCappedFd } from '../judge/workspace.js';
import type { RunLimits, RunResult, RunSpec, StreamSpec } from '../sandbox/types.js';
import { parseCount, parseFlags, parseSize, UsageError } from './args.js';


const PREVIEW_BYTES = 64 * 1024;

export function defaultLimits(): RunLimits {
  return { timeMs: 1000, wallTimeMs: 3000, memoryBytes: 256 << 20, outputBytes: 64 << 20, processes: 64 };
}

export async function runCommand(argv: string[]): Promise<number> {
  const { flags, positional, rest } = parseFlags(argv, {
    '--time-ms': 'value', '--wall-ms': 'value', '--memory': 'value', '--processes': 'value', '--output-bytes': 'value',
    '--stdin': 'value', '--stdout': 'value', '--stderr': 'value', '--dir': 'value', '--repeat': 'value',
  });
  const command = [...positional, ...rest];
  if (command.length === 0) throw new UsageError('no command given (put it after --)');
  const limits = defaultLimits();
  if (flags.has('--time-ms')) limits.timeMs = parseCount('--time-ms', flags.get('--time-ms')!, 3_600_000);
  limits.wallTimeMs = flags.has('--wall-ms')
    ? parseCount('--wall-ms', flags.get('--wall-ms')!, 3_600_000)
    : Math.max(limits.timeMs * 2, limits.timeMs + 1000);
  if (flags.has('--memory')) limits.memoryBytes = parseSize('--memory', flags.get('--memory')!);
  if (flags.has('--processes')) limits.processes = parseCount('--processes', flags.get('--processes')!, 4096);
  if (flags.has('--output-bytes')) limits.outputBytes = parseSize('--output-bytes', flags.get('--output-bytes')!);
  const repeat = flags.has('--repeat') ? parseCount('--repeat', flags.get('--repeat')!, 1_000_000) : 1;
  const stdin = flags.get('--stdin');
  if (stdin && !existsSync(stdin)) throw new UsageError(`--stdin: no such file: ${stdin}`);
  const dir = flags.get('--dir');
  if (dir && !(existsSync(dir) && statSync(dir).isDirectory())) throw new UsageError(`--dir: not a directory: ${dir}`);

  // Loaded only now: a usage error costs no native library, no seccomp filter, no pool.
  const { Sandbox } = await import('../sandbox/sandbox.js');
  // One slot, its short-lived root skeleton in memory when /run is on a disk.
  const sandbox = Sandbox.open({ size: 1, name: `gavel-cli-${process.pid}`, runDir: cliRunDir(`gavel-cli-${process.pid}`) });
  // The outputs in memory (one pair per run, so each starts at offset 0), unless asked for in files.
  let outputs: number[] = [];
  const freshOutputs = () => {
    for (const fd of outputs) closeSync(fd);
    outputs = [sandbox.memoryFile('stdout'), sandbox.memoryFile('stderr')];
  };
  try {
    const stream = (flag: '--stdout' | '--stderr', i: number): StreamSpec =>
      flags.has(flag) ? { kind: 'file', path: resolve(flags.get(flag)!) } : { kind: 'fd', fd: outputs[i] };
    const once = async (): Promise<RunResult> => {
      // Without --dir, an empty work dir in memory, gone with the run.
      const workDir = dir ? resolve(dir) : sandbox.makeMemoryWorkDir(limits.memoryBytes);
      freshOutputs();
      try {
        const spec: RunSpec = {
          argv: command, limits, workDir,
          stdin: stdin ? { kind: 'file', path: resolve(stdin) } : { kind: 'null' },
          stdout: stream('--stdout', 0),
          stderr: stream('--stderr', 1),
        };
        return await sandbox.run(spec);
      } finally {
        if (!dir) sandbox.removeWorkDir(workDir);
      }
    };
    const withOutput = (r: RunResult) => ({
      ...r,
      ...(flags.has('--stdout') ? {} : { stdout: preview(outputs[0]) }),
      ...(flags.has('--stderr') ? {} : { stderr: preview(outputs[1]) }),
    });
    if (repeat === 1) {
      const r = await once();
      process.stdout.write(JSON.stringify(withOutput(r)) + '\n');
      return r.status === 'SE' ? 1 : 0;
    }
    const times: number[] = [];
    let last: RunResult | undefined;
    for (let i = 0; i < repeat; i++) {
      const t0 = process.hrtime.bigint();
      last = await once();
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    times.sort((a, b) => a - b);
    const q = (p: number) => Math.round(times[Math.min(times.length - 1, Math.floor(p * times.length))] * 1000) / 1000;
    process.stdout.write(JSON.stringify({ runs: repeat, medianMs: q(0.5), p90Ms: q(0.9), last: withOutput(last!) }) + '\n');
    return last!.status === 'SE' ? 1 : 0;
  } finally {
    for (const fd of outputs) closeSync(fd);
    await sandbox.close();
  }
}

/**
 * Where the CLI's pool keeps its slot's skeleton: /run/<name> when /run is a tmpfs (as on
 * systemd hosts), else /dev/shm/<name>. Made and removed within one short process, it
 * would otherwise cost dozens of journaled directory and file operations.
 */
function cliRunDir(name: string): string {
  for (const base of ['/run', '/dev/shm']) {
    try {
      if (statfsSync(base).type === TMPFS_MAGIC) return join(base, name);
    } catch {
      // not there
    }
  }
  return join('/run', name);
}

const TMPFS_MAGIC = 0x01021994;

function preview(fd: number): string {
  try {
    return readCappedFd(fd, PREVIEW_BYTES);
  } catch {
    return '';
  }
}
