/**
 * bench/web.mjs BUILD_DIR: the browser benchmark of the web client (`node bench/web.mjs BUILD_DIR`;
 * bench/run calls it). Headless Chromium (playwright-core, /usr/bin/chromium) against the CLI, on the
 * same BENCH_MIB MiB file (a DICOM: 512x512 16-bit frames of random pixels, since the send page
 * takes only DICOM, PNG and JPEG), both against one medcryptd started here on loopback with
 * --web-root pointing at a build of the client made here (web/build.mjs into the run directory,
 * plus the bench-only page code of bench/web/, built with esbuild; web/dist is not touched).
 *
 * The users: admin, tech (technician, the sender), doca (doctor) and pat (patient, who appoints
 * doca: issue 12's rules), registered with the CLI of BUILD_DIR. Every send is about pat and goes
 * to doca, pat and the sender (the send page always adds the sender and the patient; the CLI's
 * `send` too). Per round, BENCH_RUNS rounds (3), alternating CLI and browser:
 *
 *   cli-aes      `medcrypt send FILE --to doca --patient pat --cipher aes` (wall time of the process)
 *   web-aes      the send page: file input, AES-256-GCM, patient pat chosen, doca ticked, click "Seal and send" →
 *                the queue item's data-status="sent" (page clock: click to the DOM change)
 *   cli-chacha   the same with --cipher chacha20 (the CLI's default)
 *   web-chacha   the send page with ChaCha20-Poly1305
 *   seal-aes, seal-chacha
 *                sealing alone in the browser: bench/web/seal-worker.js runs web/src/container
 *                seal() over File.stream() into a counting sink, in a Web Worker of the same tab
 *   first-frame  doca's tab: click "Open" on a 100-frame 512x512 16-bit DICOM in the inbox →
 *                #viewer gets data-state="shown", which src/pages/view.js sets once
 *                viewer.show() resolved, i.e. once the first frame is drawn on the canvas
 *
 * The sender's tab is driven through raw CDP, not Playwright (see RawTab below: Playwright's
 * network instrumentation slows a tab's uploads twentyfold); doca's tab is a Playwright page.
 *
 * During each browser send: the tab's JS heap (CDP Performance.getMetrics JSHeapUsedSize, every
 * 100 ms) and the app worker's (CDP Runtime.getHeapUsage through Target.setAutoAttach), and the
 * page's long tasks (PerformanceObserver 'longtask').
 *
 * Prints a markdown section on stdout and a PASS/FAIL line per target on stderr; exits 0
 * whatever the figures, non-zero only for a broken setup.
 *
 * Environment: BENCH_RUNS (3), BENCH_MIB (1024), BENCH_DIR (/tmp/medcrypt-bench),
 * MEDCRYPT_CHROMIUM (/usr/bin/chromium).
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, readFileSync, statSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const WEB = join(ROOT, 'web');
const require = createRequire(join(WEB, 'package.json'));
const playwright = await import(pathToFileURL(require.resolve('playwright-core')).href);
const chromium = playwright.chromium ?? playwright.default.chromium;
const esbuildModule = await import(pathToFileURL(require.resolve('esbuild')).href);
const esbuild = esbuildModule.build ? esbuildModule : esbuildModule.default;
const { buildClient, TARGET } = await import(pathToFileURL(join(WEB, 'build.mjs')).href);

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const MIB = Number(process.env.BENCH_MIB ?? 1024);
const BENCH_DIR = process.env.BENCH_DIR || '/tmp/medcrypt-bench';
const CHROMIUM = process.env.MEDCRYPT_CHROMIUM || '/usr/bin/chromium';
const HEAP_LIMIT = 256e6; // bytes (MB)
const LONGTASK_LIMIT = 200; // ms
const FIRST_FRAME_LIMIT = 2000; // ms
const FRAME = 512 * 512 * 2;
// A browser send still running after CAP seconds is cancelled (Cancel on the page; the server
// deletes the upload) and counted at the rate of what the server had acknowledged by then.
const CAP = Number(process.env.BENCH_WEB_CAP ?? 600);

const log = (m) => process.stderr.write(`bench: web: ${m}\n`);
const die = (m) => {
  log(m);
  process.exit(1);
};
if (process.argv.length !== 3) die('usage: node bench/web.mjs BUILD_DIR   (normally called by bench/run)');
if (!Number.isInteger(RUNS) || RUNS < 1) die('BENCH_RUNS must be a positive integer');
if (!Number.isInteger(MIB) || MIB < 1 || (MIB * 1024 * 1024) % FRAME) die('BENCH_MIB must be a positive integer');
let BUILD = process.argv[2];
if (!existsSync(BUILD)) BUILD = join(ROOT, BUILD);
for (const b of ['medcrypt/medcrypt', 'medcryptd/medcryptd']) {
  if (!existsSync(join(BUILD, 'src', b))) die(`no ${BUILD}/src/${b} (ninja -C ${BUILD})`);
}
if (!existsSync(CHROMIUM)) die(`no Chromium at ${CHROMIUM} (scripts/bootstrap installs it)`);

/* ---- a run directory, removed on exit; the server and the browser stopped by us ---- */
await mkdir(BENCH_DIR, { recursive: true });
const W = await mkdtemp(join(BENCH_DIR, 'web.'));
let server = null;
let browser = null;
async function cleanup() {
  await browser?.close().catch(() => {});
  if (server && server.exitCode === null) {
    const gone = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    await gone;
  }
  await rm(W, { recursive: true, force: true });
}
process.on('uncaughtException', (e) => {
  log(e?.stack ?? String(e));
  cleanup().finally(() => process.exit(1));
});
process.on('unhandledRejection', (e) => {
  log(e?.stack ?? String(e));
  cleanup().finally(() => process.exit(1));
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => cleanup().finally(() => process.exit(130)));

/* ---- the inputs: DICOM files, explicit VR little endian, 16-bit MONOCHROME2, fake patient ---- */
function dicomHeader(frames, size) {
  const long = new Set(['OB', 'OW', 'SQ', 'UT', 'UN']);
  const el = (group, element, vr, value, length) => {
    let v = Buffer.isBuffer(value) ? value : Buffer.from(value, 'latin1');
    if (v.length % 2) v = Buffer.concat([v, Buffer.from(vr === 'UI' || long.has(vr) ? [0] : [0x20])]);
    const head = Buffer.alloc(long.has(vr) ? 12 : 8);
    head.writeUInt16LE(group, 0);
    head.writeUInt16LE(element, 2);
    head.write(vr, 4, 'latin1');
    if (long.has(vr)) head.writeUInt32LE(length ?? v.length, 8);
    else head.writeUInt16LE(v.length, 6);
    return Buffer.concat([head, v]);
  };
  const us = (n) => Buffer.from([n & 0xff, n >> 8]);
  const sop = '1.2.826.0.1.3680043.8.498.77';
  const meta = Buffer.concat([
    el(0x0002, 0x0001, 'OB', Buffer.from([0, 1])),
    el(0x0002, 0x0002, 'UI', '1.2.840.10008.5.1.4.1.1.7.3'),
    el(0x0002, 0x0003, 'UI', sop),
    el(0x0002, 0x0010, 'UI', '1.2.840.10008.1.2.1'),
    el(0x0002, 0x0012, 'UI', '1.2.826.0.1.3680043.8.498'),
  ]);
  const gl = Buffer.alloc(4);
  gl.writeUInt32LE(meta.length);
  return Buffer.concat([
    Buffer.alloc(128), Buffer.from('DICM', 'latin1'), el(0x0002, 0x0000, 'UL', gl), meta,
    el(0x0008, 0x0016, 'UI', '1.2.840.10008.5.1.4.1.1.7.3'),
    el(0x0008, 0x0018, 'UI', sop),
    el(0x0008, 0x0020, 'DA', '20240301'),
    el(0x0008, 0x0060, 'CS', 'CT'),
    el(0x0008, 0x1030, 'LO', 'medcrypt bench (fake)'),
    el(0x0010, 0x0010, 'PN', 'Bench^Fake'),
    el(0x0010, 0x0020, 'LO', 'BENCH-0001'),
    el(0x0020, 0x000d, 'UI', '1.2.826.0.1.3680043.8.498.78'),
    el(0x0020, 0x000e, 'UI', '1.2.826.0.1.3680043.8.498.79'),
    el(0x0028, 0x0002, 'US', us(1)),
    el(0x0028, 0x0004, 'CS', 'MONOCHROME2'),
    el(0x0028, 0x0008, 'IS', String(frames)),
    el(0x0028, 0x0010, 'US', us(size)),
    el(0x0028, 0x0011, 'US', us(size)),
    el(0x0028, 0x0100, 'US', us(16)),
    el(0x0028, 0x0101, 'US', us(16)),
    el(0x0028, 0x0102, 'US', us(15)),
    el(0x0028, 0x0103, 'US', us(0)),
    el(0x7fe0, 0x0010, 'OW', Buffer.alloc(0), frames * size * size * 2),
  ]);
}

/** Writes path (cached when its size is right): the header, then frames made by frame(i). */
async function writeDicom(path, frames, frameBytes) {
  const header = dicomHeader(frames, 512);
  const size = header.length + frames * FRAME;
  if (existsSync(path) && statSync(path).size === size) {
    log(`reusing ${path}`);
    return size;
  }
  log(`writing ${path} (${frames} frames of 512x512 16-bit)`);
  const tmp = `${path}.tmp.${process.pid}`;
  const out = createWriteStream(tmp);
  const write = (b) => (out.write(b) ? Promise.resolve() : new Promise((r) => out.once('drain', r)));
  await write(header);
  for (let i = 0; i < frames; i++) await write(frameBytes(i));
  await new Promise((r, j) => out.end((e) => (e ? j(e) : r())));
  await rename(tmp, path);
  return size;
}
const rampFrame = (f) => {
  const b = Buffer.alloc(FRAME);
  for (let y = 0; y < 512; y++) for (let x = 0; x < 512; x++) b.writeUInt16LE(((x + y + 8 * f) % 512) * 64, (y * 512 + x) * 2);
  return b;
};
const BIG = join(BENCH_DIR, `web-random-${MIB}MiB.dcm`);
const BIG_BYTES = await writeDicom(BIG, (MIB * 1024 * 1024) / FRAME, () => randomBytes(FRAME));
const SMALL = join(BENCH_DIR, 'web-ramp-100x512x512.dcm');
await writeDicom(SMALL, 100, rampFrame);
await new Promise((res) => { // warm the page cache: every figure is CPU and loopback, not disk
  const s = createReadStream(BIG, { highWaterMark: 1 << 22 });
  s.on('data', () => {}).on('end', res).on('error', res);
});

/* ---- binaries, client build, bench page code ---- */
await copyFile(join(BUILD, 'src/medcrypt/medcrypt'), join(W, 'medcrypt'));
await copyFile(join(BUILD, 'src/medcryptd/medcryptd'), join(W, 'medcryptd'));
const MEDCRYPT = join(W, 'medcrypt');
const webRoot = join(W, 'webroot');
log('building the web client (web/build.mjs) and bench/web/ (esbuild) into the run directory');
const manifest = await buildClient({ outdir: webRoot });
await esbuild.build({
  define: { __MEDCRYPT_CHACHA_WORKER_URL__: JSON.stringify(`/${manifest.entries['chacha-worker.js']}`) },
  absWorkingDir: WEB, bundle: true, format: 'esm', platform: 'browser', target: TARGET, minify: true, logLevel: 'warning',
  entryPoints: { 'bench-seal-page': join(ROOT, 'bench/web/seal-page.js'), 'bench-seal-worker': join(ROOT, 'bench/web/seal-worker.js') },
  outdir: webRoot,
});

/* ---- the server ---- */
function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}
const port = await freePort();
server = spawn(join(W, 'medcryptd'), ['--listen', `127.0.0.1:${port}`, '--data-dir', join(W, 'data'), '--web-root', webRoot],
  { stdio: ['ignore', 'pipe', 'pipe'] });
