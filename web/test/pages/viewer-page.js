/**
 * viewer-page.js: the test page's module. It builds one viewer on #viewer and exposes
 * window.viewerHarness for the browser test: load a fixture from the test server as bytes (as
 * the app hands over decrypted bytes), show it, and read back what the canvas shows (a hash
 * and mean intensities) so the test can check rendering without trusting the viewer's word.
 */
import { getShouldUseCPURendering } from '@cornerstonejs/core';

import { createViewer, dicomAttributes } from '../../src/viewer/index.js';

const element = document.getElementById('viewer');
const statusLine = document.getElementById('status');
const statuses = [];
const violations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  violations.push(`${event.violatedDirective} ${event.blockedURI}`);
});

let viewer = createViewer(element, {
  onStatus: (status) => {
    statuses.push(status);
    statusLine.textContent = status.text;
  },
});

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** The canvas Cornerstone draws into, or the <img> for photos, as RGBA pixels. */
function pixels() {
  const canvas = element.querySelector('canvas');
  const img = element.querySelector('img');
  if (viewer.kind && viewer.kind !== 'dicom') {
    const c = document.createElement('canvas');
    c.width = element.clientWidth;
    c.height = element.clientHeight;
    const ctx = c.getContext('2d');
    // draw as displayed: object-fit contain plus the viewer's transform, approximated by the
    // element's bounding boxes
    const box = element.getBoundingClientRect();
    const shown = img.getBoundingClientRect();
    const scale = Math.min(shown.width / img.naturalWidth, shown.height / img.naturalHeight);
    const w = img.naturalWidth * scale;
    const h = img.naturalHeight * scale;
    ctx.drawImage(img, shown.left - box.left + (shown.width - w) / 2, shown.top - box.top + (shown.height - h) / 2, w, h);
    return ctx.getImageData(0, 0, c.width, c.height);
  }
  return canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
}

async function sha256Hex(bytes) {
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

window.viewerHarness = {
  async show(url, kind) {
    const bytes = await fetchBytes(url);
    const start = performance.now();
    await viewer.show({ bytes, kind });
    const ms = performance.now() - start;
    const backend = getShouldUseCPURendering() ? 'cpu' : 'gpu';
    return { ms, frameCount: viewer.frameCount, frame: viewer.frame, backend };
  },
  async attributes(url) {
    return dicomAttributes(await fetchBytes(url));
  },
  /** {hash, width, height, mean, meanLeft, meanRight, meanG, meanB, lit}: mean is of red. */
  async stats() {
    // let what a tool drew (mouse input renders on the next animation frame) reach the canvas
    await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
    const { data, width, height } = pixels();
    let sum = 0;
    let sumG = 0;
    let sumB = 0;
    let left = 0;
    let right = 0;
    let lit = 0;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = 4 * (y * width + x);
        const r = data[i];
        sum += r;
        sumG += data[i + 1];
        sumB += data[i + 2];
        if (x < width / 2) left += r;
        else right += r;
        if (r || data[i + 1] || data[i + 2]) lit++;
      }
    }
    const n = width * height;
    return {
      hash: await sha256Hex(data),
      width,
      height,
      mean: sum / n,
      meanG: sumG / n,
      meanB: sumB / n,
      meanLeft: left / (n / 2),
      meanRight: right / (n / 2),
      lit: lit / n,
    };
  },
  call(method, ...args) {
    return viewer[method](...args);
  },
  get(property) {
    return viewer[property];
  },
  recreate() {
    viewer.destroy();
    viewer = createViewer(element, { onStatus: (status) => statuses.push(status) });
  },
  destroy() {
    viewer.destroy();
    return { children: element.children.length };
  },
  statuses,
  violations,
};
document.body.dataset.ready = 'yes';
