// Writes openapi.yaml (repo root) from the app's route schemas: `npm run openapi`.
// The document does not depend on configuration or on the judge, so a judge that only answers
// "no languages" is enough to build the app here (nothing is ever judged).
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { configWith } from '../src/config.js';
import type { Judge } from '../src/judge/schema.js';
import { createServices } from '../src/services.js';
import { buildApp } from '../src/app.js';
import { renderOpenApi } from '../routes/openapi.js';

/** Renders the document without listening anywhere. */
export async function generateOpenApi(): Promise<string> {
  const config = configWith({ dataDir: ':memory:', logLevel: 'silent' });
  const logger = pino({ level: 'silent' });
  const docOnly: Judge = {
    languages: () => [],
    caps: { timeMs: 1, wallTimeMs: 1, memoryBytes: 1, outputBytes: 1, processes: 1 },
    judge: () => Promise.reject(new Error('documentation build: no judge')),
    validate: () => undefined,
    validateRun: () => undefined,
    execute: () => Promise.reject(new Error('documentation build: no judge')),
    pool: () => ({ size: 0, busy: 0 }),
    close: async () => undefined,
  };
  const svc = await createServices(config, docOnly, logger);
  const app = buildApp({
    config, judge: docOnly, store: svc.store, submissions: svc.submissions, runs: svc.runs, bus: svc.bus, metrics: svc.metrics, logger,
    readiness: svc.readiness, queueStats: async () => ({ depth: 0, inFlight: 0 }),
  });
  try {
    await app.ready();
    return renderOpenApi(app);
  } finally {
    await app.close();
    await svc.close(false);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const target = fileURLToPath(new URL('../../openapi.yaml', import.meta.url));
  writeFileSync(target, await generateOpenApi());
  process.stdout.write(`wrote ${target}\n`);
}
