/**
 * inbox.js: the images the signed-in user sent or may open (GET /api/v1/images, newest first,
 * paged with `before`). Each IMAGE carries the sealed header and the caller's detached wrap, so
 * the page unwraps the file key with the user's private key and decrypts the metadata and the
 * preview here, without fetching the payload. Sorting and the filters (patient, date, modality,
 * sender) run on the decrypted values in memory only; a row whose header does not open says why.
 * Each row names the patient account the image is about (IMAGE.patient, the server's record) and,
 * for a de-identified item, the claim of its signed metadata (profile) and whose key signed it
 * (the signature itself is checked when the image is opened); an item the server marks
 * de-identified whose metadata carries no claim gets a loud warning.
 * Leaving the page revokes the previews' blob: URLs and drops the decrypted values.
 */
import { h, replaceChildren } from '../app/dom.js';
import {
  aboutImage, errorText, fingerprintHex, formatSize, formatTime, listImages, loadDirectory, metadataObject, previewUrl, summarize,
  unlockImage,
} from '../app/images.js';
import { subscribe } from '../app/events.js';
import { session } from '../app/session.js';
import { announce, pageStart } from '../app/shell.js';

const PAGE = 50;

const COLUMNS = [
  { key: 'patient', label: 'Patient', value: (r) => (r.summary?.patientName || r.summary?.patientId || r.image.patient || '').toLowerCase() },
  { key: 'date', label: 'Date', value: (r) => r.summary?.date || '' },
  { key: 'modality', label: 'Modality', value: (r) => r.summary?.modality || '' },
  { key: 'sender', label: 'Sender', value: (r) => r.image.sender },
  { key: 'size', label: 'Size', value: (r) => r.image.size, numeric: true },
];

