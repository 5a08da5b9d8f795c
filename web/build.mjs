/**
 * build.mjs: builds the browser client into web/dist/, the directory medcryptd serves
 * (--web-root, docs/API.md §20). `npm run build` runs it; the Makefile runs that whenever a
 * file under web/src or web/static, this script or the lockfile changed.
 *
 *   1. src/worker/chacha.js -> chacha-worker-HASH.js (ChaCha20's helper threads), whose URL is
 *      compiled into src/worker/main.js -> worker-HASH.js (a module Web Worker); the viewer's decode worker
 *      -> viewer-worker-HASH.js and its codecs NAME-HASH.wasm (src/viewer/build-config.js)
 *   2. src/app/main.js    -> app-HASH.js, its CSS -> app-HASH.css, lazily loaded chunks
 *      chunk-HASH.js, assets (.wasm, fonts, images) NAME-HASH.EXT; the worker's URL is compiled
 *      in, so a new worker also gives a new app hash
 *   3. Bootstrap's CSS (npm `bootstrap`, pinned in package.json) -> bootstrap-HASH.min.css
 *   4. every file of static/ but index.html -> NAME-HASH.EXT
 *   5. static/index.html, a template whose {{NAME}} placeholders ({{app.js}}, {{app.css}},
 *      {{bootstrap.css}}, {{favicon.svg}}, ...) become the hashed paths -> index.html
 *   6. manifest.json: which hashed file each logical name became, and every file's size and
 *      SHA-256
 *
 * HASH is 8 characters of [A-Z2-7] (esbuild's [hash]; the same alphabet for the files copied
 * here), which is how medcryptd recognises a content-hashed name and caches it as immutable.
 * The pages run under a CSP without 'unsafe-inline' and 'unsafe-eval', so the output must hold no
 * inline script, no <style> element and no style attribute: the build checks index.html and
 * fails otherwise. The directory is rebuilt from scratch each time, so no stale file lingers.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { viewerBuildOptions, viewerUrlPlugin } from './src/viewer/build-config.js';

const web = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(web, 'package.json'));

/** Browsers the client supports: WebCrypto Ed25519, module workers, 'wasm-unsafe-eval'. */
export const TARGET = ['chrome120', 'firefox127', 'safari17'];
/** The hashed-name rule medcryptd applies (src/medcryptd/webroot.c, mcd_web_is_hashed). */
export const HASHED = /^[^.]*-[A-Z2-7]{8}(\.|$)/;

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** 8 characters of base32 over the SHA-256 of bytes, the alphabet of esbuild's [hash]. */
export function contentHash(bytes) {
  const digest = createHash('sha256').update(bytes).digest();
  let out = '';
  for (let i = 0; i < 8; i++) out += BASE32[digest[i] & 31];
  return out;
}

/** "favicon.svg" + hash -> "favicon-HASH.svg"; "bootstrap.min.css" -> "bootstrap-HASH.min.css". */
function hashedName(name, bytes) {
  const dot = name.indexOf('.');
  const stem = dot < 0 ? name : name.slice(0, dot);
  const ext = dot < 0 ? '' : name.slice(dot);
  return `${stem}-${contentHash(bytes)}${ext}`;
}

/** The output file of an esbuild entry point, relative to outdir. */
function outputOf(metafile, outdir, entry) {
  for (const [out, info] of Object.entries(metafile.outputs)) {
    if (info.entryPoint === entry) return { js: relative(outdir, join(web, out)), css: info.cssBundle && relative(outdir, join(web, info.cssBundle)) };
  }
  throw new Error(`build: no output for ${entry}`);
}

/**
 * Refuses HTML that would need 'unsafe-inline': a <script> without src, a <style> element, a
 * style attribute or an inline event handler (on...=). Returns the reasons, empty when clean.
 */
export function inlineCode(html) {
  const found = [];
  for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script\s*>/gi)) {
    if (!/\ssrc\s*=/i.test(m[1]) || m[2].trim() !== '') found.push('an inline <script>');
  }
  if (/<style\b/i.test(html)) found.push('a <style> element');
  if (/<[a-z][^>]*\sstyle\s*=/i.test(html)) found.push('a style attribute');
  if (/<[a-z][^>]*\son[a-z]+\s*=/i.test(html)) found.push('an inline event handler');
  if (/javascript:/i.test(html)) found.push('a javascript: URL');
  return found;
}

