/**
 * viewer.browser.test.js: the image viewer (src/viewer/) in a real browser. It makes fake
 * fixtures (pydicom for 16-bit and multi-frame, dcmtk and gdcmconv to re-encode one 8-bit image
 * in every supported transfer syntax, ImageMagick for the source JPEG/PNG), bundles
 * test/pages/viewer.html's module with the viewer's own build recipe (src/viewer/build-config.js),
 * serves it from 127.0.0.1 with the app's Content-Security-Policy, and drives Debian's Chromium
 * through playwright-core. It checks what the canvas shows (hashes, mean intensities), not what
 * the viewer says, and fails on any console error or CSP violation. Chromium is required: a
 * missing browser is a failure, never a skip.
 *
 * MEDCRYPT_VIEWER_SHOTS=DIR keeps the screenshots in DIR (default: a temporary folder, removed).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { after, before, describe, test } from 'node:test';

import dicomParser from 'dicom-parser';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';

import { viewerBuildOptions } from '../../src/viewer/build-config.js';
import { REPO } from '../helpers.js';

const CHROMIUM = process.env.MEDCRYPT_CHROMIUM || '/usr/bin/chromium';
const PYTHON = '/usr/bin/python3'; // Debian's, which has python3-pydicom
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; " +
  "style-src 'self'; img-src 'self' blob: data:; connect-src 'self'";
const FIRST_FRAME_BUDGET_MS = 2000;
const WEB = join(REPO, 'web');
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.dcm': 'application/dicom',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.txt': 'text/plain; charset=utf-8',
};

let tmp;
let shots;
let server;
let origin;
let browser;
let page;
const consoleErrors = [];
const bundleSizes = {};

function run(cmd, args, cwd) {
  return execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

/** makeFixtures(dir): every fixture file; returns the pydicom script's JSON lines by name. */
function makeFixtures(dir) {
  const info = {};
  for (const line of run(PYTHON, [join(WEB, 'test', 'viewer', 'make_dicom.py'), dir, '100', '512']).trim().split('\n')) {
    const item = JSON.parse(line);
    info[item.name] = item;
  }
  // one 8-bit grayscale and one colour picture with shapes, as JPEG (and the grey one as PNG)
  run('convert', ['-size', '256x256', 'gradient:white-black', '-rotate', '90', '-fill', 'gray25', '-draw',
    'circle 128,128 128,70', '-fill', 'white', '-draw', 'rectangle 20,20 60,60', '-colorspace', 'Gray',
    '-type', 'Grayscale', '-quality', '95', 'gray.jpg'], dir);
  run('convert', ['-size', '256x256', 'gradient:red-blue', '-fill', 'yellow', '-draw', 'circle 128,128 128,80',
    '-quality', '95', 'color.jpg'], dir);
  run('convert', ['gray.jpg', 'gray.png'], dir);
  run('convert', ['color.jpg', 'color.png'], dir);
  // img2dcm wraps the JPEG as it is (JPEG Baseline); dcmdjpeg decodes it to native, and from
  // there every other transfer syntax is encoded losslessly, so all must show the same pixels
  run('img2dcm', ['gray.jpg', 'g-jpeg.dcm'], dir);
  run('dcmdjpeg', ['g-jpeg.dcm', 'g-native.dcm'], dir);
  run('dcmconv', ['+ti', 'g-native.dcm', 'g-implicit.dcm'], dir);
  run('dcmconv', ['+tb', 'g-native.dcm', 'g-bigendian.dcm'], dir);
  run('dcmcjpeg', ['+e1', 'g-native.dcm', 'g-jpegll.dcm'], dir);
  run('dcmcjpls', ['g-native.dcm', 'g-jpegls.dcm'], dir);
  run('dcmcrle', ['g-native.dcm', 'g-rle.dcm'], dir);
  run('gdcmconv', ['--j2k', 'g-native.dcm', 'g-j2k.dcm'], dir);
  run('img2dcm', ['color.jpg', 'c-jpeg.dcm'], dir);
  run('dcmdjpeg', ['c-jpeg.dcm', 'c-native.dcm'], dir);
  run('dcmcrle', ['c-native.dcm', 'c-rle.dcm'], dir);
  return info;
}