let url;
let invitation;
{
  let out = '';
  let errLog = '';
  server.stderr.on('data', (d) => (errLog = (errLog + d).slice(-4000)));
  await new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`medcryptd did not start: ${errLog}`)), 30000);
    server.once('exit', (code) => rej(new Error(`medcryptd exited ${code}: ${errLog}`)));
    server.stdout.on('data', (d) => {
      out += d;
      if (/is listening on/.test(out) && /invitation: [A-Z2-7]{32}/.test(out)) {
        clearTimeout(timer);
        res();
      }
    });
  }).catch((e) => cleanup().then(() => die(e.message)));
  server.removeAllListeners('exit');
  url = /is listening on (https:\/\/localhost:\d+)/.exec(out)[1];
  invitation = /invitation: ([A-Z2-7]{32})/.exec(out)[1];
}
log(`medcryptd on ${url} (pid ${server.pid})`);

/* ---- the CLI ---- */
const PW = Object.fromEntries(['admin', 'tech', 'doca', 'pat'].map((u) => [u, `bench ${u} ${randomBytes(9).toString('hex')} granite cello`]));
function cli(user, args) {
  const env = { ...process.env, MEDCRYPT_HOME: join(W, `home-${user}`), MEDCRYPT_PASSPHRASE: PW[user], MEDCRYPT_ASSUME_YES: '1', MEDCRYPT_NO_PROGRESS: '1' };
  return new Promise((res, rej) => {
    execFile(MEDCRYPT, args, { env, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      if (err) rej(new Error(`medcrypt ${args.join(' ')} (as ${user}): ${stderr || err.message}`));
      else res(stdout.trim());
    });
  });
}
async function fail(e) {
  log(e?.stack ?? String(e));
  await cleanup();
  process.exit(1);
}
try {
  await cli('admin', ['register', invitation, '--user', 'admin', '--url', url, '--yes']);
  for (const [u, role] of [['tech', 'technician'], ['doca', 'doctor'], ['pat', 'patient']]) {
    const code = await cli('admin', ['invite', '--role', role]);
    await cli(u, ['register', code, '--user', u, '--url', url, '--yes']);
  }
  await cli('pat', ['appoint', 'doca']);
} catch (e) {
  await fail(e);
}
const VERSION = (await cli('tech', ['--version']).catch(() => '?')).split('\n')[0];