/** Builds web/dist (or outdir). Resolves to the manifest it wrote. */
export async function buildClient({ outdir = join(web, 'dist'), minify = true } = {}) {
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  const common = {
    absWorkingDir: web,
    outdir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: TARGET,
    minify,
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'warning',
    entryNames: '[name]-[hash]',
    chunkNames: 'chunk-[hash]',
    assetNames: '[name]-[hash]',
    loader: { '.wasm': 'file', '.woff2': 'file', '.png': 'file', '.svg': 'file' },
    legalComments: 'none',
  };
  const entries = {};

  // ChaCha20-Poly1305's helper threads (src/worker/chacha-pool.js), which the worker starts.
  const chacha = await build({ ...common, entryPoints: { 'chacha-worker': 'src/worker/chacha.js' } });
  entries['chacha-worker.js'] = outputOf(chacha.metafile, outdir, 'src/worker/chacha.js').js;
  const worker = await build({
    ...common,
    entryPoints: { worker: 'src/worker/main.js' },
    define: { __MEDCRYPT_CHACHA_WORKER_URL__: JSON.stringify(`/${entries['chacha-worker.js']}`) },
  });
  entries['worker.js'] = outputOf(worker.metafile, outdir, 'src/worker/main.js').js;

  // The image viewer (src/viewer/build-config.js): its decode worker and WebAssembly codecs are
  // built here with hashed names; the viewer itself goes into the app below, as chunks that only
  // the view page loads (a dynamic import), with the worker's hashed name compiled in.
  const viewer = await build({
    ...viewerBuildOptions({ outdir, minify, viewerEntry: false }),
    entryNames: '[name]-[hash]',
    sourcemap: 'linked',
    legalComments: 'none',
  });
  entries['viewer-worker.js'] = Object.keys(viewer.metafile.outputs)
    .map((out) => relative(outdir, join(web, out)))
    .find((out) => /^viewer-worker-[A-Z2-7]{8}\.js$/.test(out));
  if (!entries['viewer-worker.js']) throw new Error('build: no output for the viewer\'s decode worker');

  const app = await build({
    ...common,
    entryPoints: { app: 'src/app/main.js' },
    splitting: true,
    define: { __MEDCRYPT_WORKER_URL__: JSON.stringify(`/${entries['worker.js']}`) },
    plugins: [viewerUrlPlugin({ workerFile: entries['viewer-worker.js'] })],
  });
  const appOut = outputOf(app.metafile, outdir, 'src/app/main.js');
  entries['app.js'] = appOut.js;
  if (!appOut.css) throw new Error('build: src/app/main.js imports no CSS');
  entries['app.css'] = appOut.css;

  // Bootstrap's compiled CSS as published, without its sourceMappingURL (the map is not copied).
  const bootstrapCss = (await readFile(require.resolve('bootstrap/dist/css/bootstrap.min.css'), 'utf8'))
    .replace(/\n?\/\*# sourceMappingURL=[^*]*\*\/\s*$/, '\n');
  entries['bootstrap.css'] = hashedName('bootstrap.min.css', bootstrapCss);
  await writeFile(join(outdir, entries['bootstrap.css']), bootstrapCss);

  const staticDir = join(web, 'static');
  for (const name of (await readdir(staticDir)).sort()) {
    if (name === 'index.html' || name.startsWith('.')) continue;
    const bytes = await readFile(join(staticDir, name));
    entries[name] = hashedName(name, bytes);
    await writeFile(join(outdir, entries[name]), bytes);
  }

  const template = await readFile(join(staticDir, 'index.html'), 'utf8');
  const html = template.replace(/\{\{\s*([A-Za-z0-9._-]+)\s*\}\}/g, (_, name) => {
    if (!(name in entries)) throw new Error(`build: static/index.html names {{${name}}}, which the build does not make`);
    return `/${entries[name]}`;
  });
  const inline = inlineCode(html);
  if (inline.length) throw new Error(`build: index.html has ${inline.join(', ')}; the page CSP forbids it`);
  await writeFile(join(outdir, 'index.html'), html);

  const files = {};
  const walk = async (dir) => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) await walk(path);
      else {
        const bytes = await readFile(path);
        files[relative(outdir, path)] = { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
      }
    }
  };
  await walk(outdir);
  const manifest = { entries: Object.fromEntries(Object.entries(entries).sort()), files: Object.fromEntries(Object.entries(files).sort()) };
  await writeFile(join(outdir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const outdir = process.argv[2] ? resolve(process.argv[2]) : undefined;
  buildClient({ outdir }).then(
    (m) => console.log(`web/dist: ${Object.keys(m.files).length + 1} files (app ${m.entries['app.js']})`),
    (e) => {
      console.error(e.message);
      process.exit(1);
    },
  );
}
