/**
 * regions.js: the send page's region editor, a modal <dialog> in which the sender marks the
 * rectangles of a PNG or native DICOM image to hide before it is sealed (docs/FORMAT.md §13;
 * src/worker/send.js redacts them). The worker decodes the image's first frame (src/redact
 * frame.js) and refuses what redaction would refuse; the page only puts its pixels on a canvas.
 * Rectangles are drawn with the pointer (mouse, pen or touch: pointer events) or typed as x, y,
 * width and height (keyboard and screen-reader users), listed with a remove button each, in
 * image pixels, at most 64. Nothing leaves the browser from here.
 */
import { h, replaceChildren } from '../app/dom.js';
import { regionFrame } from './client.js';

const MAX_REGIONS = 64;
let serial = 0;

/**
 * Opens the editor for `file` (name for the title) with the regions chosen so far. Resolves to
 * the new list of {x, y, w, h} when the user saves, or null when they cancel (Escape too).
 */
export function editRegions(file, current = []) {
  const id = `mc-regions-${++serial}`;
  const regions = current.map((g) => ({ ...g }));
  let image = null; // {width, height, bitmap}
  let drag = null; // {x0, y0, x1, y1} while the pointer draws

  const status = h('div', { id: `${id}-status`, class: 'small text-body-secondary mb-2', role: 'status', 'aria-live': 'polite' }, 'Decoding the image…');
  const canvas = h('canvas', { class: 'mc-region-canvas rounded border d-none', id: `${id}-canvas`, role: 'img', width: 1, height: 1 });
  const list = h('ol', { class: 'list-group list-group-numbered mb-0', id: `${id}-list`, 'aria-label': 'Regions to hide' });
  const count = h('p', { class: 'small text-body-secondary mb-1', id: `${id}-count` });
  const fieldError = h('div', { class: 'small text-danger-emphasis mt-1', id: `${id}-field-error`, role: 'alert' });
  const num = (name, label) => {
    const input = h('input', { type: 'number', class: 'form-control form-control-sm', id: `${id}-${name}`, min: '0', step: '1', inputmode: 'numeric', 'aria-describedby': `${id}-field-error` });
    return { input, group: h('div', {}, h('label', { class: 'form-label small mb-0', for: `${id}-${name}` }, label), input) };
  };
  const fx = num('x', 'x (left)');
  const fy = num('y', 'y (top)');
  const fw = num('w', 'width');
  const fh = num('h', 'height');
  const addButton = h('button', { type: 'submit', class: 'btn btn-outline-light btn-sm' }, 'Add region');
  const fields = h('form', { class: 'mc-region-fields d-flex flex-wrap gap-2 align-items-end', novalidate: true, 'aria-label': 'Add a region by its coordinates' },
    fx.group, fy.group, fw.group, fh.group, addButton);
  const editor = h('div', { class: 'row g-3 d-none' },
    h('div', { class: 'col-lg-8' }, canvas),
    h('div', { class: 'col-lg-4' },
      h('h3', { class: 'h6' }, 'Regions'), count, list,
      h('h3', { class: 'h6 mt-3' }, 'Add by coordinates'), fields, fieldError));
  const help = h('p', { id: `${id}-help`, class: 'small text-body-secondary' },
    'Drag on the image to mark a rectangle, or type its position and size in image pixels. The regions are blacked out in what is sent; their original pixels are sealed inside the image for the same recipients, who can show them again.');
  const cancelButton = h('button', { type: 'button', class: 'btn btn-secondary' }, 'Cancel');
  const saveButton = h('button', { type: 'button', class: 'btn btn-primary', disabled: true }, 'Use these regions');
  const clearButton = h('button', { type: 'button', class: 'btn btn-outline-warning me-auto', disabled: true }, 'Remove all');
  const dialog = h('dialog', { class: 'mc-dialog mc-region-dialog p-0 border-0 rounded-3', id, 'aria-labelledby': `${id}-title`, 'aria-describedby': `${id}-help` },
    h('div', { class: 'modal-content bg-body-tertiary border rounded-3' },
      h('div', { class: 'modal-header px-4 pt-3 pb-2' }, h('h2', { id: `${id}-title`, class: 'modal-title h5 text-break' }, `Hide regions of ${file.name || 'the image'}`)),
      h('div', { class: 'modal-body px-4 py-2' }, help, status, editor),
      h('div', { class: 'modal-footer px-4 pb-3 pt-2 gap-2' }, clearButton, cancelButton, saveButton)));

  const describe = (g) => `x ${g.x}, y ${g.y}, ${g.w} × ${g.h} pixels`;

  function draw() {
    if (!image) return;
    const g = canvas.getContext('2d');
    g.drawImage(image.bitmap, 0, 0);
    const line = Math.max(1, Math.round(Math.max(image.width, image.height) / 400));
    g.lineWidth = line;
    const all = drag ? [...regions, norm(drag)] : regions;
    all.forEach((r, i) => {
      if (!r || r.w === 0 || r.h === 0) return;
      g.fillStyle = 'rgba(0, 0, 0, 0.75)';
      g.fillRect(r.x, r.y, r.w, r.h);
      g.strokeStyle = i === regions.length ? '#ffc107' : '#0dcaf0';
      g.strokeRect(r.x + line / 2, r.y + line / 2, Math.max(0, r.w - line), Math.max(0, r.h - line));
    });
  }

  function redrawList() {
    replaceChildren(list, regions.length === 0
      ? h('li', { class: 'list-group-item small text-body-secondary' }, 'None yet.')
      : regions.map((g, i) => h('li', { class: 'list-group-item d-flex align-items-center gap-2 small', dataset: { region: `${g.x},${g.y},${g.w},${g.h}` } },
        h('span', { class: 'flex-grow-1' }, describe(g)),
        h('button', { type: 'button', class: 'btn btn-outline-light btn-sm', 'aria-label': `Remove region ${i + 1} (${describe(g)})`, on: { click: () => remove(i) } }, 'Remove'))));
    count.textContent = `${regions.length} of ${MAX_REGIONS} regions`;
    saveButton.disabled = !image;
    clearButton.disabled = regions.length === 0;
    addButton.disabled = regions.length >= MAX_REGIONS;
    draw();
  }

  function add(g) {
    if (regions.length >= MAX_REGIONS) {
      fieldError.textContent = `At most ${MAX_REGIONS} regions.`;
      return false;
    }
    regions.push(g);
    redrawList();
    status.textContent = `Region ${regions.length} added: ${describe(g)}.`;
    return true;
  }

  function remove(i) {
    const [g] = regions.splice(i, 1);
    redrawList();
    status.textContent = `Region removed: ${describe(g)}.`;
    (list.querySelector('button') ?? fx.input).focus();
  }

  /** A drag as a rectangle of whole pixels inside the image (both corners included). */
  function norm(d) {
    const x = Math.min(d.x0, d.x1);
    const y = Math.min(d.y0, d.y1);
    return { x, y, w: Math.abs(d.x1 - d.x0) + 1, h: Math.abs(d.y1 - d.y0) + 1 };
  }

  /** The image pixel under a pointer event, clamped to the image. */
  function pixelAt(event) {
    const box = canvas.getBoundingClientRect();
    const clamp = (v, max) => Math.min(max - 1, Math.max(0, Math.floor(v)));
    return [clamp(((event.clientX - box.left) * image.width) / box.width, image.width), clamp(((event.clientY - box.top) * image.height) / box.height, image.height)];
  }

  canvas.addEventListener('pointerdown', (event) => {
    if (!image || event.button !== 0) return;
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    const [x, y] = pixelAt(event);
    drag = { x0: x, y0: y, x1: x, y1: y };
    draw();
  });
  canvas.addEventListener('pointermove', (event) => {
    if (!drag) return;
    [drag.x1, drag.y1] = pixelAt(event);
    draw();
  });
  const endDrag = (event, keep) => {
    if (!drag) return;
    if (keep) [drag.x1, drag.y1] = pixelAt(event);
    const g = norm(drag);
    drag = null;
    // a click without a drag is not a region: at least 2 pixels each way
    if (keep && g.w > 1 && g.h > 1) add(g);
    else draw();
  };
  canvas.addEventListener('pointerup', (event) => endDrag(event, true));
  canvas.addEventListener('pointercancel', (event) => endDrag(event, false));

  fields.addEventListener('submit', (event) => {
    event.preventDefault();
    fieldError.textContent = '';
    if (!image) return;
    const v = [fx, fy, fw, fh].map((f) => f.input.value.trim());
    if (v.some((s) => !/^\d+$/.test(s))) {
      fieldError.textContent = 'Give x, y, width and height as whole numbers of pixels.';
      return;
    }
    const [x, y, w, hh] = v.map(Number);
    if (w < 1 || hh < 1) {
      fieldError.textContent = 'Width and height must be at least 1 pixel.';
      return;
    }
    if (x + w > image.width || y + hh > image.height) {
      fieldError.textContent = `The region must lie inside the ${image.width} × ${image.height} image.`;
      return;
    }
    if (add({ x, y, w, h: hh })) {
      for (const f of [fx, fy, fw, fh]) f.input.value = '';
      fx.input.focus();
    }
  });

  return new Promise((resolve) => {
    let done = false;
    const close = (result) => {
      if (done) return;
      done = true;
      drag = null;
      image?.bitmap.close();
      image = null;
      dialog.close();
      dialog.remove();
      resolve(result);
    };
    cancelButton.addEventListener('click', () => close(null));
    saveButton.addEventListener('click', () => close(regions));
    clearButton.addEventListener('click', () => {
      regions.length = 0;
      redrawList();
      status.textContent = 'All regions removed.';
      fx.input.focus();
    });
    dialog.addEventListener('cancel', (event) => {
      event.preventDefault();
      close(null);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancelButton.focus();

    regionFrame(file).then(async (f) => {
      if (done) return;
      const bitmap = await createImageBitmap(new ImageData(f.rgba, f.width, f.height));
      f.rgba.fill(0);
      if (done) {
        bitmap.close();
        return;
      }
      image = { width: f.width, height: f.height, bitmap };
      canvas.width = f.width;
      canvas.height = f.height;
      canvas.style.setProperty('--mc-aspect', String(f.width / f.height)); // CSSOM: the CSP allows it
      canvas.setAttribute('aria-label', `${file.name || 'The image'}, ${f.width} × ${f.height} pixels${f.frames > 1 ? `, first of ${f.frames} frames` : ''}: drag to mark a region to hide`);
      for (const [f2, max] of [[fx, f.width - 1], [fy, f.height - 1], [fw, f.width], [fh, f.height]]) f2.input.max = String(max);
      canvas.classList.remove('d-none');
      editor.classList.remove('d-none');
      status.textContent = `${f.width} × ${f.height} pixels${f.frames > 1 ? `; the regions are hidden in all ${f.frames} frames` : ''}.`;
      redrawList();
    }, (e) => {
      if (done) return;
      status.className = 'alert alert-danger small mb-2';
      status.setAttribute('role', 'alert');
      status.textContent = `Regions cannot be hidden in this file: ${e?.message ?? e}`;
      saveButton.disabled = true;
    });
  });
}