/* ---- the browser ---- */
browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--enable-precise-memory-info', '--ignore-certificate-errors'] });
const problems = [];
async function signIn(user, viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport });
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`${user}: ${e.message}`));
  await page.goto(`${url}/login`);
  await page.fill('#login-username', user);
  await page.fill('#login-password', PW[user]);
  await page.click('form button[type=submit]');
  await page.waitForURL(/\/inbox$/, { timeout: 120000 });
  return page;
}

const R = {}; // key -> [values]
const push = (k, v) => (R[k] ??= []).push(v);
const heap = { page: 0, worker: 0, workerSeen: false };
let longest = 0;
let firstFrameId = null;

/*
 * The sender's tab, outside Playwright's instrumentation. Playwright turns on the DevTools Network
 * domain in every page it drives, and with it on Chromium hands each request body to DevTools as
 * well: uploads then run about twenty times slower than in a tab no DevTools client watches (16
 * MiB XHRs to a node server on loopback: 10–20 MB/s under Playwright, 140–290 MB/s in a target
 * made with raw CDP, same browser, same second). A user's browser has no DevTools attached, so
 * the sending tab is made and driven through raw CDP: Target.createTarget in a browser context of
 * its own, Runtime.evaluate for the clicks and checks, DOM.setFileInputFiles for the file (which
 * fires the input's change event as a user's choice does), and no domain enabled but Runtime
 * (page errors), Performance (the heap) and, in the app's worker, the heap query.
 */
