#!/usr/bin/env bash
# `npm run test:docker`: builds the real image from docker/Dockerfile and runs it the way an
# operator would, with podman (these machines reach no container registry; the project tool
# ../shared/tools/container-env provides the base images and the podman settings).
#
# Checks: the image builds; the sandbox works inside it; the service becomes ready; an A+B
# submission in C++ is accepted, streamed over SSE up to its `verdict` event and is AC by GET;
# /metrics has gavel_ metrics; the HEALTHCHECK passes; SIGTERM (podman stop) while a submission
# runs drains and exits 0; a new container on the same data volume serves both submissions, AC.
# Leaves nothing behind but the image gavel:test (and its build cache), for the next run.
#
# Environment:
#   GAVEL_DOCKER_IMAGE     image tag (default gavel:test)
#   GAVEL_BUILD_CA         CA bundle for a TLS-intercepting proxy during the build (default:
#                          $NODE_EXTRA_CA_CERTS, else /etc/ssl/certs/ca-certificates.crt),
#                          passed as the build secret build-ca; see docker/Dockerfile
#   GAVEL_DOCKER_READY_S   how long to wait for /readyz (default 120)
set -uo pipefail

root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel 2>/dev/null || (cd "$(dirname "$0")/.." && pwd))
cd "$root"
image=${GAVEL_DOCKER_IMAGE:-gavel:test}
ready_s=${GAVEL_DOCKER_READY_S:-120}
name=gavel-test-docker-$$
volume=gavel-test-docker-$$
buildlog=/tmp/gavel-docker-build.$$.log
passed=0
failed=0

