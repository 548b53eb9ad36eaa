// Configuration from the environment: defaults, size and boolean syntax, errors that name the
// variable, secrets kept out of the startup log line.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, describeConfig, loadConfig, parseBytes } from '../src/config.js';

describe('config', () => {
  test('an empty environment gives every default', () => {
    const c = loadConfig({});
    assert.equal(c.port, 8080);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.dataDir, path.resolve('data'));
    assert.equal(c.poolSize, undefined);
    assert.equal(c.queueMax, 1000);
    assert.equal(c.bodyLimit, 64 * 1024 * 1024);
    assert.equal(c.maxTests, 1000);
    assert.deepEqual(c.tokens, []);
    assert.equal(c.retentionHours, 168);
    assert.equal(c.heartbeatMs, 15_000);
    assert.equal(c.shutdownMs, 30_000);
    assert.equal(c.sqliteSync, 'FULL');
    assert.equal(c.logLevel, 'info');
    assert.equal(c.instance, 'gavel');
    assert.equal(c.uploadTimeoutMs, 30 * 60_000);
    assert.equal(c.uploadMinBytesPerSec, 16384);
  });

  test('values are parsed: sizes with units, booleans, token lists', () => {
    const c = loadConfig({
      PORT: '0', GAVEL_BODY_LIMIT: '1.5MiB', GAVEL_MAX_TESTS_BYTES: '512k', GAVEL_TOKENS: ' a, b ,,c ',
      GAVEL_AUTH_METRICS: 'yes', GAVEL_AUTH_HEALTH: 'off', GAVEL_POOL_SIZE: '4', GAVEL_SQLITE_SYNC: 'normal', LOG_LEVEL: 'warn',
      GAVEL_DATA_DIR: '/var/lib/gavel',
    });
    assert.equal(c.port, 0);
    assert.equal(c.bodyLimit, 1.5 * 1024 * 1024);
    assert.equal(c.maxTestsBytes, 512 * 1024);
    assert.deepEqual(c.tokens, ['a', 'b', 'c']);
    assert.equal(c.authMetrics, true);
    assert.equal(c.authHealth, false);
    assert.equal(c.poolSize, 4);
    assert.equal(c.sqliteSync, 'NORMAL');
    assert.equal(c.logLevel, 'warn');
    assert.equal(c.dataDir, '/var/lib/gavel');
    assert.equal(parseBytes('64MiB'), 64 * 1024 * 1024);
    assert.equal(parseBytes('12 parsecs'), undefined);
  });

  test('bad values fail at start, naming every bad variable', () => {
    assert.throws(() => loadConfig({ PORT: 'eighty', GAVEL_QUEUE_MAX: '0', GAVEL_BODY_LIMIT: 'lots', GAVEL_AUTH_HEALTH: 'maybe' }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /PORT="eighty" is not an integer/);
      assert.match(err.message, /GAVEL_BODY_LIMIT="lots" is not a size/);
      assert.match(err.message, /GAVEL_AUTH_HEALTH="maybe" is not a boolean/);
      return true;
    });
    assert.throws(() => loadConfig({ GAVEL_QUEUE_MAX: '0' }), /GAVEL_QUEUE_MAX: must be >= 1/);
    assert.throws(() => loadConfig({ PORT: '70000' }), /PORT/);
    assert.throws(() => loadConfig({ LOG_LEVEL: 'loud' }), /LOG_LEVEL/);
    assert.throws(() => loadConfig({ GAVEL_SQLITE_SYNC: 'OFF' }), /GAVEL_SQLITE_SYNC/);
    assert.throws(() => loadConfig({ GAVEL_REQUEST_TIMEOUT_MS: '90000', GAVEL_UPLOAD_TIMEOUT_MS: '60000' }), /GAVEL_UPLOAD_TIMEOUT_MS must not be below/);
  });

  test('the startup summary hides tokens and the webhook secret', () => {
    const d = describeConfig(loadConfig({ GAVEL_TOKENS: 'tok1,tok2', GAVEL_WEBHOOK_SECRET: 'shh' }));
    assert.equal(d.tokens, 2);
    assert.equal(d.webhookSecret, 'set');
    assert.doesNotMatch(JSON.stringify(d), /tok1|shh/);
  });
});