class RawTab {
  static async open(url) {
    const tab = new RawTab();
    tab.browser = await browser.newBrowserCDPSession();
    const { browserContextId } = await tab.browser.send('Target.createBrowserContext', {});
    const { targetId } = await tab.browser.send('Target.createTarget', { url: 'about:blank', browserContextId });
    tab.sessionId = (await tab.browser.send('Target.attachToTarget', { targetId, flatten: false })).sessionId;
    tab.seq = 0;
    tab.pending = new Map(); // message id -> {resolve, reject}
    tab.workers = new Map(); // worker session id -> Map(message id -> resolve)
    tab.browser.on('Target.receivedMessageFromTarget', ({ sessionId, message }) => {
      if (sessionId === tab.sessionId) tab.onMessage(JSON.parse(message));
    });
    await tab.call('Runtime.enable');
    await tab.call('Performance.enable');
    await tab.call('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: false });
    await tab.goto(url);
    return tab;
  }

  onMessage(m) {
    if (m.id !== undefined) {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.error) p?.reject(new Error(`${m.error.message} ${m.error.data ?? ''}`));
      else p?.resolve(m.result);
    } else if (m.method === 'Runtime.exceptionThrown') {
      problems.push(`tech: ${m.params.exceptionDetails?.exception?.description ?? m.params.exceptionDetails?.text}`);
    } else if (m.method === 'Target.attachedToTarget' && m.params.targetInfo.type === 'worker') {
      this.workers.set(m.params.sessionId, new Map());
      if (process.env.BENCH_WEB_TRACE) { // the worker's console lines on stderr
        this.call('Target.sendMessageToTarget', { sessionId: m.params.sessionId, message: JSON.stringify({ id: -1, method: 'Runtime.enable' }) })
          .catch(() => {});
      }
    } else if (m.method === 'Target.detachedFromTarget') {
      this.workers.delete(m.params.sessionId);
    } else if (m.method === 'Target.receivedMessageFromTarget') {
      const w = JSON.parse(m.params.message);
      if (w.method === 'Runtime.consoleAPICalled') log(`worker: ${w.params.args.map((a) => a.value ?? a.description).join(' ')}`);
      else this.workers.get(m.params.sessionId)?.get(w.id)?.(w.result);
    }
  }