export async function render(main, { navigate }) {
  if (!session.user) {
    navigate('/login', { replace: true });
    return undefined;
  }
  pageStart(main, 'Inbox');
  const rows = []; // {image, summary, preview (blob: URL), error}
  const urls = new Set();
  let sort = { key: 'date', dir: -1 };
  let next = null; // the `before` of the next page, or null at the end
  let left = false;

  const names = new Map(); // username -> display name
  const signers = new Map(); // signing key fingerprint (hex) -> username
  loadDirectory().then((users) => {
    for (const u of users) {
      names.set(u.username, u.display_name || u.username);
      if (u.sign_fingerprint) signers.set(String(u.sign_fingerprint).toLowerCase(), u.username);
    }
    if (!left) draw();
  }, () => {});

  // --- filters -------------------------------------------------------------------------------
  const patient = h('input', { id: 'f-patient', type: 'search', class: 'form-control form-control-sm', placeholder: 'Name or ID', autocomplete: 'off' });
  const modality = h('select', { id: 'f-modality', class: 'form-select form-select-sm' });
  const sender = h('select', { id: 'f-sender', class: 'form-select form-select-sm' });
  const from = h('input', { id: 'f-from', type: 'date', class: 'form-control form-control-sm' });
  const to = h('input', { id: 'f-to', type: 'date', class: 'form-control form-control-sm' });
  const clear = h('button', { type: 'button', class: 'btn btn-outline-light btn-sm' }, 'Clear filters');
  const col = (id, label, input, cls = 'col-12 col-sm-6 col-lg') => h('div', { class: cls },
    h('label', { for: id, class: 'form-label small mb-1' }, label), input);
  const filters = h('form', { class: 'card card-body mb-3 mc-filters', role: 'search', 'aria-label': 'Filter images', on: { submit: (e) => e.preventDefault() } },
    h('div', { class: 'row g-2 align-items-end' },
      col('f-patient', 'Patient', patient, 'col-12 col-lg-3'),
      col('f-modality', 'Modality', modality),
      col('f-sender', 'Sender', sender),
      col('f-from', 'From', from),
      col('f-to', 'To', to),
      h('div', { class: 'col-12 col-lg-auto' }, clear)));
  for (const el of [patient, modality, sender, from, to]) el.addEventListener('input', () => draw());
  clear.addEventListener('click', () => {
    patient.value = '';
    modality.value = '';
    sender.value = '';
    from.value = '';
    to.value = '';
    draw();
    patient.focus();
  });

  const count = h('p', { class: 'text-body-secondary small mb-2', 'aria-live': 'polite', id: 'inbox-count' });
  const progress = h('div', { class: 'text-body-secondary small mb-2', role: 'status', 'aria-live': 'polite', id: 'inbox-progress' });
  const listError = h('div', { class: 'alert alert-danger d-none', role: 'alert' });
  const body = h('div', { id: 'inbox-list' });
  const more = h('button', { type: 'button', class: 'btn btn-outline-primary d-none', id: 'inbox-more' }, 'Load older images');

  main.append(...[
    !session.identity &&
      h('div', { class: 'alert alert-warning', role: 'note' },
        'Your keys are locked after a reload, so patient details cannot be decrypted. ',
        h('a', { href: '/login', dataset: { link: '' } }, 'Sign in again'), ' to open images.'),
    h('p', { class: 'text-body-secondary' },
      'Images shared with you. Patient details and previews are decrypted in this browser with your private key; the server only holds ciphertext.'),
    filters, listError, progress, count, body, more].filter(Boolean));

  // --- the table -----------------------------------------------------------------------------
  function options(select, values, all) {
    const current = select.value;
    replaceChildren(select, h('option', { value: '' }, all), [...values].sort().map((v) => h('option', { value: v }, v)));
    select.value = values.has(current) ? current : '';
  }

  function visible() {
    const p = patient.value.trim().toLowerCase();
    return rows.filter((r) => {
      const s = r.summary;
      const account = r.image.patient ? `${r.image.patient} ${names.get(r.image.patient) ?? ''}` : '';
      if (p && !`${s ? `${s.patientName} ${s.patientId}` : ''} ${account}`.toLowerCase().includes(p)) return false;
      if (modality.value && s?.modality !== modality.value) return false;
      if (sender.value && r.image.sender !== sender.value) return false;
      if (from.value && !(s?.date && s.date >= from.value)) return false;
      if (to.value && !(s?.date && s.date <= to.value)) return false;
      return true;
    });
  }

  function sorted(list) {
    const column = COLUMNS.find((c) => c.key === sort.key);
    return [...list].sort((a, b) => {
      const x = column.value(a);
      const y = column.value(b);
      const c = column.numeric ? x - y : String(x).localeCompare(String(y));
      return c * sort.dir || (b.image.created - a.image.created);
    });
  }

  function header(column) {
    const active = sort.key === column.key;
    const button = h('button', {
      type: 'button',
      class: `btn btn-link btn-sm p-0 text-reset fw-semibold text-decoration-none mc-sort${active ? ' active' : ''}`,
      on: {
        click: () => {
          sort = { key: column.key, dir: active ? -sort.dir : column.key === 'date' || column.numeric ? -1 : 1 };
          draw();
          body.querySelector(`[data-sort="${column.key}"] button`)?.focus();
        },
      },
    }, column.label, h('span', { 'aria-hidden': 'true', class: 'ms-1' }, active ? (sort.dir > 0 ? '▲' : '▼') : '↕'));
    return h('th', {
      scope: 'col',
      dataset: { sort: column.key },
      class: column.numeric ? 'text-end' : null,
      'aria-sort': active ? (sort.dir > 0 ? 'ascending' : 'descending') : 'none',
    }, button);
  }

  function thumb(r) {
    if (r.preview) return h('img', { src: r.preview, class: 'mc-thumb rounded', alt: 'Preview (pixelated)', loading: 'lazy' });
    const label = r.error ? '!' : { dicom: 'DCM', png: 'PNG', jpeg: 'JPG' }[r.summary?.format] ?? (r.summary ? '—' : '…');
    return h('div', { class: `mc-thumb mc-thumb-empty rounded${r.error ? ' text-danger' : ''}`, 'aria-hidden': 'true' }, label);
  }

  const person = (u) => [h('span', { class: 'fw-semibold' }, names.get(u) ?? u), names.has(u) && names.get(u) !== u ? ` (${u})` : ''];

  /** The patient account (the server's record) and, for a de-identified item, its claim. */
  function aboutLines(r) {
    const lines = [];
    if (r.image.patient) lines.push(h('div', { class: 'small mc-patient-account' }, 'Patient account: ', ...person(r.image.patient)));
    const a = r.about;
    if (a?.state === 'deidentified' || a?.state === 'unmarked-claim') {
      const signer = r.signerFp ? signers.get(r.signerFp) : null;
      lines.push(h('div', { class: 'small mc-deid', dataset: { state: a.state } },
        h('span', { class: 'badge text-bg-success' }, 'De-identified'), ' ',
        a.claim.profile || 'a claim without a profile', ' · claimed by ',
        signer ? person(signer) : h('span', { class: 'text-danger-emphasis' }, 'a key not in the directory'),
        ' (signature checked when opened)',
        a.state === 'unmarked-claim' ? ' · not marked de-identified by the server' : ''));
    } else if (a?.state === 'missing-claim') {
      lines.push(h('div', { class: 'small alert alert-danger py-1 px-2 mb-0 mt-1 mc-deid-warning', role: 'note', dataset: { state: a.state } },
        h('strong', {}, 'Warning: '), 'the server marks this image de-identified, but its signed metadata carries no de-identification claim. Treat it as identified patient data.'));
    } else if (!a && r.image.deidentified) {
      lines.push(h('div', { class: 'small mc-deid' }, h('span', { class: 'badge text-bg-secondary' }, 'Marked de-identified')));
    }
    return lines;
  }

  function patientCell(r) {
    if (r.error) {
      return h('td', {},
        h('div', { class: 'text-danger-emphasis fw-semibold' }, 'Cannot open'),
        h('div', { class: 'small text-danger-emphasis mc-row-error' }, r.error),
        aboutLines(r));
    }
    if (!r.summary) return h('td', { class: 'text-body-secondary' }, session.identity ? 'Decrypting…' : 'Locked', aboutLines(r));
    const s = r.summary;
    return h('td', {},
      h('div', { class: 'fw-semibold' }, s.patientName || (s.patientId ? '' : 'No patient details')),
      s.patientId && h('div', { class: 'small text-body-secondary' }, 'ID ', s.patientId),
      s.file && h('div', { class: 'small text-body-secondary text-truncate mc-file' }, s.file),
      aboutLines(r));
  }

  function row(r) {
    const s = r.summary;
    const label = s?.patientName || s?.patientId || (r.image.patient && names.get(r.image.patient)) || `image ${r.image.id.slice(0, 8)}`;
    return h('tr', { dataset: { id: r.image.id }, class: r.error ? 'mc-row-failed' : null },
      h('td', { class: 'mc-thumb-cell' }, thumb(r)),
      patientCell(r),
      h('td', { class: 'text-nowrap' }, s?.date || formatTime(r.image.created).slice(0, 10)),
      h('td', {}, s?.modality ? h('span', { class: 'badge text-bg-info' }, s.modality) : ''),
      h('td', {}, names.get(r.image.sender) ?? r.image.sender,
        names.has(r.image.sender) && names.get(r.image.sender) !== r.image.sender
          && h('div', { class: 'small text-body-secondary' }, r.image.sender)),
      h('td', { class: 'text-end text-nowrap' }, formatSize(r.image.size)),
      h('td', { class: 'text-end' },
        h('a', { class: 'btn btn-sm btn-primary', href: `/images/${r.image.id}`, dataset: { link: '' }, 'aria-label': `Open ${label}` }, 'Open')));
  }

  function draw() {
    options(modality, new Set(rows.map((r) => r.summary?.modality).filter(Boolean)), 'All modalities');
    options(sender, new Set(rows.map((r) => r.image.sender)), 'All senders');
    more.classList.toggle('d-none', !next);
    if (rows.length === 0) {
      count.textContent = '';
      replaceChildren(body,
        h('div', { class: 'card card-body text-center py-5 mc-empty' },
          h('h2', { class: 'h5' }, 'No images yet'),
          h('p', { class: 'text-body-secondary mb-0' },
            'When a technician, doctor or patient shares an image with you, it appears here, encrypted for your key alone.')));
      return;
    }
    const list = sorted(visible());
    count.textContent = `${list.length} of ${rows.length} image${rows.length === 1 ? '' : 's'}${next ? ' loaded' : ''}`;
    if (list.length === 0) {
      replaceChildren(body, h('div', { class: 'card card-body text-center py-4' },
        h('p', { class: 'mb-0' }, 'No image matches these filters.')));
      return;
    }
    replaceChildren(body,
      h('div', { class: 'table-responsive' },
        h('table', { class: 'table table-hover align-middle mc-inbox' },
          h('caption', { class: 'visually-hidden' }, 'Your images; column headers sort the table'),
          h('thead', {}, h('tr', {},
            h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Preview')),
            COLUMNS.map(header),
            h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
          h('tbody', {}, list.map(row)))));
  }

  async function decrypt(r) {
    if (!session.identity) return;
    let unlocked = null;
    try {
      unlocked = await unlockImage(r.image);
      const meta = metadataObject(unlocked.metadata);
      r.summary = summarize(meta, r.image.created);
      r.about = aboutImage(r.image, meta);
      r.signerFp = fingerprintHex(unlocked.header.signer?.fingerprint) || null;
      if (unlocked.metadata && !meta) r.summary.file = 'metadata is not a JSON object: not shown';
      const url = previewUrl(unlocked.preview);
      if (url) {
        if (left) URL.revokeObjectURL(url);
        else {
          urls.add(url);
          r.preview = url;
        }
      }
    } catch (e) {
      r.error = errorText(e);
    } finally {
      unlocked?.wipe();
    }
  }

  async function load() {
    more.disabled = true;
    listError.classList.add('d-none');
    try {
      const page = await listImages({ before: next ?? undefined, limit: PAGE });
      if (left) return;
      next = page.length === PAGE ? page[page.length - 1].id : null;
      const fresh = page.map((image) => ({ image, summary: null, preview: null, error: null }));
      rows.push(...fresh);
      draw();
      let done = 0;
      for (const r of fresh) {
        if (left) return;
        if (session.identity) progress.textContent = `Decrypting ${++done} of ${fresh.length}…`;
        await decrypt(r);
        if (done % 10 === 0) draw();
      }
      progress.textContent = '';
      draw();
      announce(`${rows.length} image${rows.length === 1 ? '' : 's'} in your inbox`);
    } catch (e) {
      listError.textContent = `Could not list your images: ${errorText(e)}`;
      listError.classList.remove('d-none');
      progress.textContent = '';
    } finally {
      more.disabled = false;
    }
  }

  /* New images since the list was read (a notice, or a reconnection after a gap): the first
   * page again, and only the rows not shown yet are added and decrypted. */
  let refreshing = null;
  async function refresh() {
    if (refreshing) return refreshing;
    refreshing = (async () => {
      try {
        const page = await listImages({ limit: PAGE });
        if (left) return;
        const shown = new Set(rows.map((r) => r.image.id));
        const fresh = page.filter((image) => !shown.has(image.id))
          .map((image) => ({ image, summary: null, preview: null, error: null }));
        if (fresh.length === 0) return;
        rows.unshift(...fresh);
        draw();
        for (const r of fresh) {
          if (left) return;
          await decrypt(r);
        }
        draw();
        announce(fresh.length === 1 ? 'A new image arrived in your inbox' : `${fresh.length} new images arrived in your inbox`);
      } catch {
        // the next notice or reload tries again; the list shown stays as it was
      } finally {
        refreshing = null;
      }
    })();
    return refreshing;
  }

  function withdraw(id) {
    const i = rows.findIndex((r) => r.image.id === id);
    if (i < 0) return;
    const [r] = rows.splice(i, 1);
    if (r.preview) {
      URL.revokeObjectURL(r.preview);
      urls.delete(r.preview);
    }
    draw();
    announce('An image was withdrawn from your inbox');
  }

  let opened = false;
  const unsubscribe = subscribe((type, data) => {
    if (left) return;
    if (type === 'revoked' && typeof data?.id === 'string') withdraw(data.id);
    else if (type === 'image' || (type === 'open' && opened)) refresh();
    if (type === 'open') opened = true;
  });

  more.addEventListener('click', () => load());
  load();

  return () => {
    left = true;
    unsubscribe();
    for (const url of urls) URL.revokeObjectURL(url);
    urls.clear();
    rows.length = 0;
  };
}
