/**
 * build.test.js: web/build.mjs's output is what medcryptd may cache and the page CSP may run.
 * The client is built into a temporary directory (web/dist is left alone) and checked: every
 * file but index.html and manifest.json has a content-hashed name of the form medcryptd
 * recognises (src/medcryptd/webroot.c), index.html references the hashed script and styles and
 * nothing that does not exist, it holds no inline script, <style> element, style attribute or
 * event handler, no bundle calls eval or new Function, the manifest matches the files, a second
 * build gives the same names, and the build refuses a template with inline code.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { HASHED, buildClient, contentHash, inlineCode } from '../build.mjs';

let out;
let manifest;
let files;

before(async () => {
  out = await mkdtemp(join(tmpdir(), 'medcrypt-web-build-'));
  manifest = await buildClient({ outdir: out });
  files = (await readdir(out)).sort();
});
after(() => rm(out, { recursive: true, force: true }));

test('every file but index.html and manifest.json has a content-hashed name', () => {
  const unhashed = files.filter((f) => f !== 'index.html' && f !== 'manifest.json' && !HASHED.test(f));
  assert.deepEqual(unhashed, []);
  for (const name of ['app.js', 'app.css', 'worker.js', 'chacha-worker.js', 'bootstrap.css', 'favicon.svg']) {
    assert.match(manifest.entries[name], HASHED, name);
    assert.ok(files.includes(manifest.entries[name]), `${name} -> ${manifest.entries[name]} is missing`);
  }
  // the rule is the server's: 8 characters of [A-Z2-7] before the first dot, after a dash
  assert.ok(HASHED.test('app-3F2AC1QZ.js') === false, '1 is not in the alphabet');
  assert.ok(HASHED.test('app-ABCD2345.js.map'));
  assert.ok(!HASHED.test('bootstrap.min.css'));
  assert.match(contentHash(new Uint8Array([1, 2, 3])), /^[A-Z2-7]{8}$/);
});

test('index.html references the hashed script and styles, all of which exist', async () => {
  const html = await readFile(join(out, 'index.html'), 'utf8');
  assert.match(html, /<html lang="en" data-bs-theme="dark">/);
  assert.ok(html.includes(`<script type="module" src="/${manifest.entries['app.js']}"></script>`));
  assert.ok(html.includes(`<link rel="stylesheet" href="/${manifest.entries['bootstrap.css']}">`));
  assert.ok(html.includes(`<link rel="stylesheet" href="/${manifest.entries['app.css']}">`));
  assert.doesNotMatch(html, /\{\{|\}\}/, 'an unfilled placeholder');
  for (const m of html.matchAll(/\s(?:src|href)="([^"#]+)"/g)) {
    assert.ok(files.includes(m[1].replace(/^\//, '')), `index.html names ${m[1]}, which is not built`);
  }
});

test('no inline script, <style>, style attribute or handler in index.html', async () => {
  const html = await readFile(join(out, 'index.html'), 'utf8');
  assert.deepEqual(inlineCode(html), []);
  // independent of inlineCode(): every <script> has a src and an empty body
  const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
  assert.equal(scripts.length, 1);
  for (const [, attrs, body] of scripts) {
    assert.match(attrs, /\ssrc="/);
    assert.equal(body.trim(), '');
  }
  assert.doesNotMatch(html, /<style/i);
  assert.doesNotMatch(html, /\sstyle=/i);
  assert.doesNotMatch(html, /\son[a-z]+=/i);
});

test('the checker finds each kind of inline code', () => {
  assert.deepEqual(inlineCode('<script>alert(1)</script>'), ['an inline <script>']);
  assert.deepEqual(inlineCode('<script src="/a.js">x</script>'), ['an inline <script>']);
  assert.deepEqual(inlineCode('<style>p{}</style>'), ['a <style> element']);
  assert.deepEqual(inlineCode('<p style="color:red">'), ['a style attribute']);
  assert.deepEqual(inlineCode('<img src=x onerror="y">'), ['an inline event handler']);
  assert.deepEqual(inlineCode('<a href="javascript:x">'), ['a javascript: URL']);
  assert.deepEqual(inlineCode('<script type="module" src="/app-ABCDEFGH.js"></script>'), []);
});

test('no bundle uses eval or new Function (the CSP has no unsafe-eval)', async () => {
  for (const f of files.filter((name) => name.endsWith('.js'))) {
    const code = await readFile(join(out, f), 'utf8');
    assert.doesNotMatch(code, /\beval\(|new Function\(/, f);
  }
});

test('the manifest lists every file with its size and SHA-256', async () => {
  const listed = Object.keys(manifest.files).sort();
  assert.deepEqual(listed, files.filter((f) => f !== 'manifest.json'));
  for (const [name, { size, sha256 }] of Object.entries(manifest.files)) {
    const bytes = await readFile(join(out, name));
    assert.equal(bytes.length, size, name);
    assert.equal(createHash('sha256').update(bytes).digest('hex'), sha256, name);
  }
  const written = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8'));
  assert.deepEqual(written, manifest);
});

test('a second build gives the same names (hashes depend on content only)', async () => {
  const again = await mkdtemp(join(tmpdir(), 'medcrypt-web-build-'));
  try {
    const second = await buildClient({ outdir: again });
    assert.deepEqual(second.entries, manifest.entries);
  } finally {
    await rm(again, { recursive: true, force: true });
  }
});