  call(method, params = {}) {
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.browser.send('Target.sendMessageToTarget', { sessionId: this.sessionId, message: JSON.stringify({ id, method, params }) })
        .catch(reject);
    });
  }

  /** fn(arg) in the page; its (awaited) result, by value. */
  async eval(fn, arg) {
    const r = await this.call('Runtime.evaluate', {
      expression: `(${fn})(${JSON.stringify(arg ?? null)})`, awaitPromise: true, returnByValue: true, userGesture: true,
    });
    if (r.exceptionDetails) throw new Error(`in the page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value;
  }

  /** Polls fn(arg) in the page until it is truthy; its value. */
  async waitFor(fn, arg, timeout = 120000, every = 200) {
    const end = Date.now() + timeout;
    for (;;) {
      const v = await this.eval(fn, arg).catch((e) => (/context|navigat/i.test(e.message) ? null : Promise.reject(e)));
      if (v) return v;
      if (Date.now() > end) throw Object.assign(new Error(`timed out waiting for ${String(fn).slice(0, 120)}`), { name: 'TimeoutError' });
      await new Promise((r) => setTimeout(r, every));
    }
  }

  async goto(url) {
    await this.call('Page.navigate', { url });
    await this.waitFor(() => document.readyState === 'complete');
  }

  click(selector) {
    return this.eval((s) => {
      const el = document.querySelector(s);
      if (!el) throw new Error(`no ${s}`);
      el.click();
      return true;
    }, selector);
  }

  check(selector) {
    return this.eval((s) => {
      const el = document.querySelector(s);
      if (!el) throw new Error(`no ${s}`);
      if (!el.checked) el.click();
      return el.checked;
    }, selector);
  }

  async setFiles(selector, files) {
    const { root } = await this.call('DOM.getDocument', { depth: 0 });
    const { nodeId } = await this.call('DOM.querySelector', { nodeId: root.nodeId, selector });
    if (!nodeId) throw new Error(`no ${selector}`);
    await this.call('DOM.setFileInputFiles', { nodeId, files });
  }

  async heap() {
    const m = await this.call('Performance.getMetrics');
    return m.metrics.find((x) => x.name === 'JSHeapUsedSize')?.value ?? 0;
  }

  /** The JS heap of the tab's workers (Runtime.getHeapUsage in each). */
  async workerHeap() {
    let total = 0;
    for (const [sessionId, pending] of this.workers) {
      const id = ++this.seq;
      const got = new Promise((r) => pending.set(id, r));
      await this.call('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method: 'Runtime.getHeapUsage' }) }).catch(() => {});
      const res = await Promise.race([got, new Promise((r) => setTimeout(() => r(null), 1000))]);
      pending.delete(id);
      if (res?.usedSize !== undefined) {
        total += res.usedSize;
        heap.workerSeen = true;
      }
    }
    return total;
  }
}

let tech; // a RawTab
let doca;
try {
  tech = await RawTab.open(`${url}/login`);
  await tech.waitFor(() => document.querySelector('#login-username'));
  await tech.eval(([user, password]) => {
    const set = (id, v) => {
      const el = document.getElementById(id);
      el.value = v;
      el.dispatchEvent(new Event('input', { bubbles: true }));
    };
    set('login-username', user);
    set('login-password', password);
    document.querySelector('form button[type=submit]').click();
    return true;
  }, ['tech', PW.tech]);
  await tech.waitFor(() => location.pathname === '/inbox');
  await tech.click('nav a[href="/send"]');
  await tech.waitFor(() => location.pathname === '/send' && document.querySelector('#send-to-doca') && document.querySelector('#send-patient option[value="pat"]'));
  await tech.eval(() => {
    const select = document.getElementById('send-patient');
    select.value = 'pat';
    select.dispatchEvent(new Event('change', { bubbles: true }));
    return true;
  });
  await tech.eval(() => import('/bench-seal-page.js').then(() => globalThis.medcryptBench.setup()).then(() => {
    const input = document.createElement('input');
    input.type = 'file';
    input.id = 'bench-file';
    input.hidden = true;
    document.body.append(input);
    return true;
  }));
  await tech.setFiles('#bench-file', [BIG]);

  log('tech sends the 100-frame DICOM to doca with the CLI; doca signs in in a second tab');
  firstFrameId = await cli('tech', ['send', SMALL, '--to', 'doca', '--patient', 'pat']);
  doca = await signIn('doca');
} catch (e) {
  await fail(e);
}

/*
 * The CPU seconds each process spent during each send (utime + stime from /proc): Chromium's by
 * process type, medcryptd's and the CLI's; the report has their medians (where the cores went),
 * and BENCH_WEB_CPU=1 prints each send's on stderr.
 */
function cpuTimes() {
  const out = new Map(); // pid -> {name, cs}
  const hz = 100;
  let pids = [];
  try {
    pids = execFileSync('ps', ['-e', '-o', 'pid=']).toString().trim().split(/\s+/).map(Number);
  } catch {
    return out;
  }
  for (const pid of pids) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(/[\0 ]/); // Chromium rewrites its title with spaces
      let name = null;
      if (/chromium|chrome/.test(cmd[0])) {
        const type = cmd.find((a) => a.startsWith('--type='))?.slice(7) ?? 'browser';
        const sub = cmd.find((a) => a.startsWith('--utility-sub-type='))?.slice(19);
        name = `chromium ${type}${sub ? ` ${sub.split('.').at(-1)}` : ''}`;
      } else if (cmd[0].endsWith('/medcryptd')) name = 'medcryptd';
      if (!name) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(pid, { name, cs: (Number(f[11]) + Number(f[12])) * (100 / hz) });
    } catch {
      // gone meanwhile
    }
  }
  // The CLI has ended by the time of the report: its CPU is in this process's children's times.
  const self = readFileSync('/proc/self/stat', 'utf8');
  const f = self.slice(self.lastIndexOf(')') + 2).split(' ');
  out.set('cli', { name: 'medcrypt (CLI)', cs: (Number(f[13]) + Number(f[14])) * (100 / hz) });
  return out;
}
const CPU = {}; // label -> [{name -> CPU seconds}]
function cpuReport(label, before) {
  const after = cpuTimes();
  const by = new Map();
  for (const [pid, { name, cs }] of after) by.set(name, (by.get(name) ?? 0) + cs - (before.get(pid)?.cs ?? 0));
  (CPU[label] ??= []).push(Object.fromEntries([...by].map(([k, v]) => [k, v / 100])));
  if (process.env.BENCH_WEB_CPU) {
    log(`${label}: CPU s ${[...by].filter(([, v]) => v > 1).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${(v / 100).toFixed(2)}`).join(', ')}`);
  }
}

