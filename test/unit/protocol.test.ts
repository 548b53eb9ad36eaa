// The wire protocol's two halves agree: every constant of native/protocol.h, read from the
// built libgavel.so, against src/sandbox/protocol.ts. Needs the library, not root.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { protocolTable } from '../../src/sandbox/native.js';
import { checkProtocol, GO_MAGIC, Note, PLAN_MAGIC, PROTOCOL, Rec, STEP_NAMES, Step } from '../../src/sandbox/protocol.js';

test('every constant of the C table matches protocol.ts, and none is missing on either side', () => {
  const table = protocolTable();
  assert.ok(table.length >= 60, `only ${table.length} entries in the C table`);
  assert.deepEqual(checkProtocol(table), []);
  assert.equal(table.length, Object.keys(PROTOCOL).length);
});

test('checkProtocol names a changed value, a constant only C has and one only TypeScript has', () => {
  const table = protocolTable().filter((e) => e.name !== 'GV_STEP_CLEANUP')
    .map((e) => (e.name === 'GV_ITEM_ENV' ? { ...e, value: 99 } : e));
  table.push({ name: 'GV_NEW_THING', value: 1 });
  const problems = checkProtocol(table);
  assert.equal(problems.length, 3, problems.join('\n'));
  assert.ok(problems.some((p) => p.includes('GV_ITEM_ENV') && p.includes('99')));
  assert.ok(problems.some((p) => p.includes('GV_NEW_THING') && p.includes('missing in protocol.ts')));
  assert.ok(problems.some((p) => p.includes('GV_STEP_CLEANUP') && p.includes('missing in native')));
});

test('each record kind has a magic of its own', () => {
  const magics = [PLAN_MAGIC, GO_MAGIC, ...Object.values(Rec), ...Object.values(Note)];
  assert.equal(new Set(magics).size, magics.length);
  // readable in a hex dump: four ASCII letters
  for (const m of magics) assert.match(Buffer.from(Uint32Array.of(m).buffer).toString('latin1'), /^[a-z!]{4}$/);
});

test('every step has a name, looked up by id', () => {
  for (const id of Object.values(Step)) assert.ok(STEP_NAMES[id], `step ${id} has no name`);
  assert.equal(STEP_NAMES[Step.MESSAGE], 'parsing the go message');
});
