// `gavel run`: one command in the sandbox, like isolate's CLI, for debugging limits and
// for benchmarks. Prints the result as JSON.
import { existsSync, readFileSync, statSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Sandbox } from '../sandbox/sandbox.js';
import type { RunLimits, RunResult, RunSpec } from '../sandbox/types.js';
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

  const sandbox = Sandbox.open({ size: 1, name: `gavel-cli-${process.pid}` });
  const scratch = mkdtempSync(join(tmpdir(), 'gavel-run-'));
  try {
    const outPath = flags.get('--stdout') ? resolve(flags.get('--stdout')!) : join(scratch, 'stdout');
    const errPath = flags.get('--stderr') ? resolve(flags.get('--stderr')!) : join(scratch, 'stderr');
    const once = async (): Promise<RunResult> => {
      const workDir = dir ? resolve(dir) : sandbox.makeWorkDir();
      try {
        const spec: RunSpec = {
          argv: command, limits, workDir,
          stdin: stdin ? { kind: 'file', path: resolve(stdin) } : { kind: 'null' },
          stdout: { kind: 'file', path: outPath },
          stderr: { kind: 'file', path: errPath },
        };
        return await sandbox.run(spec);
      } finally {
        if (!dir) sandbox.removeWorkDir(workDir);
      }
    };
    const withOutput = (r: RunResult) => ({
      ...r,
      ...(flags.has('--stdout') ? {} : { stdout: preview(outPath) }),
      ...(flags.has('--stderr') ? {} : { stderr: preview(errPath) }),
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
    rmSync(scratch, { recursive: true, force: true });
    await sandbox.close();
  }
}

function preview(path: string): string {
  try {
    const b = readFileSync(path);
    return b.subarray(0, PREVIEW_BYTES).toString('utf8') + (b.length > PREVIEW_BYTES ? `\n[... ${b.length - PREVIEW_BYTES} more bytes]` : '');
  } catch {
    return '';
  }
}
