// Configuration from environment variables, validated with TypeBox. Every variable, its
// default and meaning is listed in README.md (## Configuration); keep the two in step.
import path from 'node:path';
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';

const LogLevel = Type.Union([
  Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'),
  Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent'),
]);

export const Config = Type.Object({
  port: Type.Integer({ minimum: 0, maximum: 65535 }),
  host: Type.String({ minLength: 1 }),
  dataDir: Type.String({ minLength: 1 }),
  poolSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 1024 })),
  instance: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }),
  uidBase: Type.Optional(Type.Integer({ minimum: 1000, maximum: 4_000_000_000 })),
  languagesFile: Type.Optional(Type.String({ minLength: 1 })),
  allowUnlimited: Type.Boolean(),
  queueMax: Type.Integer({ minimum: 1 }),
  runQueueMax: Type.Integer({ minimum: 0 }),
  bodyLimit: Type.Integer({ minimum: 1024 }),
  requestTimeoutMs: Type.Integer({ minimum: 100 }),
  headersTimeoutMs: Type.Integer({ minimum: 100 }),
  uploadTimeoutMs: Type.Integer({ minimum: 100 }),
  uploadMinBytesPerSec: Type.Integer({ minimum: 0 }),
  keepAliveTimeoutMs: Type.Integer({ minimum: 0 }),
  maxRequestsPerSocket: Type.Integer({ minimum: 0 }),
  maxConnections: Type.Integer({ minimum: 1 }),
  maxConnectionsPerClient: Type.Integer({ minimum: 0 }),
  maxTests: Type.Integer({ minimum: 1 }),
  maxTestsBytes: Type.Integer({ minimum: 1 }),
  maxSourceBytes: Type.Integer({ minimum: 1 }),
  maxProblemBytes: Type.Integer({ minimum: 1024 }),
  maxProblemFiles: Type.Integer({ minimum: 1 }),
  compileCacheBytes: Type.Integer({ minimum: 0 }),
  tokens: Type.Array(Type.String({ minLength: 1 })),
  authMetrics: Type.Boolean(),
  authHealth: Type.Boolean(),
  webhookSecret: Type.String(),
  callbackHosts: Type.Array(Type.String()),
  webhookAttempts: Type.Integer({ minimum: 1, maximum: 50 }),
  webhookBackoffMs: Type.Integer({ minimum: 1 }),
  webhookTimeoutMs: Type.Integer({ minimum: 1 }),
  retentionHours: Type.Number({ minimum: 0 }),
  retentionCheckMs: Type.Integer({ minimum: 100 }),
  heartbeatMs: Type.Integer({ minimum: 10 }),
  sseRetryMs: Type.Integer({ minimum: 0 }),
  telemetryHz: Type.Number({ exclusiveMinimum: 0, maximum: 1000 }),
  shutdownMs: Type.Integer({ minimum: 0 }),
  sqliteSync: Type.Union([Type.Literal('FULL'), Type.Literal('NORMAL')]),
  logLevel: LogLevel,
  // Cluster mode (both URLs set); see src/cluster/.
  databaseUrl: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  redisUrl: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  role: Type.Union([Type.Literal('api'), Type.Literal('worker'), Type.Literal('all')]),
  advertiseUrl: Type.Optional(Type.String({ pattern: '^https?://' })),
  redisPrefix: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }),
  jobLockMs: Type.Integer({ minimum: 1000 }),
  jobMaxStalled: Type.Integer({ minimum: 0, maximum: 100 }),
  databasePoolSize: Type.Integer({ minimum: 2, maximum: 1000 }),
  webhookLeaseMs: Type.Integer({ minimum: 1000 }),
});
export type Config = Static<typeof Config>;

type Kind = 'int' | 'number' | 'bytes' | 'string' | 'upper' | 'bool' | 'list' | 'path';

