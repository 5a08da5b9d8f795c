// The client's consent-request convention (src/app/consent.js, docs/API.md §16c, issue 12): the
// request's plaintext as the doctor's page makes it, the patient's parser, and which decrypted
// metadata falls under a scope (all; StudyInstanceUID equal; StudyDate within, inclusive).
// Also the pages' reading of IMAGE.patient / IMAGE.deidentified with the metadata's claim
// (src/app/images.js aboutImage).
import test from 'node:test';
import assert from 'node:assert/strict';
import { REQUEST_TYPE, makeRequest, matchesScope, parseRequest, scopeText } from '../src/app/consent.js';
import { aboutImage, deidentificationClaim } from '../src/app/images.js';

const bytes = (o) => new TextEncoder().encode(JSON.stringify(o));

test('makeRequest: the three scopes, and what it refuses', () => {
  assert.deepEqual(makeRequest({ scope: 'all', reason: ' second opinion ' }), { type: REQUEST_TYPE, scope: 'all', reason: 'second opinion' });
  assert.deepEqual(makeRequest({ scope: 'study', study: '1.2.826.0.1.3680043.8.498.2', reason: 'r' }),
    { type: REQUEST_TYPE, scope: 'study', study: '1.2.826.0.1.3680043.8.498.2', reason: 'r' });
  assert.deepEqual(makeRequest({ scope: 'range', from: '2024-01-01', to: '2024-03-31', reason: 'r' }),
    { type: REQUEST_TYPE, scope: 'range', from: '20240101', to: '20240331', reason: 'r' });
  assert.throws(() => makeRequest({ scope: 'all', reason: '  ' }), /Give a reason/);
  assert.throws(() => makeRequest({ scope: 'all', reason: 'é'.repeat(2049) }), /4098 bytes; at most 4096/);
  assert.throws(() => makeRequest({ scope: 'study', study: 'abc', reason: 'r' }), /digits and dots/);
  assert.throws(() => makeRequest({ scope: 'range', from: '2024-03-01', to: '2024-02-01', reason: 'r' }), /starts after it ends/);
  assert.throws(() => makeRequest({ scope: 'range', from: '2024-02-30', to: '2024-03-01', reason: 'r' }), /both dates/);
  assert.throws(() => makeRequest({ scope: 'some', reason: 'r' }), /Choose what/);
});

test('parseRequest reads what makeRequest makes and refuses anything else', () => {
  for (const v of [{ scope: 'all', reason: 'x' }, { scope: 'study', study: '1.2.3', reason: 'x' }, { scope: 'range', from: '20240101', to: '20240102', reason: 'x' }]) {
    const r = parseRequest(bytes(makeRequest(v)));
    assert.equal(r.scope, v.scope);
    assert.equal(r.reason, 'x');
  }
  for (const bad of [{ type: 'other', scope: 'all', reason: 'x' }, { type: REQUEST_TYPE, scope: 'all' }, { type: REQUEST_TYPE, scope: 'range', from: '20240102', to: '20240101', reason: 'x' },
    { type: REQUEST_TYPE, scope: 'study', reason: 'x' }, [1], 'text']) {
    assert.throws(() => parseRequest(bytes(bad)), (e) => e.kind === 'payload', JSON.stringify(bad));
  }
  assert.throws(() => parseRequest(Uint8Array.of(0xff, 0xfe)), (e) => e.kind === 'payload');
});

test('matchesScope: all, study, range (inclusive), and metadata without the attribute', () => {
  const meta = { StudyInstanceUID: '1.2.3', StudyDate: '20240301' };
  assert.ok(matchesScope(null, { scope: 'all' }));
  assert.ok(matchesScope(meta, { scope: 'study', study: '1.2.3' }));
  assert.ok(!matchesScope(meta, { scope: 'study', study: '1.2.30' }));
  assert.ok(matchesScope(meta, { scope: 'range', from: '20240301', to: '20240301' }));
  assert.ok(matchesScope(meta, { scope: 'range', from: '20240101', to: '20240331' }));
  assert.ok(!matchesScope(meta, { scope: 'range', from: '20240302', to: '20240331' }));
  assert.ok(!matchesScope({ file: 'x.png' }, { scope: 'range', from: '20000101', to: '20991231' }));
  assert.ok(!matchesScope(null, { scope: 'study', study: '1.2.3' }));
  assert.equal(scopeText({ scope: 'range', from: '20240101', to: '20240331' }), 'images of studies from 2024-01-01 to 2024-03-31');
});

test('aboutImage: the server\'s record against the signed claim; a mark without a claim is flagged', () => {
  const claim = { profile: 'DICOM PS3.15 E.1-1 Basic Application Level Confidentiality Profile', checked: ['PatientName'], pixels: 'burned-in annotation NO', tool: 'medcrypt 0.1', time: '2026-12-07T00:00:00Z' };
  assert.deepEqual(aboutImage({ patient: 'pat', deidentified: false }, { PatientID: 'X' }), { patient: 'pat', claim: null, state: 'identified' });
  assert.equal(aboutImage({ patient: null, deidentified: true }, { deidentified: claim }).state, 'deidentified');
  assert.equal(aboutImage({ patient: null, deidentified: true }, { file: 'a.png' }).state, 'missing-claim');
  assert.equal(aboutImage({ patient: null, deidentified: true }, null).state, 'missing-claim');
  assert.equal(aboutImage({ patient: 'pat', deidentified: false }, { deidentified: claim }).state, 'unmarked-claim');
  assert.equal(aboutImage({}, {}).state, 'unknown');
  assert.deepEqual(deidentificationClaim({ deidentified: claim }), claim);
  assert.equal(deidentificationClaim({ deidentified: 'yes' }), null);
  assert.deepEqual(deidentificationClaim({ deidentified: { checked: [{ tag: '00100010' }], profile: 3 } }).checked, ['{"tag":"00100010"}']);
});
