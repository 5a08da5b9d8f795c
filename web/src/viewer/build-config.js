/**
 * build-config.js: how esbuild bundles the viewer (src/viewer/) for the browser, as a function
 * that web/build.mjs and the viewer's own test build both call, so there is one recipe.
 *
 * Cornerstone's DICOM image loader names its web worker and its WebAssembly codecs with
 * `new URL('<module>', import.meta.url)`, a bundler convention esbuild does not follow. The
 * plugin below rewrites those expressions while bundling:
 *   - `new URL('./decodeImageFrameWorker.js', import.meta.url)` becomes our own worker file,
 *     `viewer-worker.js`, built here as a second entry point beside the viewer (a module worker,
 *     so it needs `worker-src 'self'`);
 *   - `new URL('@cornerstonejs/codec-…/decodewasm', import.meta.url)` becomes an import of the
 *     .wasm file through esbuild's `file` loader, so each codec is emitted as an asset in the
 *     output folder and fetched from our own origin only when a file needs that codec;
 *   - the Node-only branches of the codecs' Emscripten glue get empty `fs`/`path` modules, and
 *     vtk.js's XML mesh reader a stub for xmlbuilder2 (a Node library the viewer never needs).
 * Nothing is loaded from elsewhere, and the output runs under the page CSP of web/README.md
 * (no 'unsafe-eval'; 'wasm-unsafe-eval' for the codecs).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const webRoot = join(here, '..', '..');
const require = createRequire(join(webRoot, 'package.json'));

/** The file names (without extension) of the two bundles, relative to the output folder. */
export const VIEWER_ENTRY = 'viewer';
export const VIEWER_WORKER = 'viewer-worker';

/** The folder of the loader's ESM build (its package exports map hides the worker file). */
function loaderDir() {
  return dirname(require.resolve('@cornerstonejs/dicom-image-loader'));
}