/** env var → config key, parser and default (undefined: optional, no default). */
const VARS: ReadonlyArray<{ env: string; key: keyof Config; kind: Kind; def?: string }> = [
  { env: 'PORT', key: 'port', kind: 'int', def: '8080' },
  { env: 'HOST', key: 'host', kind: 'string', def: '127.0.0.1' },
  { env: 'GAVEL_DATA_DIR', key: 'dataDir', kind: 'path', def: './data' },
  { env: 'GAVEL_POOL_SIZE', key: 'poolSize', kind: 'int' },
  { env: 'GAVEL_INSTANCE', key: 'instance', kind: 'string', def: 'gavel' },
  { env: 'GAVEL_UID_BASE', key: 'uidBase', kind: 'int' },
  { env: 'GAVEL_LANGUAGES', key: 'languagesFile', kind: 'path' },
  { env: 'GAVEL_ALLOW_UNLIMITED', key: 'allowUnlimited', kind: 'bool', def: 'false' },
  { env: 'GAVEL_QUEUE_MAX', key: 'queueMax', kind: 'int', def: '1000' },
  { env: 'GAVEL_RUN_QUEUE_MAX', key: 'runQueueMax', kind: 'int', def: '100' },
  { env: 'GAVEL_BODY_LIMIT', key: 'bodyLimit', kind: 'bytes', def: '64MiB' },
  { env: 'GAVEL_REQUEST_TIMEOUT_MS', key: 'requestTimeoutMs', kind: 'int', def: '60000' },
  { env: 'GAVEL_HEADERS_TIMEOUT_MS', key: 'headersTimeoutMs', kind: 'int', def: '10000' },
  { env: 'GAVEL_UPLOAD_TIMEOUT_MS', key: 'uploadTimeoutMs', kind: 'int', def: '1800000' },
  { env: 'GAVEL_UPLOAD_MIN_BYTES_PER_SEC', key: 'uploadMinBytesPerSec', kind: 'int', def: '16384' },
  { env: 'GAVEL_KEEPALIVE_TIMEOUT_MS', key: 'keepAliveTimeoutMs', kind: 'int', def: '5000' },
  { env: 'GAVEL_MAX_REQUESTS_PER_SOCKET', key: 'maxRequestsPerSocket', kind: 'int', def: '0' },
  { env: 'GAVEL_MAX_CONNECTIONS', key: 'maxConnections', kind: 'int', def: '4096' },
  { env: 'GAVEL_MAX_CONNECTIONS_PER_CLIENT', key: 'maxConnectionsPerClient', kind: 'int', def: '0' },
  { env: 'GAVEL_MAX_TESTS', key: 'maxTests', kind: 'int', def: '1000' },
  { env: 'GAVEL_MAX_TESTS_BYTES', key: 'maxTestsBytes', kind: 'bytes', def: '32MiB' },
  { env: 'GAVEL_MAX_SOURCE_BYTES', key: 'maxSourceBytes', kind: 'bytes', def: '4MiB' },
  { env: 'GAVEL_MAX_PROBLEM_BYTES', key: 'maxProblemBytes', kind: 'bytes', def: '4GiB' },
  { env: 'GAVEL_MAX_PROBLEM_FILES', key: 'maxProblemFiles', kind: 'int', def: '20000' },
  { env: 'GAVEL_COMPILE_CACHE_BYTES', key: 'compileCacheBytes', kind: 'bytes', def: '256MiB' },
  { env: 'GAVEL_TOKENS', key: 'tokens', kind: 'list', def: '' },
  { env: 'GAVEL_AUTH_METRICS', key: 'authMetrics', kind: 'bool', def: 'false' },
  { env: 'GAVEL_AUTH_HEALTH', key: 'authHealth', kind: 'bool', def: 'false' },
  { env: 'GAVEL_WEBHOOK_SECRET', key: 'webhookSecret', kind: 'string', def: '' },
  { env: 'GAVEL_CALLBACK_HOSTS', key: 'callbackHosts', kind: 'list', def: '' },
  { env: 'GAVEL_WEBHOOK_ATTEMPTS', key: 'webhookAttempts', kind: 'int', def: '5' },
  { env: 'GAVEL_WEBHOOK_BACKOFF_MS', key: 'webhookBackoffMs', kind: 'int', def: '1000' },
  { env: 'GAVEL_WEBHOOK_TIMEOUT_MS', key: 'webhookTimeoutMs', kind: 'int', def: '10000' },
  { env: 'GAVEL_RETENTION_HOURS', key: 'retentionHours', kind: 'number', def: '168' },
  { env: 'GAVEL_RETENTION_CHECK_MS', key: 'retentionCheckMs', kind: 'int', def: '600000' },
  { env: 'GAVEL_HEARTBEAT_MS', key: 'heartbeatMs', kind: 'int', def: '15000' },
  { env: 'GAVEL_SSE_RETRY_MS', key: 'sseRetryMs', kind: 'int', def: '2000' },
  { env: 'GAVEL_TELEMETRY_HZ', key: 'telemetryHz', kind: 'number', def: '4' },
  { env: 'GAVEL_SHUTDOWN_MS', key: 'shutdownMs', kind: 'int', def: '30000' },
  { env: 'GAVEL_SQLITE_SYNC', key: 'sqliteSync', kind: 'upper', def: 'FULL' },
  { env: 'LOG_LEVEL', key: 'logLevel', kind: 'string', def: 'info' },
  { env: 'GAVEL_DATABASE_URL', key: 'databaseUrl', kind: 'string' },
  { env: 'GAVEL_REDIS_URL', key: 'redisUrl', kind: 'string' },
  { env: 'GAVEL_ROLE', key: 'role', kind: 'string', def: 'all' },
  { env: 'GAVEL_ADVERTISE_URL', key: 'advertiseUrl', kind: 'string' },
  { env: 'GAVEL_REDIS_PREFIX', key: 'redisPrefix', kind: 'string', def: 'gavel' },
  { env: 'GAVEL_JOB_LOCK_MS', key: 'jobLockMs', kind: 'int', def: '30000' },
  { env: 'GAVEL_JOB_MAX_STALLED', key: 'jobMaxStalled', kind: 'int', def: '2' },
  { env: 'GAVEL_DATABASE_POOL', key: 'databasePoolSize', kind: 'int', def: '16' },
  { env: 'GAVEL_WEBHOOK_LEASE_MS', key: 'webhookLeaseMs', kind: 'int', def: '900000' },
];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

