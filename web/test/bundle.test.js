/**
 * bundle.test.js: the container library builds for the browser. esbuild bundles
 * src/container/index.js for platform 'browser', which fails on any node: import, and the bundle
 * may contain nothing but our modules and @noble/ciphers (WebCrypto does the rest).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { build } from 'esbuild';
import { REPO } from './helpers.js';

test('src/container bundles for the browser from our modules and @noble/ciphers only', async () => {
  const web = join(REPO, 'web');
  const result = await build({
    entryPoints: [join(web, 'src', 'container', 'index.js')],
    bundle: true,
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
  const foreign = inputs.filter((p) => !p.startsWith('src/container/') && !p.startsWith('node_modules/@noble/ciphers/'));
  assert.deepEqual(foreign, [], 'the bundle pulls in other code');
  assert.ok(inputs.length >= 12, `only ${inputs.length} inputs`);
  const code = result.outputFiles[0].text;
  assert.doesNotMatch(code, /\bnode:/, 'a node: import in the library');
  assert.doesNotMatch(code, /\brequire\(/, 'a require() in the library');
});