const NEW_URL = /new URL\(\s*(['"])([^'"]+)\1\s*,\s*import\.meta\.url\s*\)/g;

/**
 * viewerUrlPlugin({workerFile}): the esbuild plugin that rewrites the loader's `new URL(…,
 * import.meta.url)` references (see the file comment); `workerFile` is the decode worker's file
 * name beside the bundle (default `viewer-worker.js`; web/build.mjs passes its hashed name). A reference it cannot place fails the build, so a new
 * loader version that adds one is noticed instead of fetching a missing file at run time.
 */
export function viewerUrlPlugin({ workerFile = `${VIEWER_WORKER}.js` } = {}) {
  return {
    name: 'medcrypt-viewer-urls',
    setup(build) {
      build.onLoad({ filter: /[\\/]@cornerstonejs[\\/]dicom-image-loader[\\/].*\.js$/ }, async (args) => {
        const source = await readFile(args.path, 'utf8');
        if (!source.includes('import.meta.url')) return undefined;
        const imports = [];
        const contents = source.replace(NEW_URL, (whole, _quote, spec) => {
          if (spec === './decodeImageFrameWorker.js') {
            return `new URL(${JSON.stringify(`./${workerFile}`)}, import.meta.url)`;
          }
          if (spec.startsWith('@cornerstonejs/codec-') && /wasm$/.test(spec)) {
            const name = `__medcryptWasm${imports.length}`;
            imports.push(`import ${name} from ${JSON.stringify(spec)};`);
            return `new URL(${name}, import.meta.url)`;
          }
          throw new Error(`viewer build: unknown asset reference ${spec} in ${args.path}`);
        });
        return { contents: `${imports.join('\n')}\n${contents}`, loader: 'js', resolveDir: dirname(args.path) };
      });
      // The codecs' Emscripten glue has a Node branch (`require("fs")`, `require("path")`) that
      // never runs in a browser or worker: give it empty modules.
      build.onResolve({ filter: /^(fs|path|url|module|crypto|worker_threads)$/ }, (args) => {
        if (!/[\\/]@cornerstonejs[\\/]codec-/.test(args.importer)) return undefined;
        return { path: args.path, namespace: 'medcrypt-viewer-empty' };
      });
      build.onLoad({ filter: /.*/, namespace: 'medcrypt-viewer-empty' }, () => ({
        contents: 'module.exports = {};',
        loader: 'js',
      }));
      // vtk.js, under Cornerstone's core, imports xmlbuilder2 (a Node library that needs
      // `events`) for VTK XML mesh files, which the viewer never reads: a stub that refuses.
      build.onResolve({ filter: /^xmlbuilder2$/ }, () => ({ path: 'xmlbuilder2', namespace: 'medcrypt-viewer-stub' }));
      build.onLoad({ filter: /^xmlbuilder2$/, namespace: 'medcrypt-viewer-stub' }, () => ({
        contents: "export function create() { throw new Error('VTK XML files are not supported by the viewer'); }",
        loader: 'js',
      }));
      // dcmjs inlines ndarray, which compiles its array classes with `new Function` (only for
      // segmentations, which the viewer never reads). Under the page CSP (no 'unsafe-eval') that
      // throws an EvalError anyway; here it becomes a function that throws, so the bundle holds
      // no eval at all (web/test/build.test.js checks every bundle for one).
      build.onLoad({ filter: /[\\/]dcmjs[\\/]build[\\/]dcmjs\.es\.js$/ }, async (args) => ({
        contents: `function __medcryptNoEval() { throw new EvalError('code generation is disabled (CSP)'); }\n${
          (await readFile(args.path, 'utf8')).replace(/\bnew Function\(/g, '__medcryptNoEval(')}`,
        loader: 'js',
        resolveDir: dirname(args.path),
      }));
      // The codecs' package exports name the .wasm files without the extension
      // ("@cornerstonejs/codec-charls/decodewasm"); esbuild picks the loader by extension, so
      // route those paths to the file loader here.
      build.onResolve({ filter: /^@cornerstonejs\/codec-[^/]+\/[a-z]*wasm$/ }, (args) => ({
        path: require.resolve(args.path),
      }));
    },
  };
}

/**
 * viewerBuildOptions({outdir, minify, sourcemap, entryPoints, viewerEntry}): esbuild options
 * that bundle the viewer (`<outdir>/viewer.js`, ESM, exporting createViewer and dicomAttributes),
 * its decode worker (`<outdir>/viewer-worker.js`) and the codecs (`<outdir>/<codec>-<hash>.wasm`).
 * `entryPoints` adds entries of the caller's own (e.g. a page module that imports
 * src/viewer/index.js); `viewerEntry: false` leaves out viewer.js when such a page bundles the
 * viewer itself. The worker must stay in the same folder as the bundle that holds the viewer,
 * since it is found relative to that bundle's URL. The caller may add options of its own to the
 * result (keeping `plugins` and `loader`) and passes it to esbuild's build().
 */
export function viewerBuildOptions({ outdir, minify = true, sourcemap = false, entryPoints = [], viewerEntry = true } = {}) {
  if (!outdir) throw new Error('viewerBuildOptions: outdir is required');
  return {
    absWorkingDir: webRoot,
    entryPoints: [
      ...(viewerEntry ? [{ in: join(here, 'index.js'), out: VIEWER_ENTRY }] : []),
      { in: join(loaderDir(), 'decodeImageFrameWorker.js'), out: VIEWER_WORKER },
      ...entryPoints,
    ],
    outdir,
    bundle: true,
    splitting: false,
    format: 'esm',
    platform: 'browser',
    target: 'chrome120',
    minify,
    sourcemap,
    legalComments: 'linked',
    // Emitted assets keep their codec's name and carry a content hash for caching.
    assetNames: '[name]-[hash]',
    loader: { '.wasm': 'file' },
    plugins: [viewerUrlPlugin()],
    metafile: true,
    logLevel: 'warning',
  };
}