async function cliSend(cipher) {
  const cpu0 = cpuTimes();
  const t0 = process.hrtime.bigint();
  await cli('tech', ['send', BIG, '--to', 'doca', '--patient', 'pat', '--cipher', cipher]);
  cpuReport(`cli-${cipher}`, cpu0);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function webSend(cipher) {
  await tech.eval(() => {
    const clear = [...document.querySelectorAll('button')].find((b) => b.textContent.includes('Clear sent and refused files'));
    if (clear && clear.offsetParent !== null) clear.click();
    return true;
  });
  await tech.setFiles('#send-files', [BIG]);
  await tech.waitFor(() => document.querySelectorAll('#send-queue [data-status="ready"]').length === 1);
  await tech.check(cipher === 'aes' ? '#send-cipher-aes' : '#send-cipher-chacha');
  await tech.check('#send-to-doca');
  await tech.eval(() => {
    const b = (globalThis.__bench = { t0: 0, t1: 0, failed: '', longest: 0 });
    const count = (st) => document.querySelectorAll(`#send-queue [data-status="${st}"]`).length;
    const sent0 = count('sent');
    const failed0 = count('failed');
    b.observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        if (b.t0 && !b.t1 && e.duration > b.longest) {
          b.longest = e.duration;
          b.longestAt = e.startTime - b.t0; // ms after the click
        }
      }
    });
    b.observer.observe({ type: 'longtask' });
    document.getElementById('send-submit').addEventListener('click', () => (b.t0 = performance.now()), { capture: true, once: true });
    const queue = document.getElementById('send-queue');
    const mo = new MutationObserver(() => {
      if (count('sent') > sent0) b.t1 = performance.now();
      else if (count('failed') > failed0) b.failed = queue.innerText.slice(0, 300);
      if (b.t1 || b.failed) mo.disconnect();
    });
    mo.observe(queue, { subtree: true, childList: true, attributes: true });
    return true;
  });
  let sampling = true;
  let peakPage = 0;
  let peakWorker = 0;
  const sampler = (async () => {
    while (sampling) {
      const [p, w] = await Promise.all([tech.heap(), tech.workerHeap()]);
      peakPage = Math.max(peakPage, p);
      peakWorker = Math.max(peakWorker, w);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const cpu0 = cpuTimes();
  const clicked = Date.now();
  await tech.click('#send-submit');
  let capped = false;
  try {
    await tech.waitFor(() => globalThis.__bench.t1 || globalThis.__bench.failed, null, CAP * 1000, 100);
  } catch (e) {
    if (e?.name !== 'TimeoutError') throw e;
    log(`${cipher}: not done after ${CAP} s: cancelling it`);
    await tech.eval(() => [...document.querySelectorAll('#send-queue button')].find((b) => b.textContent.includes('Cancel'))?.click() ?? true);
    await tech.waitFor(() => globalThis.__bench.failed, null, 60000);
    capped = (Date.now() - clicked) / 1000;
  }
  cpuReport(`web-${cipher}`, cpu0);
  sampling = false;
  await sampler;
  const b = await tech.eval(() => {
    const r = globalThis.__bench;
    r.observer.disconnect();
    return { t0: r.t0, t1: r.t1, failed: r.failed, longest: r.longest, longestAt: r.longestAt };
  });
  if (b.failed && !capped) throw new Error(`the send page failed: ${b.failed}`);
  heap.page = Math.max(heap.page, peakPage);
  heap.worker = Math.max(heap.worker, peakWorker);
  longest = Math.max(longest, b.longest);
  if (b.longest) log(`${cipher}: longest main-thread task ${b.longest.toFixed(0)} ms, ${((b.longestAt ?? 0) / 1000).toFixed(1)} s after the click`);
  push(`heap-page-${cipher}`, peakPage);
  push(`heap-worker-${cipher}`, peakWorker);
  push(`longtask-${cipher}`, b.longest);
  if (capped) {
    CAPPED[`web-${cipher}`] = { seconds: capped };
    return capped; // a lower bound of the time: its rate is an upper bound
  }
  return (b.t1 - b.t0) / 1000;
}
const CAPPED = {};

async function sealOnly(cipher) {
  const r = await tech.eval((c) => globalThis.medcryptBench.seal(document.getElementById('bench-file').files[0], c), cipher);
  if (r.bytes < BIG_BYTES) throw new Error(`sealed only ${r.bytes} bytes`);
  return r.ms / 1000;
}

async function firstFrame() {
  await doca.click('nav a[href="/inbox"]');
  await doca.waitForFunction((id) => document.querySelector(`#inbox-list tr[data-id="${id}"] a`)
    && document.getElementById('inbox-progress')?.textContent === '', firstFrameId, { timeout: 120000 });
  await doca.evaluate(() => {
    const b = (globalThis.__frame = { t0: 0, t1: 0 });
    document.addEventListener('click', () => (b.t0 ||= performance.now()), { capture: true });
    const mo = new MutationObserver(() => {
      if (document.querySelector('#viewer[data-state="shown"]')) {
        b.t1 = performance.now();
        mo.disconnect();
      } else if (document.querySelector('#viewer[data-state="error"]')) {
        b.failed = true;
        mo.disconnect();
      }
    });
    mo.observe(document.documentElement, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });
  });
  await doca.click(`#inbox-list tr[data-id="${firstFrameId}"] a`);
  await doca.waitForFunction(() => globalThis.__frame.t1 || globalThis.__frame.failed, null, { timeout: 120000, polling: 100 });
  const f = await doca.evaluate(() => globalThis.__frame);
  if (f.failed) throw new Error('the viewer failed to show the DICOM');
  return f.t1 - f.t0;
}

/* ---- the rounds ---- */
const busy = () => {
  const [, ...v] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  return v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
};
const START = new Date().toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
const LOAD_START = loadavg().map((x) => x.toFixed(2)).join(' ');
const busyStart = busy();
const wallStart = Date.now();
const steps = [
  ['cli-aes', () => cliSend('aes')],
  ['web-aes', () => webSend('aes')],
  ['cli-chacha20', () => cliSend('chacha20')],
  ['web-chacha20', () => webSend('chacha20')],
  ['seal-aes', () => sealOnly('aes')],
  ['seal-chacha20', () => sealOnly('chacha20')],
  ['first-frame', () => firstFrame()],
];
try {
  for (let r = 1; r <= RUNS; r++) {
    for (const [key, run] of steps) {
      const v = await run();
      push(key, v);
      log(`round ${r}/${RUNS} ${key}: ${key === 'first-frame' ? `${v.toFixed(0)} ms` : `${v.toFixed(2)} s, ${(BIG_BYTES / v / 1e6).toFixed(0)} MB/s`}`);
    }
  }
} catch (e) {
  await fail(e);
}
const LOAD_END = loadavg().map((x) => x.toFixed(2)).join(' ');
const CORES_USED = ((busy() - busyStart) / 100 / ((Date.now() - wallStart) / 1000)).toFixed(2);
const CHROME_VERSION = browser.version();
await cleanup();

/* ---- the report ---- */
const sorted = (a) => [...a].sort((x, y) => x - y);
const median = (a) => {
  const s = sorted(a);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const mbps = (s) => BIG_BYTES / s / 1e6;
const rate = (k) => {
  const v = R[k].map(mbps);
  return { med: median(v), min: Math.min(...v), max: Math.max(...v) };
};
const f0 = (x) => x.toFixed(0);
const f1 = (x) => x.toFixed(x < 10 ? 1 : 0);
const cell = (k) => {
  const r = rate(k);
  return `${f1(r.med)} | ${f1(r.min)}–${f1(r.max)}`;
};
const MB = (b) => (b / 1e6).toFixed(1);

const verdicts = [];
const verdict = (name, figure, target, ok) => {
  verdicts.push(`| ${name} | ${figure} | ${target} | ${ok ? 'PASS' : 'FAIL'} |`);
  log(`${ok ? 'PASS' : 'FAIL'} ${name}: ${figure} (target ${target})`);
};
const ratio = (a, b) => rate(a).med / rate(b).med;
verdict('browser seal + upload, AES-256-GCM, vs `medcrypt send --cipher aes`', `${ratio('web-aes', 'cli-aes').toFixed(2)}×`, '≥ 1×', ratio('web-aes', 'cli-aes') >= 1);
verdict('browser seal + upload, AES-256-GCM, vs `medcrypt send` (default, ChaCha20-Poly1305)', `${ratio('web-aes', 'cli-chacha20').toFixed(2)}×`, '≥ 1×', ratio('web-aes', 'cli-chacha20') >= 1);
verdict('browser seal + upload, ChaCha20-Poly1305, vs `medcrypt send` (default, ChaCha20-Poly1305)', `${ratio('web-chacha20', 'cli-chacha20').toFixed(2)}×`, '≥ 0.5×', ratio('web-chacha20', 'cli-chacha20') >= 0.5);
verdict('peak JS heap of the tab during a send', `${MB(heap.page)} MB`, '< 256 MB', heap.page < HEAP_LIMIT);
verdict('longest main-thread task during a send', `${f0(longest)} ms`, '< 200 ms', longest < LONGTASK_LIMIT);
const ff = R['first-frame'];
verdict('click in the inbox to the first frame, 100 × 512×512 16-bit DICOM (median)', `${f0(median(ff))} ms`, '≤ 2000 ms', median(ff) <= FIRST_FRAME_LIMIT);

const cpu = cpus()[0]?.model ?? '?';
const md = [];
md.push('## Browser client (headless Chromium) against the CLI');
md.push('');
md.push(`\`node bench/web.mjs ${process.argv[2]}\` (called by \`bench/run\`): ${RUNS} rounds, each running, one after`);
md.push('another, the CLI and the browser on the same file, against the same medcryptd on loopback (see');
md.push('`bench/README.md`). Medians, with the minimum and maximum of the runs. MB/s is the file\'s size');
md.push(`(${BIG_BYTES.toLocaleString('en')} bytes: a DICOM of ${(MIB * 1024 * 1024) / FRAME} frames of 512×512 16-bit random pixels) / seconds / 10^6.`);
md.push('Every send is signed by the sender (tech) and sealed for one doctor (doca), the patient it is about (pat, who appointed doca) and the sender.');
md.push('');
md.push('| | |');
md.push('|---|---|');
md.push(`| date | ${START} |`);
md.push(`| CPU | ${cpu}, ${cpus().length} cores |`);
md.push(`| memory | ${(totalmem() / 2 ** 30).toFixed(1)} GiB |`);
md.push(`| browser | Chromium ${CHROME_VERSION}, headless; the sending tab driven through raw CDP (no DevTools Network domain) |`);
md.push(`| medcrypt | ${VERSION} |`);
md.push(`| load average | ${LOAD_START} at start, ${LOAD_END} at end |`);
md.push(`| CPU in use | ${CORES_USED} of ${cpus().length} cores on average during the rounds (the measured runs and everything else) |`);
md.push('');
md.push('| measurement | MB/s (median) | min–max | runs |');
md.push('|---|---:|---:|---:|');
md.push(`| \`medcrypt send --cipher aes\` (seal + upload) | ${cell('cli-aes')} | ${R['cli-aes'].length} |`);
md.push(`| \`medcrypt send\` (ChaCha20-Poly1305, the default) | ${cell('cli-chacha20')} | ${R['cli-chacha20'].length} |`);
md.push(`| browser send page, AES-256-GCM (seal + upload) | ${cell('web-aes')} | ${R['web-aes'].length} |`);
md.push(`| browser send page, ChaCha20-Poly1305 (seal + upload) | ${cell('web-chacha20')} | ${R['web-chacha20'].length} |`);
md.push(`| browser sealing alone, AES-256-GCM (Web Worker, counting sink) | ${cell('seal-aes')} | ${R['seal-aes'].length} |`);
md.push(`| browser sealing alone, ChaCha20-Poly1305 (Web Worker, counting sink) | ${cell('seal-chacha20')} | ${R['seal-chacha20'].length} |`);
md.push('');
for (const [k, c] of Object.entries(CAPPED)) {
  md.push(`${k === 'web-aes' ? 'AES-256-GCM' : 'ChaCha20-Poly1305'}: a browser send did not finish within ${CAP} s (BENCH_WEB_CAP): it was`);
  md.push(`cancelled after ${c.seconds.toFixed(0)} s; its MB/s is the file's size over that time, an upper bound.`);
  md.push('');
}
md.push('| during a browser send | median | min–max |');
md.push('|---|---:|---:|');
for (const c of ['aes', 'chacha20']) {
  const name = c === 'aes' ? 'AES-256-GCM' : 'ChaCha20-Poly1305';
  const hp = R[`heap-page-${c}`];
  const hw = R[`heap-worker-${c}`];
  const lt = R[`longtask-${c}`];
  md.push(`| peak JS heap of the tab (JSHeapUsedSize), ${name} | ${MB(median(hp))} MB | ${MB(Math.min(...hp))}–${MB(Math.max(...hp))} MB |`);
  md.push(heap.workerSeen
    ? `| peak JS heap of the app's Web Worker (Runtime.getHeapUsage), ${name} | ${MB(median(hw))} MB | ${MB(Math.min(...hw))}–${MB(Math.max(...hw))} MB |`
    : `| peak JS heap of the app's Web Worker, ${name} | not measured (no worker target answered) | |`);
  md.push(`| longest main-thread task (Long Tasks API, ≥ 50 ms; 0: none), ${name} | ${f0(median(lt))} ms | ${f0(Math.min(...lt))}–${f0(Math.max(...lt))} ms |`);
}
md.push(`| first frame after the click in the inbox (100 × 512×512 16-bit DICOM, ${(statSync(SMALL).size / 1e6).toFixed(1)} MB) | ${f0(median(ff))} ms | ${f0(Math.min(...ff))}–${f0(Math.max(...ff))} ms |`);
md.push('');
md.push('CPU seconds spent per send (medians; utime + stime of each process from /proc, between the');
md.push('start and the end of the send; "cores" is their sum over the wall time):');
md.push('');
md.push('| send | medcrypt (CLI) | medcryptd | Chromium renderer | Chromium network service | Chromium browser, GPU | all | wall s | cores |');
md.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const key of ['cli-aes', 'web-aes', 'cli-chacha20', 'web-chacha20']) {
  const runs = CPU[key] ?? [];
  if (!runs.length) continue;
  const med = (f) => median(runs.map(f));
  const get = (r, re) => Object.entries(r).filter(([k]) => re.test(k)).reduce((n, [, v]) => n + v, 0);
  const cli = med((r) => get(r, /^medcrypt \(CLI\)$/));
  const srv = med((r) => get(r, /^medcryptd$/));
  const ren = med((r) => get(r, /renderer/));
  const net = med((r) => get(r, /NetworkService/));
  const oth = med((r) => get(r, /^chromium (browser|gpu)/));
  const all = med((r) => Object.values(r).reduce((n, v) => n + v, 0));
  const wall = median(R[key]);
  md.push(`| ${key} | ${cli.toFixed(2)} | ${srv.toFixed(2)} | ${ren.toFixed(2)} | ${net.toFixed(2)} | ${oth.toFixed(2)} | ${all.toFixed(2)} | ${wall.toFixed(2)} | ${(all / wall).toFixed(2)} |`);
}
md.push('');
md.push('| target | figure | target | result |');
md.push('|---|---:|---:|---|');
md.push(...verdicts);
md.push('');
if (problems.length) {
  md.push(`Page errors during the run: ${problems.slice(0, 5).join('; ')}`);
  md.push('');
}
md.push('How each figure is taken: the CLI, the wall time of `medcrypt send FILE --to doca --cipher C`');
md.push('(as tech, the passphrase in MEDCRYPT_PASSPHRASE: it unlocks its key in each run; the browser');
md.push('tab holds its keys since sign-in). The send page, in a tab driven through raw CDP (Playwright\'s');
md.push('Network domain would slow its uploads twentyfold, see `bench/README.md`): the file chosen with the file input, its');
md.push('inspection done ("ready"), then the page clock from the click on "Seal and send" to the queue');
md.push('item\'s `data-status="sent"` (after the server\'s 201). Sealing alone: `bench/web/seal-worker.js`');
md.push('in a Web Worker of the same tab, web/src/container `seal()` over `File.stream()` with two');
md.push('RSA-3072 recipients and an Ed25519 signer, read to the end and counted. The heap: CDP');
md.push('`Performance.getMetrics` (the tab) and `Runtime.getHeapUsage` in each worker target, every');
md.push('100 ms during the send; long tasks: a `PerformanceObserver` for `longtask` in the page. The');
md.push('first frame: the page clock from the click on "Open" to `#viewer[data-state="shown"]`,');
md.push('which src/pages/view.js sets when `viewer.show()` resolves, once the first frame is drawn.');
md.push('');
process.stdout.write(`${md.join('\n')}\n`);
process.exit(0);