pass() { passed=$((passed + 1)); echo "ok - $1"; }
fail() { failed=$((failed + 1)); echo "not ok - $1" >&2; }
finish() {
  echo "docker: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}
elapsed() { echo "$((SECONDS - ${1}))s"; }

# Without systemd podman cannot schedule or unschedule healthcheck timers and says so at every
# run, stop and rm; expected here, so those lines are dropped.
quiet() {
  local rc
  { "$@" 2>&1 1>&3 3>&- | grep -v -e 'unable to get systemd connection' -e 'systemd connection to remove healthchecks' >&2; } 3>&1
  rc=${PIPESTATUS[0]}
  return "$rc"
}

cleanup() {
  podman rm -f -v -t 0 "$name" "$name-2" >/dev/null 2>&1
  podman volume rm -f "$volume" >/dev/null 2>&1
  rm -f "$buildlog"
  return 0
}
trap cleanup EXIT
trap 'echo "test-docker: interrupted; removing its containers" >&2; cleanup; exit 130' INT TERM

env_tool="$root/../shared/tools/container-env"
if [ ! -x "$env_tool" ]; then
  echo "test-docker: $env_tool not found; it comes with the project's shared/ directory beside the repository (see ../shared/README.md)" >&2
  fail "container-env available"
  finish
fi
t=$SECONDS
if ! out=$("$env_tool" 2>&1); then
  echo "$out" >&2
  fail "container-env prepares podman and the base images"
  finish
fi
echo "test-docker: container-env ready ($(elapsed $t))"

# ---- build -----------------------------------------------------------------------------------
# --format docker: the OCI format has no HEALTHCHECK. Layers are cached between runs.
build_args=(--format docker -f docker/Dockerfile -t "$image")
# The host's CA bundle goes to the build as a secret, so npm also works behind a proxy whose CA
# only the host trusts (as on the project's machines); elsewhere it changes nothing.
ca=${GAVEL_BUILD_CA:-${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}}
if [ -n "$ca" ] && [ -f "$ca" ]; then
  build_args+=(--secret "id=build-ca,src=$ca")
fi
old_id=$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
t=$SECONDS
if ! podman build "${build_args[@]}" . >"$buildlog" 2>&1; then
  tail -40 "$buildlog" >&2
  fail "image builds (podman build -f docker/Dockerfile)"
  finish
fi
new_id=$(podman image inspect --format '{{.Id}}' "$image")
# The image this build replaced is only a dangling copy now; drop it (not if a container uses it).
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then podman rmi "$old_id" >/dev/null 2>&1 || true; fi
# So are the build-stage images of earlier builds; the newest is this build's cache.
podman images -q --sort created --filter dangling=true --filter label=org.gavel.stage=build | tail -n +2 \
  | xargs -r podman rmi >/dev/null 2>&1 || true
pass "image builds ($(elapsed $t), $(podman image inspect --format '{{.Size}}' "$image" | awk '{printf "%d MB", $1/1e6}'))"

# ---- the sandbox inside the image ------------------------------------------------------------
out=$(podman run --rm --privileged --init --no-healthcheck "$image" gavel run -- /bin/echo hi 2>&1)
if printf '%s' "$out" | grep -q '"status":"OK"' && printf '%s' "$out" | grep -q '"stdout":"hi\\n"'; then
  pass "gavel run -- /bin/echo hi works in the container"
else
  fail "gavel run -- /bin/echo hi in the container: $out"
fi

if [ ! -f src/server.ts ] || ! podman run --rm --no-healthcheck "$image" test -f dist/src/server.js; then
  echo "test-docker: no server in the image yet (src/server.ts / dist/src/server.js); service checks skipped" >&2
  finish
fi

# ---- the service -----------------------------------------------------------------------------
# start NAME: runs the image as docs/deploy.md does (privileged, a loopback port, the data
# volume, a tmpfs on /run for the slot dirs). Without systemd podman cannot schedule the
# healthcheck, so it is run by hand below.
start() {
  quiet podman run -d --name "$1" --privileged --init -p 127.0.0.1::8080 \
    -v "$volume:/var/lib/gavel" --tmpfs /run:rw,exec,nosuid,nodev,size=512m \
    "$image" >/dev/null || return 1
  url="http://$(podman port "$1" 8080/tcp | head -1)"
}

# wait_ready NAME: polls /readyz until 200, the container dies, or the time is up.
wait_ready() {
  local deadline=$((SECONDS + ready_s))
  while [ $SECONDS -lt $deadline ]; do
    if [ "$(podman inspect --format '{{.State.Running}}' "$1" 2>/dev/null)" != true ]; then
      echo "test-docker: container $1 exited; its log:" >&2
      podman logs "$1" 2>&1 | tail -30 >&2
      return 1
    fi
    if curl -fsS -m 5 "$url/readyz" >/dev/null 2>&1; then return 0; fi
    sleep 0.3
  done
  echo "test-docker: $url/readyz not ready after ${ready_s}s; log:" >&2
  podman logs "$1" 2>&1 | tail -30 >&2
  curl -sS -m 5 "$url/readyz" >&2
  return 1
}

t=$SECONDS
if ! start "$name"; then fail "container starts"; finish; fi
if wait_ready "$name"; then pass "/readyz answers 200 ($(elapsed $t) after podman run)"; else fail "/readyz becomes ready"; finish; fi

# The client side, in Node (no EventSource needed): submit, follow the SSE stream to `verdict`,
# GET the result, scrape /metrics. Prints "ok - ..." / "not ok - ..." and the id on the last line.
client=$(cat <<'EOF'
const url = process.argv[1];
const say = (ok, what) => console.log(`${ok ? 'ok' : 'not ok'} - ${what}`);
const source = '#include <iostream>\nint main(){long long a,b;std::cin>>a>>b;std::cout<<a+b<<"\\n";}\n';
const body = { language: 'cpp', source, tests: [{ input: '1 2\n', expected: '3\n' }, { input: '5 7\n', expected: '12\n' }] };
const post = await fetch(`${url}/v1/submissions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const accepted = await post.json().catch(() => ({}));
say(post.status === 202 && typeof accepted.id === 'string', `POST /v1/submissions answers 202 with an id (${post.status} ${JSON.stringify(accepted)})`);
if (!accepted.id) process.exit(1);
const id = accepted.id;

// Follow the stream until its `verdict` event; bounded, as the compile runs in the container.
const ac = new AbortController();
const timer = setTimeout(() => ac.abort(), 120_000);
const types = [];
let verdict;
try {
  const res = await fetch(`${url}/v1/submissions/${id}/events`, { signal: ac.signal, headers: { accept: 'text/event-stream' } });
  let buf = '';
  const dec = new TextDecoder();
  for await (const chunk of res.body) {
    buf += dec.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const type = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (!type) continue;
      types.push(type);
      if (type === 'verdict') verdict = JSON.parse(data ?? '{}');
    }
    if (verdict) break;
  }
} catch (e) {
  console.error(`events stream: ${e.message}`);
} finally {
  clearTimeout(timer);
  ac.abort();
}
say(verdict?.verdict === 'AC', `the SSE stream ends with a verdict event, AC (events: ${types.join(' ')}; verdict: ${JSON.stringify(verdict)?.slice(0, 300)})`);

const got = await (await fetch(`${url}/v1/submissions/${id}`)).json();
say(got.status === 'finished' && got.verdict === 'AC' && got.tests?.length === 2 && got.tests.every((t) => t.verdict === 'AC'),
  `GET /v1/submissions/:id: finished, AC on both tests (${JSON.stringify(got).slice(0, 300)})`);

// Every built-in language is offered by the image and judges A+B as AC, with the programs
// test/languages.test.ts uses: this catches a toolchain missing from the image, or one the
// sandbox cannot see there (Node lives in /usr/local).
const { readdirSync, readFileSync } = await import('node:fs');
const fixtureDir = 'test/fixtures/languages';
const fixtures = new Map(readdirSync(fixtureDir).map((f) => [f.slice(0, f.indexOf('.')), readFileSync(`${fixtureDir}/${f}`, 'utf8')]));
const builtin = ['c', 'c11', 'c17', 'c23', 'cpp', 'cpp14', 'cpp17', 'cpp20', 'cpp23', 'python3', 'pypy3', 'java', 'kotlin',
  'scala', 'javascript', 'go', 'rust', 'csharp', 'haskell', 'ocaml', 'pascal', 'fortran', 'ada', 'ruby', 'php', 'perl', 'lua', 'bash'];
const offered = (await (await fetch(`${url}/v1/languages`)).json()).map((l) => l.id);
const verdicts = {};
for (const language of builtin) {
  if (!offered.includes(language)) { verdicts[language] = 'not offered'; continue; }
  const src = fixtures.get(language) ?? fixtures.get(language === 'pypy3' ? 'python' : language.replace(/\d+$/, ''));
  const r = await fetch(`${url}/v1/submissions`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ language, source: src, tests: [{ input: 'ab\n1 2\n', expected: '3\n' }], limits: { timeMs: 5000, memoryBytes: 256 << 20 } }) });
  const sid = (await r.json()).id;
  const until = Date.now() + 120_000;
  let v;
  do {
    await new Promise((res) => setTimeout(res, 200));
    v = await (await fetch(`${url}/v1/submissions/${sid}`)).json();
  } while (v.status !== 'finished' && Date.now() < until);
  verdicts[language] = v.verdict === 'AC' ? 'AC' : JSON.stringify(v).slice(0, 300);
}
const bad = Object.fromEntries(Object.entries(verdicts).filter(([, v]) => v !== 'AC'));
say(Object.keys(bad).length === 0, `all ${builtin.length} built-in languages are offered and judge A+B as AC (${Object.keys(bad).length ? JSON.stringify(bad) : 'all AC'})`);

const metrics = await (await fetch(`${url}/metrics`)).text();
const names = [...new Set([...metrics.matchAll(/^(gavel_[a-z0-9_]+)/gm)].map((m) => m[1]))];
say(names.length > 0, `/metrics exposes gavel_ metrics (${names.length}: ${names.slice(0, 6).join(', ')}${names.length > 6 ? ', ...' : ''})`);
console.log(`id ${id}`);
EOF
)
out=$(node --input-type=module -e "$client" "$url" 2>&1)
id=$(printf '%s\n' "$out" | sed -n 's/^id //p')
while IFS= read -r line; do
  case $line in
    'ok - '*) pass "${line#ok - }" ;;
    'not ok - '*) fail "${line#not ok - }" ;;
    'id '*) ;;
    *) echo "$line" >&2 ;;
  esac
done <<<"$out"
[ -n "$id" ] || fail "the client script ran to the end"

# The image's HEALTHCHECK command, run once as the engine would.
if out=$(quiet podman healthcheck run "$name" 2>&1); then pass "HEALTHCHECK passes"; else fail "HEALTHCHECK: $out"; fi

# Graceful stop: SIGTERM goes through the inits to Node, which stops taking work, lets the
# running submission finish (or leaves it queued for the next start) and exits 0 (not 143/137).
# A submission that sleeps 2 s is running when the signal arrives.
slow='#include <iostream>\n#include <unistd.h>\nint main(){usleep(2000000);long long a,b;std::cin>>a>>b;std::cout<<a+b<<\"\\n\";}\n'
slow_id=$(curl -fsS -m 10 -H 'content-type: application/json' "$url/v1/submissions" \
  -d "{\"language\":\"cpp\",\"source\":\"$slow\",\"tests\":[{\"input\":\"1 2\\n\",\"expected\":\"3\\n\"}],\"limits\":{\"timeMs\":5000,\"wallTimeMs\":20000}}" \
  | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
deadline=$((SECONDS + 60))
until [ -z "$slow_id" ] || [ $SECONDS -ge $deadline ] || curl -fsS -m 5 "$url/v1/submissions/$slow_id" | grep -qE '"status":"(running|finished)"'; do sleep 0.1; done
t=$SECONDS
quiet podman stop -t 60 "$name" >/dev/null
code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
log=$(podman logs "$name" 2>&1)
if [ -n "$slow_id" ] && [ "$code" = 0 ] && printf '%s' "$log" | grep -q '"msg":"shutting down"' && printf '%s' "$log" | grep -q '"msg":"stopped'; then
  running=$(printf '%s' "$log" | grep '"msg":"shutting down"' | sed -n 's/.*"running":\([0-9]*\).*/\1/p')
  pass "podman stop (SIGTERM) drains ($running running at the signal) and exits 0 ($(elapsed $t))"
else
  fail "podman stop: slow submission '$slow_id', exit code $code, log tail: $(printf '%s' "$log" | tail -5)"
fi
quiet podman rm -v "$name" >/dev/null

# The data volume outlives the container: a new one serves both submissions, AC (the slow one
# finished during the drain, or ran again at this start).
if [ -n "$id" ] && [ -n "$slow_id" ]; then
  if start "$name-2" && wait_ready "$name-2"; then
    ok=1
    for sid in "$id" "$slow_id"; do
      deadline=$((SECONDS + 60))
      until got=$(curl -fsS -m 10 "$url/v1/submissions/$sid") && printf '%s' "$got" | grep -q '"status":"finished"' || [ $SECONDS -ge $deadline ]; do sleep 0.2; done
      printf '%s' "$got" | grep -q '"verdict":"AC"' || { ok=0; echo "test-docker: after the restart GET /v1/submissions/$sid gave $got" >&2; }
    done
    if [ $ok = 1 ]; then pass "after a restart on the same volume both submissions are there, AC"
    else fail "after a restart on the same volume both submissions are there, AC"; fi
    quiet podman stop -t 60 "$name-2" >/dev/null
  else
    fail "a second container starts on the same volume"
  fi
fi

finish
