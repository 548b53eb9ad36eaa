// `npm run bench:http`: POST /v1/run through the whole service with autocannon, on 1
// connection and on 16: /bin/true, and `cat a.txt` with `files: {"a.txt": …}` (the shape of
// go-judge's published benchmark), beside a bare Fastify route measured the same way in
// the same run (the ratio shows what the judge costs over plain HTTP). Both servers run in
// processes of their own, so the load generator does not share their event loop. CPU per
// run is reported for the service process, for the load generator (this process) and for
// the whole machine (/proc/stat), so the generator's share is visible.
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { freePort } from './ports.js';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const TRUE = JSON.stringify({ cmd: ['/bin/true'] });
const FILES = JSON.stringify({ cmd: ['/bin/cat', 'a.txt'], files: { 'a.txt': 'hello, gavel\n' } });
const CLK_TCK = 100;

/** CPU ms used so far: by process `pid` (all its threads), and by the whole machine. */
function cpuMs(pid: number): { proc: number; machine: number } {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const proc = (Number(f[11]) + Number(f[12])) * (1000 / CLK_TCK);
  const all = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const machine = (all.reduce((a, b) => a + b, 0) - all[3] - all[4]) * (1000 / CLK_TCK); // minus idle and iowait
  return { proc, machine };
}

interface Load { rps: number; p50: number; p99: number; non2xx: number; errors: number; cpu?: { serviceMs: number; generatorMs: number; machineMs: number } }

async function load(url: string, connections: number, body: string, serverPid?: number): Promise<Load> {
  const before = serverPid ? cpuMs(serverPid) : undefined;
  const gen0 = process.cpuUsage();
  const r = await autocannon({ url, connections, duration: SECONDS, method: 'POST', body, headers: { 'content-type': 'application/json' } });
  const out: Load = { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors };
  if (serverPid && before) {
    const after = cpuMs(serverPid);
    const gen = process.cpuUsage(gen0);
    const runs = Math.max(1, r.requests.total);
    out.cpu = {
      serviceMs: (after.proc - before.proc) / runs,
      generatorMs: (gen.user + gen.system) / 1000 / runs,
      machineMs: (after.machine - before.machine) / runs,
    };
  }
  return out;
}

async function waitReady(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} never became ready`);
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gavel-bench-http-'));
  const port = await freePort();
  const gavel = spawn(process.execPath, [join(here, '../src/server.js')], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env, PORT: String(port), HOST: '127.0.0.1', GAVEL_DATA_DIR: dataDir, LOG_LEVEL: 'warn',
      GAVEL_INSTANCE: `gavel-bench-${process.pid}`, GAVEL_RUN_QUEUE_MAX: '1000',
    },
  });
  const bare = spawn(process.execPath, [join(here, 'bare-server.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const bareUrl = await new Promise<string>((resolve) => bare.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim())));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitReady(`${url}/readyz`, gavel);
    const pool = (await (await fetch(`${url}/metrics`)).text()).match(/^gavel_pool_slots\{state="idle"\} (\d+)/m)?.[1] ?? '?';
    const rows: Array<{ name: string; connections: number; body: string; gavel: Load; bare: Load }> = [];
    for (const c of [1, 16]) {
      for (const [what, body] of [['/bin/true', TRUE], ['cat + 1 file', FILES]] as const) {
        await load(`${url}/v1/run`, c, body); // warm-up
        const g = await load(`${url}/v1/run`, c, body, gavel.pid);
        const b = await load(`${bareUrl}/v1/run`, c, body);
        if (g.non2xx || g.errors) throw new Error(`gavel answered ${g.non2xx} non-2xx and ${g.errors} errors at ${c} connections (${what})`);
        rows.push({ name: `${what}, ${c} conn`, connections: c, body, gavel: g, bare: b });
      }
    }
    console.log(`POST /v1/run, ${SECONDS} s each, pool of ${pool}; CPU ms per run: service process, load generator, whole machine`);
    console.log(`${''.padEnd(22)} ${'gavel runs/s'.padStart(12)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)}  ${'bare req/s'.padStart(10)}  ratio  ${'svc'.padStart(5)} ${'gen'.padStart(5)} ${'all'.padStart(5)}`);
    for (const { name, gavel: g, bare: b } of rows) {
      const cpu = g.cpu ? [g.cpu.serviceMs, g.cpu.generatorMs, g.cpu.machineMs].map((v) => v.toFixed(2).padStart(5)).join(' ') : '';
      console.log(`${name.padEnd(22)} ${g.rps.toFixed(0).padStart(12)} ${String(g.p50).padStart(7)} ${String(g.p99).padStart(7)}  ${b.rps.toFixed(0).padStart(10)}  ${(g.rps / b.rps).toFixed(3)}  ${cpu}`);
    }
    const rate = (n: string) => rows.find((r) => r.name === n)!.gavel.rps;
    console.log(`files / no files: 1 conn ${(rate('/bin/true, 1 conn') / rate('cat + 1 file, 1 conn')).toFixed(2)}x, 16 conn ${(rate('/bin/true, 16 conn') / rate('cat + 1 file, 16 conn')).toFixed(2)}x slower`);
    console.log(JSON.stringify({ bench: 'http', rows: rows.map(({ body, ...r }) => ({ ...r, request: JSON.parse(body) })) }));
  } finally {
    await Promise.all([stop(gavel), stop(bare)]);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