const UNITS: Record<string, number> = {
  '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3,
};

/** "64MiB" → 67108864; undefined when the text is not a size. */
export function parseBytes(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = UNITS[m[2].toLowerCase()];
  if (unit === undefined) return undefined;
  return Math.round(Number(m[1]) * unit);
}

function parseValue(kind: Kind, raw: string, env: string): unknown {
  const text = raw.trim();
  switch (kind) {
    case 'int':
      if (!/^-?\d+$/.test(text)) throw new Error(`${env}=${JSON.stringify(raw)} is not an integer`);
      return Number(text);
    case 'number':
      if (text === '' || !Number.isFinite(Number(text))) throw new Error(`${env}=${JSON.stringify(raw)} is not a number`);
      return Number(text);
    case 'bytes': {
      const n = parseBytes(text);
      if (n === undefined) throw new Error(`${env}=${JSON.stringify(raw)} is not a size (e.g. 1048576, 512KiB, 64MiB)`);
      return n;
    }
    case 'bool': {
      const t = text.toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(t)) return true;
      if (['0', 'false', 'no', 'off', ''].includes(t)) return false;
      throw new Error(`${env}=${JSON.stringify(raw)} is not a boolean (true/false)`);
    }
    case 'list':
      return text.split(',').map((s) => s.trim()).filter(Boolean);
    case 'path':
      return path.resolve(text);
    case 'upper':
      return text.toUpperCase();
    case 'string':
      return text;
  }
}

/** Reads the configuration from `env`; throws ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  const envOf = new Map<string, string>();
  for (const v of VARS) {
    envOf.set(v.key, v.env);
    const raw = env[v.env] !== undefined && env[v.env] !== '' ? env[v.env] : v.def;
    if (raw === undefined) continue;
    try {
      out[v.key] = parseValue(v.kind, raw, v.env);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  if (problems.length === 0 && !Value.Check(Config, out)) {
    for (const e of Value.Errors(Config, out)) {
      const key = e.instancePath.split('/')[1] ?? '';
      problems.push(`${envOf.get(key) ?? key}: ${e.message}`);
    }
  }
  if (problems.length === 0 && (out.databaseUrl === undefined) !== (out.redisUrl === undefined)) {
    problems.push('cluster mode needs both GAVEL_DATABASE_URL and GAVEL_REDIS_URL (set both, or neither for single-node mode)');
  }
  if (problems.length === 0 && out.databaseUrl === undefined && out.role !== 'all') {
    problems.push(`GAVEL_ROLE=${String(out.role)} needs cluster mode (GAVEL_DATABASE_URL and GAVEL_REDIS_URL)`);
  }
  if (problems.length === 0 && (out.headersTimeoutMs as number) > (out.requestTimeoutMs as number)) {
    problems.push('GAVEL_HEADERS_TIMEOUT_MS must not exceed GAVEL_REQUEST_TIMEOUT_MS (the headers are part of the request)');
  }
  if (problems.length === 0 && (out.uploadTimeoutMs as number) < (out.requestTimeoutMs as number)) {
    problems.push('GAVEL_UPLOAD_TIMEOUT_MS must not be below GAVEL_REQUEST_TIMEOUT_MS (an upload gets at least what any request gets)');
  }
  if (problems.length) throw new ConfigError(problems);
  return out as Config;
}

/** The defaults with some keys replaced (tests, scripts). */
export function configWith(overrides: Partial<Config> = {}): Config {
  return { ...loadConfig({}), ...overrides };
}

/** The configuration as one loggable object, secrets reduced to whether they are set. */
export function describeConfig(c: Config): Record<string, unknown> {
  const hidePassword = (u?: string) => u?.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:…@');
  return {
    ...c, tokens: c.tokens.length, webhookSecret: c.webhookSecret ? 'set' : 'unset',
    databaseUrl: hidePassword(c.databaseUrl), redisUrl: hidePassword(c.redisUrl),
  };
}