/** pixelMeans(file): the mean of each sample of a native (uncompressed) 8-bit file. */
async function pixelMeans(file) {
  const bytes = new Uint8Array(await readFile(file));
  const ds = dicomParser.parseDicom(bytes);
  const pixels = ds.elements.x7fe00010;
  const samples = ds.uint16('x00280002');
  assert.equal(ds.uint16('x00280100'), 8);
  assert.equal(ds.uint16('x00280006') || 0, 0, 'colour-by-plane fixture');
  const sums = new Array(samples).fill(0);
  for (let i = 0; i < pixels.length; i++) sums[i % samples] += bytes[pixels.dataOffset + i];
  return sums.map((s) => s / (pixels.length / samples));
}

async function serve(root) {
  const srv = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    const file = join(root, path === '/' ? 'viewer.html' : path);
    try {
      if (!file.startsWith(root) || !(await stat(file)).isFile()) throw new Error('not a file');
      const body = await readFile(file);
      res.writeHead(200, {
        'content-type': TYPES[extname(file)] || 'application/octet-stream',
        'content-security-policy': CSP,
        'x-content-type-options': 'nosniff',
        'cache-control': 'no-store',
      });
      res.end(body);
    } catch {
      res.writeHead(404, { 'content-security-policy': CSP });
      res.end();
    }
  });
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return srv;
}

const harness = (fn, ...args) => page.evaluate(fn, args);
const show = (name, kind) => harness(([n, k]) => window.viewerHarness.show(`/fixtures/${n}`, k), name, kind);
const stats = () => harness(() => window.viewerHarness.stats());
const call = (method, ...args) => harness(([m, ...a]) => window.viewerHarness.call(m, ...a), method, ...args);
const get = (property) => harness(([p]) => window.viewerHarness.get(p), property);
const screenshot = (name) => page.locator('#viewer').screenshot({ path: join(shots, `${name}.png`) });

let fixtures;
let grayMean;
let colorMeans;

test('Chromium is installed (the browser tests need it: no skipping)', () => {
  assert.ok(existsSync(CHROMIUM), `Chromium is required at ${CHROMIUM} (scripts/bootstrap installs Debian's chromium)`);
});

