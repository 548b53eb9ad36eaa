// `npm run bench:http`: POST /v1/run of /bin/true through the whole service with
// autocannon, on 1 connection and on 16, beside a bare Fastify route measured the same
// way in the same run (the ratio shows what the judge costs over plain HTTP).
import autocannon from 'autocannon';
import Fastify from 'fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config.js';
import { startServer } from '../src/server.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const BODY = JSON.stringify({ cmd: ['/bin/true'] });

async function load(url: string, connections: number): Promise<{ rps: number; p50: number; p99: number; non2xx: number; errors: number }> {
  const r = await autocannon({
    url, connections, duration: SECONDS, method: 'POST', body: BODY,
    headers: { 'content-type': 'application/json' },
  });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, non2xx: r.non2xx, errors: r.errors };
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gavel-bench-http-'));
  const bare = Fastify();
  bare.post('/v1/run', async () => ({ status: 'OK', exitCode: 0, signal: null, cpuTimeMs: 0, wallTimeMs: 0, memoryBytes: 0, stdout: '', stderr: '' }));
  const bareUrl = await bare.listen({ host: '127.0.0.1', port: 0 });
  const config = loadConfig({
    ...process.env, PORT: '0', HOST: '127.0.0.1', GAVEL_DATA_DIR: dataDir, LOG_LEVEL: 'warn',
    GAVEL_INSTANCE: `gavel-bench-${process.pid}`, GAVEL_RUN_QUEUE_MAX: '1000',
  });
  const service = await startServer(config);
  try {
    const rows: Array<[string, number, Awaited<ReturnType<typeof load>>, Awaited<ReturnType<typeof load>>]> = [];
    for (const c of [1, 16]) {
      const g = await load(`${service.url}/v1/run`, c);
      const b = await load(`${bareUrl}/v1/run`, c);
      if (g.non2xx || g.errors) throw new Error(`gavel answered ${g.non2xx} non-2xx and ${g.errors} errors at ${c} connections`);
      rows.push([`${c} connection${c > 1 ? 's' : ''}`, c, g, b]);
    }
    console.log(`POST /v1/run {cmd:["/bin/true"]}, ${SECONDS} s each, pool of ${service.judge.pool().size}`);
    console.log(`${''.padEnd(14)} ${'gavel runs/s'.padStart(13)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)}   ${'bare Fastify req/s'.padStart(18)}   ratio`);
    for (const [name, , g, b] of rows) {
      console.log(`${name.padEnd(14)} ${g.rps.toFixed(0).padStart(13)} ${String(g.p50).padStart(7)} ${String(g.p99).padStart(7)}   ${b.rps.toFixed(0).padStart(18)}   ${(g.rps / b.rps).toFixed(3)}`);
    }
    console.log(JSON.stringify({ bench: 'http', rows: rows.map(([name, c, g, b]) => ({ name, connections: c, gavel: g, bare: b })) }));
  } finally {
    await service.stop();
    await bare.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
