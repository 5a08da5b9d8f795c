/**
 * preview.js: the optional pixelated preview sealed beside an image (FORMAT.md [MC-CORE-6]),
 * made as lib/preview.c makes `medcrypt seal --preview`'s: the image is cut into square blocks
 * of `previewBlock(width, height)` pixels (the shorter side / 16, at least 8, rounded up to a
 * multiple of 8, larger when the grid would not fit 256 cells), each block becomes its mean
 * colour, drawn as a cell x cell square in a PNG of at most 256 x 256. No text in the image stays
 * legible (docs/SECURITY.md, "Previews"). Runs in the Web Worker (OffscreenCanvas,
 * createImageBitmap); PNG and JPEG only: DICOM pixel data is not decoded here.
 */

export const PREVIEW_SIZE = 256; // MC_PREVIEW_DEFAULT_SIZE

/** mc_preview_default_block, then enlarged as acc_begin does so the grid fits size cells. */
export function previewBlock(width, height, size = PREVIEW_SIZE) {
  const shorter = Math.min(width, height);
  let block = Math.max(8, Math.ceil(shorter / 16));
  block = Math.ceil(block / 8) * 8;
  const longer = Math.max(width, height);
  if (Math.ceil(longer / block) > size) block = Math.ceil(longer / size);
  return block;
}

/** The grid of a width x height image: {block, gridW, gridH, cell} as lib/preview.c. */
export function previewGrid(width, height, size = PREVIEW_SIZE) {
  const block = previewBlock(width, height, size);
  const gridW = Math.ceil(width / block);
  const gridH = Math.ceil(height / block);
  const cell = Math.max(1, Math.floor(size / Math.max(gridW, gridH)));
  return { block, gridW, gridH, cell };
}

/**
 * The preview PNG (Uint8Array) of a PNG or JPEG Blob of width x height pixels. Each block's mean
 * is taken over a 4 x 4 sampling of the block (the browser downscales with a box-like filter
 * first), so only a small bitmap is ever held, never the full-size image.
 */
export async function makePreview(blob, width, height) {
  const { gridW, gridH, cell } = previewGrid(width, height);
  const sub = 4;
  const bitmap = await createImageBitmap(blob, { resizeWidth: gridW * sub, resizeHeight: gridH * sub, resizeQuality: 'medium' });
  try {
    const sample = new OffscreenCanvas(gridW * sub, gridH * sub);
    const sctx = sample.getContext('2d', { willReadFrequently: true });
    sctx.drawImage(bitmap, 0, 0);
    const px = sctx.getImageData(0, 0, gridW * sub, gridH * sub).data;
    const means = new ImageData(gridW, gridH);
    for (let cy = 0; cy < gridH; cy++) {
      for (let cx = 0; cx < gridW; cx++) {
        const sum = [0, 0, 0, 0];
        for (let y = 0; y < sub; y++) {
          for (let x = 0; x < sub; x++) {
            const i = ((cy * sub + y) * gridW * sub + cx * sub + x) * 4;
            for (let c = 0; c < 4; c++) sum[c] += px[i + c];
          }
        }
        const o = (cy * gridW + cx) * 4;
        for (let c = 0; c < 3; c++) means.data[o + c] = Math.round(sum[c] / (sub * sub));
        means.data[o + 3] = 255;
      }
    }
    const grid = new OffscreenCanvas(gridW, gridH);
    grid.getContext('2d').putImageData(means, 0, 0);
    const out = new OffscreenCanvas(gridW * cell, gridH * cell);
    const octx = out.getContext('2d');
    octx.imageSmoothingEnabled = false;
    octx.drawImage(grid, 0, 0, gridW * cell, gridH * cell);
    const png = await out.convertToBlob({ type: 'image/png' });
    return new Uint8Array(await png.arrayBuffer());
  } finally {
    bitmap.close();
  }
}