describe('viewer in Chromium', () => {
  before(async () => {
    assert.ok(existsSync(CHROMIUM), `Chromium is required at ${CHROMIUM} (scripts/bootstrap installs Debian's chromium)`);
    tmp = await mkdtemp(join(tmpdir(), 'medcrypt-viewer-'));
    shots = process.env.MEDCRYPT_VIEWER_SHOTS || join(tmp, 'shots');
    const site = join(tmp, 'site');
    const fixtureDir = join(site, 'fixtures');
    await mkdir(fixtureDir, { recursive: true });
    await mkdir(shots, { recursive: true });
    fixtures = makeFixtures(fixtureDir);
    [grayMean] = await pixelMeans(join(fixtureDir, 'g-native.dcm'));
    colorMeans = await pixelMeans(join(fixtureDir, 'c-native.dcm'));

    const result = await build(viewerBuildOptions({
      outdir: site,
      viewerEntry: false,
      entryPoints: [{ in: join(WEB, 'test', 'pages', 'viewer-page.js'), out: 'viewer-page' }],
    }));
    for (const [file, output] of Object.entries(result.metafile.outputs)) {
      bundleSizes[file.split('/').pop()] = output.bytes;
    }
    for (const file of ['viewer.html', 'viewer-page.css']) {
      await copyFile(join(WEB, 'test', 'pages', file), join(site, file));
    }
    server = await serve(site);
    origin = `http://127.0.0.1:${server.address().port}`;

    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 640, height: 640 } });
    page.on('console', (message) => {
      // the one expected error: the test's own probe of a revoked blob: URL
      if (message.type() === 'error' && !message.location().url.startsWith('blob:')) consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(`pageerror: ${error.message}`));
    await page.goto(`${origin}/viewer.html`);
    await page.waitForSelector('body[data-ready="yes"]');
  });

  after(async () => {
    await browser?.close();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  test('the bundle: viewer page, decode worker and codecs are our own files', () => {
    const names = Object.keys(bundleSizes);
    for (const expected of ['viewer-page.js', 'viewer-worker.js']) assert.ok(names.includes(expected), names.join(' '));
    for (const codec of ['charlswasm_decode', 'libjpegturbowasm_decode', 'openjpegwasm_decode']) {
      assert.ok(names.some((n) => n.startsWith(codec) && n.endsWith('.wasm')), `${codec} emitted`);
    }
    console.log(`# bundle sizes: ${JSON.stringify(bundleSizes)}`);
  });

  test('a 100-frame 512x512 16-bit DICOM shows within the budget, and its frames change', async (t) => {
    const { ms, frameCount, frame, backend } = await show('mf16.dcm', 'dicom');
    console.log(`# time from show() to first rendered frame (100 x 512x512 16-bit, ${backend} rendering): ${ms.toFixed(0)} ms`);
    t.diagnostic(`first frame ${ms.toFixed(0)} ms`);
    assert.equal(frameCount, 100);
    assert.equal(frame, 0);
    assert.ok(ms < FIRST_FRAME_BUDGET_MS, `first frame took ${ms} ms`);
    const first = await stats();
    assert.ok(first.lit > 0.9, `canvas mostly blank: ${first.lit}`);
    await screenshot('mf16-frame1');

    await call('next');
    assert.equal(await get('frame'), 1);
    const second = await stats();
    assert.notEqual(second.hash, first.hash, 'frame 2 looks like frame 1');

    await call('setFrame', 50);
    assert.equal(await get('frame'), 50);
    const fiftieth = await stats();
    assert.notEqual(fiftieth.hash, second.hash);
    await screenshot('mf16-frame51');

    await call('setFrame', 1000); // clamped
    assert.equal(await get('frame'), 99);
    await call('previous');
    assert.equal(await get('frame'), 98);
  });

  test('keyboard: arrows change frames, + and - zoom, 0 resets', async () => {
    await show('mf16.dcm', 'dicom');
    await page.focus('#viewer');
    const before = await stats();
    await page.keyboard.press('ArrowRight');
    await page.waitForFunction(() => window.viewerHarness.get('frame') === 1);
    await page.keyboard.press('ArrowDown');
    await page.waitForFunction(() => window.viewerHarness.get('frame') === 2);
    await page.keyboard.press('ArrowLeft');
    await page.waitForFunction(() => window.viewerHarness.get('frame') === 1);
    await page.keyboard.press('Home');
    await page.waitForFunction(() => window.viewerHarness.get('frame') === 0);
    assert.equal((await stats()).hash, before.hash);
    const zoom = await call('getZoom');
    await page.keyboard.press('+');
    assert.ok((await call('getZoom')) > zoom * 1.1);
    await page.keyboard.press('-');
    await page.keyboard.press('-');
    assert.ok((await call('getZoom')) < zoom);
    await page.keyboard.press('0');
    assert.ok(Math.abs((await call('getZoom')) - zoom) < 1e-6);
  });

  test('window/level: setWindow and a left drag change the pixels', async () => {
    await show('mf16.dcm', 'dicom');
    const { max } = fixtures['mf16.dcm'];
    await call('setWindow', max / 2, max + 1);
    const full = await stats();
    // a ramp over the whole window: mean grey about half way
    assert.ok(Math.abs(full.mean - 127.5) < 6, `mean ${full.mean}`);
    const w = await call('getWindow');
    assert.ok(Math.abs(w.center - max / 2) < 1 && Math.abs(w.width - (max + 1)) < 1, JSON.stringify(w));
    await call('setWindow', max / 4, max / 8);
    const narrow = await stats();
    assert.notEqual(narrow.hash, full.hash);
    assert.ok(narrow.mean > full.mean + 20, `narrow window mean ${narrow.mean} vs ${full.mean}`);
    await screenshot('mf16-narrow-window');

    const box = await page.locator('#viewer').boundingBox();
    await page.mouse.move(box.x + 200, box.y + 200);
    await page.mouse.down({ button: 'left' });
    await page.mouse.move(box.x + 300, box.y + 260, { steps: 8 });
    await page.mouse.up({ button: 'left' });
    const dragged = await call('getWindow');
    assert.ok(dragged.center !== max / 4 || dragged.width !== max / 8, 'left drag did not change the window');
    assert.notEqual((await stats()).hash, narrow.hash);
    await call('reset');
  });

  test('zoom: wheel and right drag zoom, middle drag pans, reset restores', async () => {
    await show('mf16.dcm', 'dicom');
    const fitted = await stats();
    const box = await page.locator('#viewer').boundingBox();
    await page.mouse.move(box.x + 256, box.y + 256);
    await page.mouse.wheel(0, -300);
    await page.waitForFunction(() => window.viewerHarness.call('getZoom') !== 1);
    const wheelZoom = await call('getZoom');
    assert.notEqual(wheelZoom, 1);
    await call('reset');
    await page.mouse.down({ button: 'right' });
    await page.mouse.move(box.x + 256, box.y + 120, { steps: 8 });
    await page.mouse.up({ button: 'right' });
    const rightZoom = await call('getZoom');
    assert.notEqual(rightZoom, 1, 'right drag did not zoom');
    await call('zoomIn');
    assert.ok((await call('getZoom')) > rightZoom);
    const zoomed = await stats();
    assert.notEqual(zoomed.hash, fitted.hash);
    await screenshot('mf16-zoomed');
    await page.mouse.move(box.x + 256, box.y + 256);
    await page.mouse.down({ button: 'middle' });
    await page.mouse.move(box.x + 320, box.y + 300, { steps: 8 });
    await page.mouse.up({ button: 'middle' });
    assert.notEqual((await stats()).hash, zoomed.hash, 'middle drag did not pan');
    await call('reset');
    assert.equal(await call('getZoom'), 1);
    assert.equal((await stats()).hash, fitted.hash, 'reset did not restore the first view');
  });

  const syntaxes = [
    ['g-native.dcm', 'Explicit VR Little Endian', 0.01],
    ['g-implicit.dcm', 'Implicit VR Little Endian', 0.01],
    ['g-bigendian.dcm', 'Explicit VR Big Endian', 0.01],
    ['g-jpeg.dcm', 'JPEG Baseline', 1.5],
    ['g-jpegll.dcm', 'JPEG Lossless', 0.01],
    ['g-jpegls.dcm', 'JPEG-LS', 0.01],
    ['g-j2k.dcm', 'JPEG 2000', 0.01],
    ['g-rle.dcm', 'RLE', 0.01],
  ];
  for (const [name, label, tolerance] of syntaxes) {
    test(`8-bit grayscale ${label} decodes to the expected pixels`, async () => {
      await show(name, 'dicom');
      await call('setWindow', 127.5, 256); // identity: displayed grey = stored value
      const s = await stats();
      assert.ok(s.lit > 0.9, `${name}: canvas blank (${s.lit})`);
      // canvas scaling resamples the 256x256 image to 512x512; allow half a grey level more
      assert.ok(Math.abs(s.mean - grayMean) < tolerance + 0.6, `${name}: mean ${s.mean}, expected ${grayMean}`);
      assert.ok(Math.abs(s.meanG - s.mean) < 0.01, `${name}: not grey`);
      if (name === 'g-j2k.dcm') await screenshot('gray-j2k');
    });
  }

  for (const [name, label, tolerance] of [
    ['c-native.dcm', 'RGB native', 0.01],
    ['c-jpeg.dcm', 'JPEG Baseline YBR_FULL_422', 3],
    ['c-rle.dcm', 'RGB RLE', 0.01],
  ]) {
    test(`colour ${label} decodes to the expected colours`, async () => {
      await show(name, 'dicom');
      const s = await stats();
      const got = [s.mean, s.meanG, s.meanB];
      for (let c = 0; c < 3; c++) {
        assert.ok(Math.abs(got[c] - colorMeans[c]) < tolerance + 0.6, `${name}: channel ${c} mean ${got[c]}, expected ${colorMeans[c]}`);
      }
      if (name === 'c-jpeg.dcm') await screenshot('color-jpeg');
    });
  }

  test('16-bit signed MONOCHROME1 shows negative values bright', async () => {
    await show('s16m1.dcm', 'dicom');
    await call('setWindow', 0, 2001);
    const s = await stats();
    assert.ok(s.meanLeft > 250 && s.meanRight < 5, `left ${s.meanLeft}, right ${s.meanRight}`);
  });

  test('PNG and JPEG show from blob: URLs, zoom works, destroy revokes and empties', async () => {
    for (const [name, kind] of [['gray.png', 'png'], ['gray.jpg', 'jpeg']]) {
      const { frameCount } = await show(name, kind);
      assert.equal(frameCount, 1);
      assert.equal(await get('kind'), kind);
      const src = await page.locator('#viewer img').getAttribute('src');
      assert.match(src, /^blob:/);
      const s = await stats();
      assert.ok(Math.abs(s.mean - grayMean) < 3, `${name}: mean ${s.mean}, expected ${grayMean}`);
    }
    await screenshot('photo-jpeg');
    await call('zoomIn');
    assert.ok((await call('getZoom')) > 1);
    const src = await page.locator('#viewer img').getAttribute('src');
    const { children } = await harness(() => window.viewerHarness.destroy());
    assert.equal(children, 0);
    const revoked = await harness(([u]) => new Promise((resolve) => {
      const probe = new Image(); // img-src allows blob:, connect-src does not
      probe.onload = () => resolve(false);
      probe.onerror = () => resolve(true);
      probe.src = u;
    }), src);
    assert.ok(revoked, 'blob: URL still readable after destroy');
    await harness(() => window.viewerHarness.recreate());
    await show('color.png', 'png');
    await show('g-rle.dcm', 'dicom'); // a new viewer works after destroy
    const again = await stats();
    assert.ok(again.lit > 0.9, `after destroy: ${JSON.stringify(again)}`);
  });

  test('bad input is refused with a kind', async () => {
    const result = await harness(async () => {
      const out = {};
      try {
        await window.viewerHarness.call('show', { bytes: new Uint8Array([1, 2, 3]), kind: 'dicom' });
      } catch (error) {
        out.dicom = error.kind;
      }
      try {
        await window.viewerHarness.call('show', { bytes: new Uint8Array([1, 2, 3]), kind: 'gif' });
      } catch (error) {
        out.kind = error.kind;
      }
      try {
        await window.viewerHarness.call('show', { bytes: new Uint8Array([1, 2, 3]), kind: 'png' });
      } catch (error) {
        out.png = error.kind;
      }
      return out;
    });
    assert.deepEqual(result, { dicom: 'unsupported', kind: 'misuse', png: 'unsupported' });
    // the viewer stays usable after a refusal
    await show('g-native.dcm', 'dicom');
    assert.ok((await stats()).lit > 0.9);
  });

  test('dicomAttributes lists the side-panel attributes', async () => {
    const attrs = await harness(() => window.viewerHarness.attributes('/fixtures/mf16.dcm'));
    const byKeyword = Object.fromEntries(attrs.map((a) => [a.keyword, a]));
    assert.equal(byKeyword.PatientID.value, 'FAKE-0001');
    assert.equal(byKeyword.PatientName.value, 'Test Viewer');
    assert.equal(byKeyword.Rows.value, '512');
    assert.equal(byKeyword.NumberOfFrames.value, '100');
    assert.equal(byKeyword.BitsAllocated.value, '16');
    assert.equal(byKeyword.PatientID.tag, '(0010,0020)');
    assert.match(byKeyword.TransferSyntaxUID.value, /^Explicit VR Little Endian \(1\.2\.840\.10008\.1\.2\.1\)$/);
    const j2k = await harness(() => window.viewerHarness.attributes('/fixtures/g-j2k.dcm'));
    assert.match(j2k.find((a) => a.keyword === 'TransferSyntaxUID').value, /^JPEG 2000/);
  });

  test('no console errors and no CSP violations', async () => {
    const violations = await harness(() => window.viewerHarness.violations);
    assert.deepEqual(violations, []);
    assert.deepEqual(consoleErrors, []);
    const statuses = await harness(() => window.viewerHarness.statuses.map((s) => s.state));
    assert.ok(statuses.includes('shown') && statuses.includes('frame') && statuses.includes('error'));
  });
});
