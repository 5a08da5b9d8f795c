/**
 * bundle.test.js: src/account builds for the browser. esbuild bundles src/account/index.js for
 * platform 'browser' (which fails on any node: import) with code splitting: the bundle holds only
 * our modules, @noble/ciphers (through src/container), hash-wasm and zxcvbn, and zxcvbn's word
 * lists sit in a chunk of their own, loaded only when a password's strength is asked for.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { build } from 'esbuild';
import { REPO } from '../helpers.js';

test('src/account bundles for the browser; zxcvbn is a chunk loaded on demand', async () => {
  const web = join(REPO, 'web');
  const result = await build({
    entryPoints: [join(web, 'src', 'account', 'index.js')],
    bundle: true,
    splitting: true,
    outdir: join(web, 'dist', 'account'),
    platform: 'browser',
    format: 'esm',
    target: 'chrome120',
    absWorkingDir: web,
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  assert.equal(result.errors.length, 0);
  const inputs = Object.keys(result.metafile.inputs);
  const allowed = ['src/account/', 'src/container/', 'node_modules/@noble/ciphers/', 'node_modules/hash-wasm/', 'node_modules/zxcvbn/'];
  assert.deepEqual(inputs.filter((p) => !allowed.some((a) => p.startsWith(a))), [], 'the bundle pulls in other code');
  const outputs = Object.entries(result.metafile.outputs).filter(([p]) => p.endsWith('.js'));
  const entry = outputs.find(([, o]) => o.entryPoint);
  assert.ok(entry, 'an entry chunk');
  assert.ok(!Object.keys(entry[1].inputs).some((p) => p.includes('zxcvbn')), 'zxcvbn is not in the entry chunk');
  assert.ok(outputs.some(([, o]) => Object.keys(o.inputs).some((p) => p.includes('node_modules/zxcvbn/'))), 'zxcvbn has its own chunk');
  for (const f of result.outputFiles) assert.doesNotMatch(f.text, /\bnode:/, `a node: import in ${f.path}`);
  assert.ok(result.outputFiles.reduce((n, f) => n + f.text.length, 0) > 0);
});
