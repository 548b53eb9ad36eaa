// `npm run bench:http`: POST /v1/run of /bin/true through the whole service with
// autocannon, on 1 connection and on 16, beside a bare Fastify route measured the same
// way in the same run (the ratio shows what the judge costs over plain HTTP). Both
// servers run in processes of their own, so the load generator does not share their
// event loop.
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { freePort } from './ports.js';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const BODY = JSON.stringify({ cmd: ['/bin/true'] });

async function load(url: string, connections: number): Promise<{ rps: number; p50: number; p99: number; non2xx: number; errors: number }> {
  const r = await autocannon({
    url, connections, duration: SECONDS, method: 'POST', body: BODY,
    headers: { 'content-type': 'application/json' },
  });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors };
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
    const rows: Array<[string, number, Awaited<ReturnType<typeof load>>, Awaited<ReturnType<typeof load>>]> = [];
    for (const c of [1, 16]) {
      await load(`${url}/v1/run`, c); // warm-up
      const g = await load(`${url}/v1/run`, c);
      const b = await load(`${bareUrl}/v1/run`, c);
      if (g.non2xx || g.errors) throw new Error(`gavel answered ${g.non2xx} non-2xx and ${g.errors} errors at ${c} connections`);
      rows.push([`${c} connection${c > 1 ? 's' : ''}`, c, g, b]);
    }
    console.log(`POST /v1/run {cmd:["/bin/true"]}, ${SECONDS} s each, pool of ${pool}`);
    console.log(`${''.padEnd(14)} ${'gavel runs/s'.padStart(13)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)}   ${'bare Fastify req/s'.padStart(18)}   ratio`);
    for (const [name, , g, b] of rows) {
      console.log(`${name.padEnd(14)} ${g.rps.toFixed(0).padStart(13)} ${String(g.p50).padStart(7)} ${String(g.p99).padStart(7)}   ${b.rps.toFixed(0).padStart(18)}   ${(g.rps / b.rps).toFixed(3)}`);
    }
    console.log(JSON.stringify({ bench: 'http', rows: rows.map(([name, c, g, b]) => ({ name, connections: c, gavel: g, bare: b })) }));
  } finally {
    await Promise.all([stop(gavel), stop(bare)]);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
