/**
 * frame.js: what the send page's region editor shows of an image: its first frame as 8-bit RGBA
 * at full size, with the checks redaction makes before it touches a pixel (a PNG of a depth
 * §13.2 does not support, compressed DICOM, an image that already carries regions are refused
 * here, before the user draws anything). PNG samples come from the same decoder redaction uses;
 * a DICOM's native first frame is shown with a min/max window (MONOCHROME1 inverted). Runs in
 * the Web Worker: the page only puts the pixels on a canvas.
 */
import { Kind, fail } from '../container/errors.js';
import { wipe } from '../container/bytes.js';
import { isDicom, loadDicom, readSample, sampleAt } from './dicom.js';
import { isPng, loadPng } from './png.js';
import { JPEG_NOTE, redactableKind } from './index.js';

/**
 * The first frame of a PNG or native DICOM for drawing regions on: {kind, width, height, frames,
 * rgba (Uint8ClampedArray, width * height * 4)}. McError unsupported/header as redaction would
 * refuse the image (a JPEG: JPEG_NOTE).
 */
export async function regionFrame(bytes) {
  const kind = redactableKind(bytes);
  if (kind === 'jpeg') fail(Kind.UNSUPPORTED, JPEG_NOTE);
  if (isPng(bytes)) return pngFrame(bytes);
  if (isDicom(bytes)) return dicomFrame(bytes);
  return fail(Kind.UNSUPPORTED, 'the file is neither PNG nor DICOM');
}

async function pngFrame(bytes) {
  const im = await loadPng(bytes, false);
  const { width, height, bpp, bitDepth, colorType, palette, pixels } = im;
  const rgba = new Uint8ClampedArray(width * height * 4);
  const sb = bitDepth / 8;
  for (let i = 0, p = 0; i < width * height; i++, p += bpp) {
    const s = (k) => pixels[p + k * sb]; // the high byte of sample k
    let r;
    let g;
    let b;
    let a = 255;
    if (colorType === 3) {
      const idx = pixels[p] * 3;
      r = palette[idx] ?? 0;
      g = palette[idx + 1] ?? 0;
      b = palette[idx + 2] ?? 0;
    } else if (colorType === 0 || colorType === 4) {
      r = g = b = s(0);
      if (colorType === 4) a = s(1);
    } else {
      r = s(0);
      g = s(1);
      b = s(2);
      if (colorType === 6) a = s(3);
    }
    rgba.set([r, g, b, a], i * 4);
  }
  wipe(pixels);
  return { kind: 'png', width, height, frames: 1, rgba };
}

function dicomFrame(bytes) {
  const s = loadDicom(bytes);
  if (s.creator || s.side || s.otherPrivate) fail(Kind.UNSUPPORTED, 'the DICOM file already carries sealed regions or uses private group 7FD1');
  const { cols: width, rows: height } = s;
  const rgba = new Uint8ClampedArray(width * height * 4);
  const grey = s.samples === 1;
  let lo = Infinity;
  let hi = -Infinity;
  if (grey) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const v = readSample(s, bytes, sampleAt(s, 0, x, y, 0));
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
  }
  const range = Math.max(1, hi - lo);
  const invert = s.photometric === 'MONOCHROME1';
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      if (grey) {
        let v = Math.round(((readSample(s, bytes, sampleAt(s, 0, x, y, 0)) - lo) * 255) / range);
        if (invert) v = 255 - v;
        rgba[o] = rgba[o + 1] = rgba[o + 2] = v;
      } else {
        const shift = s.bitsAllocated === 16 ? 8 : 0;
        for (let c = 0; c < 3; c++) rgba[o + c] = readSample(s, bytes, sampleAt(s, 0, x, y, c)) >> shift;
      }
      rgba[o + 3] = 255;
    }
  }
  return { kind: 'dicom', width, height, frames: s.frames, rgba };
}
