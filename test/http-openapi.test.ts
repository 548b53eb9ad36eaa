// The committed openapi.yaml is exactly what the app serves (regenerate with `npm run openapi`),
// it describes every /v1 route, and Redocly's linter accepts it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { generateOpenApi } from '../scripts/openapi.js';
import { request, startTestServer, type TestServer } from './helpers/server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FILE = `${ROOT}openapi.yaml`;

describe('OpenAPI', () => {
  let s: TestServer;
  before(async () => { s = await startTestServer({ config: { tokens: ['t'], bodyLimit: 12345 } }); });
  after(async () => { await s.close(); });

  test('the served /openapi.yaml equals the committed file', async () => {
    const served = await request(s.url, 'GET', '/openapi.yaml');
    assert.equal(served.status, 200);
    assert.match(served.headers.get('content-type') ?? '', /yaml/);
    const committed = readFileSync(FILE, 'utf8');
    assert.ok(served.text === committed, 'openapi.yaml is stale: run `npm run openapi` and commit it');
    assert.equal(await generateOpenApi(), committed, 'the generator script writes the same document');
  });

  test('it documents every route with its schemas', () => {
    const doc = YAML.parse(readFileSync(FILE, 'utf8'));
    assert.equal(doc.openapi, '3.1.0');
    for (const [path, method] of [
      ['/v1/submissions', 'post'], ['/v1/submissions/{id}', 'get'], ['/v1/submissions/{id}', 'delete'],
      ['/v1/submissions/{id}/events', 'get'], ['/v1/run', 'post'], ['/v1/languages', 'get'],
      ['/healthz', 'get'], ['/readyz', 'get'], ['/metrics', 'get'],
    ]) {
      assert.ok(doc.paths[path]?.[method], `${method.toUpperCase()} ${path} is documented`);
    }
    const post = doc.paths['/v1/submissions'].post;
    // Tests are inline ("tests") or an imported problem's ("problem"): neither is required alone.
    assert.deepEqual(post.requestBody.content['application/json'].schema.required, ['language']);
    assert.ok(post.requestBody.content['application/json'].schema.properties.problem);
    assert.ok(post.responses['202'] && post.responses['429'] && post.responses['413']);
    assert.ok(doc.components.schemas.SubmissionView && doc.components.schemas.ErrorBody);
    assert.ok(doc.paths['/v1/submissions/{id}/events'].get.responses['200'].content['text/event-stream']);
  });

  test('redocly lint passes', () => {
    const r = spawnSync(process.execPath, [`${ROOT}node_modules/@redocly/cli/bin/cli.js`, 'lint', '--format=stylish', 'openapi.yaml'], {
      cwd: ROOT, encoding: 'utf8', timeout: 300_000,
      env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
    });
    assert.equal(r.status, 0, `redocly lint:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout + r.stderr, /Your API description is valid/);
    assert.doesNotMatch(r.stdout + r.stderr, /You have \d+ warning/);
  });
});
