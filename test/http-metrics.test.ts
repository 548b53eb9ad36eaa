// /metrics: Prometheus text that promtool accepts, with the service's own series filled in by
// real traffic.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { FakeJudge, fakeSubmission, request, startTestServer, waitFinished, type TestServer } from './helpers/server.js';

describe('metrics', () => {
  let s: TestServer;
  let text: string;
  before(async () => {
    s = await startTestServer({ judge: new FakeJudge(2) });
    for (const program of ['echo', 'wrong', 'ce', 'throw']) {
      const r = await request(s.url, 'POST', '/v1/submissions', fakeSubmission(program, 2));
      await waitFinished(s.url, r.body.id);
    }
    await request(s.url, 'POST', '/v1/run', { cmd: ['cat'], stdin: 'x' });
    await request(s.url, 'GET', '/v1/submissions/unknown');
    await request(s.url, 'GET', '/no/such/route');
    const res = await fetch(`${s.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    text = await res.text();
  });
  after(async () => { await s.close(); });

  test('promtool check metrics accepts the output', () => {
    const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
    assert.ok(!probe.error, 'promtool is missing: install the Debian package "prometheus" (npm test does, via scripts/deps.sh)');
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(r.status, 0, `promtool: ${r.stdout}${r.stderr}`);
  });

  test('the service series are there, with values from the traffic above', () => {
    const has = (re: RegExp) => assert.match(text, re);
    has(/^gavel_submissions_total\{language="fake",verdict="AC"\} 1$/m);
    has(/^gavel_submissions_total\{language="fake",verdict="WA"\} 1$/m);
    has(/^gavel_submissions_total\{language="fake",verdict="CE"\} 1$/m);
    has(/^gavel_submissions_total\{language="fake",verdict="IE"\} 1$/m);
    has(/^gavel_queue_depth 0$/m);
    has(/^gavel_queue_wait_seconds_count 4$/m);
    has(/^gavel_phase_duration_seconds_count\{phase="compile"\} 3$/m);
    has(/^gavel_phase_duration_seconds_count\{phase="run"\} 2$/m);
    has(/^gavel_phase_duration_seconds_count\{phase="check"\} 4$/m);
    has(/^gavel_test_cpu_seconds_count 4$/m);
    has(/^gavel_test_memory_peak_bytes_count 4$/m);
    has(/^gavel_pool_slots\{state="busy"\} 0$/m);
    has(/^gavel_pool_slots\{state="idle"\} 2$/m);
    has(/^gavel_sandbox_errors_total\{kind="submission"\} 1$/m);
    has(/^gavel_runs_total\{status="OK"\} 1$/m);
    has(/^gavel_http_request_duration_seconds_count\{method="POST",route="\/v1\/submissions",status_code="202"\} 4$/m);
    has(/^gavel_http_request_duration_seconds_count\{method="GET",route="\/v1\/submissions\/:id",status_code="404"\} 1$/m);
    has(/^gavel_http_request_duration_seconds_count\{method="GET",route="unmatched",status_code="404"\} 1$/m);
    has(/^process_cpu_seconds_total /m);
    has(/^nodejs_heap_size_used_bytes /m);
  });
});
