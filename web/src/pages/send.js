/**
 * send.js: the send page (technician, doctor; PRODUCT.md flow 1). Files come from a drop (files
 * or whole folders, through DataTransferItem entries), the file picker or the folder picker. The
 * Web Worker (src/worker/send.js) checks each one by its bytes, reads its metadata as `medcrypt
 * meta` does and makes the optional pixelated preview; the page shows them for confirmation.
 * Recipients come from the directory (GET /api/v1/users) with their roles and key fingerprints,
 * checked here against the keys; the sender's own key is always added, as the CLI does. Every
 * send names the patient the images are about (issue 12): a required picker of the directory's
 * patients (GET /api/v1/users?role=patient); the chosen patient is always a recipient (ticked
 * and locked), the other recipients are doctors (the server accepts only doctors the patient
 * appointed, and says which one it refused), and the patient's username goes to the server in the
 * tus Upload-Metadata key `patient` (not encrypted: an account name, never a value from the
 * file). A doctor may instead send a de-identified copy of a PNG or JPEG (no patient; the
 * doctor confirms nothing in it identifies the patient, and the claim of src/send/claim.js is
 * sealed and signed in its metadata), which researchers may receive too. On
 * "Send", the worker seals each file in turn (ChaCha20-Poly1305 or AES-256-GCM, signed with the
 * sender's non-extractable key) and uploads it with tus, while this page shows the progress,
 * speed and time left. A PNG or native DICOM can have regions hidden first ("Hide regions…",
 * src/send/regions.js): the worker then redacts it (docs/FORMAT.md §13, the originals sealed
 * inside it for the same recipients) before sealing. The page never parses a file and never
 * sends a byte of plaintext.
 */
import { publicKeyFromPem } from '../account/index.js';
import { fingerprint, toHex } from '../container/index.js';
import { h, replaceChildren } from '../app/dom.js';
import { session } from '../app/session.js';
import { announce, pageStart } from '../app/shell.js';
import { inspect, upload } from '../send/client.js';
import { editRegions } from '../send/regions.js';
import { formatSize } from '../app/format.js';

/**
 * Who a sender may send to (docs/API.md §14), besides the patient of the images (the picker):
 * doctors, since with a patient named every other recipient must be a doctor that patient
 * appointed; a doctor's de-identified copy (no patient) may also go to researchers.
 */
const MAY_SEND_TO = { technician: ['doctor'], doctor: ['doctor', 'researcher'] };
const ROLE_ORDER = { patient: 0, doctor: 1, researcher: 2 };
const KIND_LABEL = { dicom: 'DICOM', png: 'PNG', jpeg: 'JPEG' };


function formatDuration(s) {
  if (!Number.isFinite(s)) return '…';
  if (s < 1) return 'under a second';
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** "20240131" → "2024-01-31" for display; anything else as it is. */
const showDate = (d) => (/^\d{8}$/.test(d ?? '') ? `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6)}` : d);

/** The attributes shown for confirmation, by type: [label, value] pairs. */
function summary(kind, m) {
  if (kind === 'dicom') {
    return [
      ['Patient', m.PatientName?.replace(/\^+/g, ' ').trim()],
      ['Patient ID', m.PatientID],
      ['Study date', showDate(m.StudyDate)],
      ['Modality', m.Modality],
      ['Study', m.StudyDescription],
      ['Size', m.Rows && m.Columns ? `${m.Columns} × ${m.Rows}` : null],
      ['Frames', m.NumberOfFrames],
    ].filter(([, v]) => v !== undefined && v !== null && v !== '');
  }
  return [
    ['Size', `${m.Width} × ${m.Height}`],
    ['Colour', `${m.ColorType}, ${m.BitDepth}-bit`],
    ['Date', m.DateTimeOriginal ?? m.CreationTime ?? m.DateTime ?? m.ModificationTime],
  ].filter(([, v]) => v !== undefined && v !== null && v !== '');
}

/** Every File under a dropped item (a file, or a folder read recursively). */
async function filesOfEntry(entry, out) {
  if (entry.isFile) {
    out.push(await new Promise((res, rej) => entry.file(res, rej)));
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    for (;;) {
      const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
      if (batch.length === 0) break;
      for (const e of batch) if (!e.name.startsWith('.')) await filesOfEntry(e, out);
    }
  }
}

async function droppedFiles(dataTransfer) {
  const entries = [...(dataTransfer.items ?? [])].filter((i) => i.kind === 'file').map((i) => i.webkitGetAsEntry?.() ?? null);
  if (entries.length && entries.every(Boolean)) {
    const out = [];
    for (const e of entries) await filesOfEntry(e, out);
    return out;
  }
  return [...(dataTransfer.files ?? [])];
}

let guarded = false;
/** A file dropped beside the zone must not make the browser open (and show) the image. */
function guardDrops() {
  if (guarded) return;
  guarded = true;
  const guard = (e) => {
    if (!(e.target instanceof Element && e.target.closest('.mc-dropzone'))) e.preventDefault();
  };
  window.addEventListener('dragover', guard);
  window.addEventListener('drop', guard);
}

export async function render(main, { navigate }) {
  if (!session.user) {
    navigate('/login', { replace: true });
    return;
  }
  pageStart(main, 'Send images');
  const me = session.user;
  const allowed = MAY_SEND_TO[me.role];
  if (!allowed) {
    main.append(h('div', { class: 'alert alert-warning', role: 'note' },
      'Only technicians and doctors send images. Images shared with you are in your ', h('a', { href: '/inbox', dataset: { link: '' } }, 'inbox'), '.'));
    return;
  }
  if (!session.identity) {
    main.append(h('div', { class: 'alert alert-info', role: 'note' },
      'Your keys are locked after a reload: images are sealed and signed in this browser with them. ',
      h('a', { href: '/login', dataset: { link: '' } }, 'Sign in again'), ' to send.'));
    return;
  }
  const identity = session.identity;
  const conn = session.connection;

  /* ---- state ---- */
  const items = []; // {id, file, status, kind, metadata, preview, note, error, row, ...}
  let itemId = 0;
  let sending = false;
  let limits = { maxUpload: Number.MAX_SAFE_INTEGER, endpoint: new URL('/api/v1/uploads', location.origin).href };
  const recipients = new Map(); // username -> {user, spki, box, row, patient (a patient's row)}
  let patient = null; // the username of the patient the images are about
  let myPatients = null; // a doctor's: the usernames of the patients who appointed them (or null)

  /* ---- elements ---- */
  const live = h('div', { id: 'send-live', class: 'visually-hidden', role: 'status', 'aria-live': 'polite' });
  const say = (text) => {
    live.textContent = text;
    announce(text);
  };
  const fileInput = h('input', { id: 'send-files', type: 'file', multiple: true, class: 'visually-hidden', tabindex: '-1', 'aria-hidden': 'true',
    'aria-label': 'Choose files' });
  const folderInput = h('input', { id: 'send-folder', type: 'file', multiple: true, webkitdirectory: true, class: 'visually-hidden', tabindex: '-1', 'aria-hidden': 'true', 'aria-label': 'Choose a folder' });
  const pickFiles = h('button', { type: 'button', class: 'btn btn-primary', on: { click: () => fileInput.click() } }, 'Choose files…');
  const pickFolder = h('button', { type: 'button', class: 'btn btn-outline-light', on: { click: () => folderInput.click() } }, 'Choose a folder…');
  const drop = h('div', { id: 'send-drop', class: 'mc-dropzone rounded-3 p-3 text-center', role: 'group', 'aria-labelledby': 'send-drop-title', 'aria-describedby': 'send-drop-hint' },
    h('div', { class: 'mc-dropzone-icon mb-2', 'aria-hidden': 'true' }, '⇪'),
    h('p', { id: 'send-drop-title', class: 'fs-5 mb-1' }, 'Drop images or a folder here'),
    h('p', { id: 'send-drop-hint', class: 'text-body-secondary small mb-3' },
      'DICOM, PNG or JPEG, recognised by their content (not their name). Each file is sealed in this browser before it leaves it.'),
    h('div', { class: 'd-flex gap-2 justify-content-center flex-wrap' }, pickFiles, pickFolder),
    fileInput, folderInput);
  const queue = h('ul', { id: 'send-queue', class: 'list-group mc-send-queue', 'aria-label': 'Files to send' });
  const emptyQueue = h('p', { class: 'text-body-secondary small mt-3 mb-0' }, 'No files yet.');
  const clearButton = h('button', { type: 'button', class: 'btn btn-link btn-sm p-0', on: { click: () => clearDone() } }, 'Clear sent and refused files');

  const patientSelect = h('select', { id: 'send-patient', class: 'form-select', required: true, 'aria-describedby': 'send-patient-hint send-patient-note' },
    h('option', { value: '' }, 'Loading the patients…'));
  const patientNote = h('div', { id: 'send-patient-note', class: 'form-text', 'aria-live': 'polite' });
  const isDoctor = me.role === 'doctor';
  const deidBox = isDoctor ? h('input', { class: 'form-check-input', type: 'checkbox', id: 'send-deidentified', 'aria-describedby': 'send-deidentified-hint' }) : null;
  const deidConfirm = isDoctor ? h('input', { class: 'form-check-input', type: 'checkbox', id: 'send-deid-confirm' }) : null;
  const deidDetails = isDoctor ? h('div', { class: 'd-none mt-2', id: 'send-deid-details' },
    h('div', { class: 'form-check' }, deidConfirm,
      h('label', { class: 'form-check-label', for: 'send-deid-confirm' },
        'I looked at each image: nothing in its pixels, text or EXIF data identifies the patient.')),
    h('p', { class: 'form-text mb-0' },
      'PNG and JPEG only: the claim says you confirmed it, and your signature signs it. Their text chunks and EXIF data are sent as they are. ',
      'A DICOM file must be checked against DICOM PS3.15 first: ', h('code', {}, 'medcrypt deid'), ', then ', h('code', {}, 'medcrypt send --deidentified'), '.')) : null;
  const emptyDoctors = h('p', { class: 'text-body-secondary small p-2 mb-0 d-none' }, 'No doctor accounts in the directory yet.');
  const filter = h('input', { id: 'send-recipient-filter', type: 'search', class: 'form-control form-control-sm mb-2', placeholder: 'Filter by name, user name or role', autocomplete: 'off' });
  const recipientList = h('div', { id: 'send-recipients', class: 'mc-recipients list-group list-group-flush' },
    h('p', { class: 'text-body-secondary small p-2 mb-0' }, 'Loading the directory…'));
  const cipherChacha = h('input', { class: 'form-check-input', type: 'radio', name: 'send-cipher', id: 'send-cipher-chacha', value: 'chacha20', checked: true });
  const cipherAes = h('input', { class: 'form-check-input', type: 'radio', name: 'send-cipher', id: 'send-cipher-aes', value: 'aes' });
  const previewBox = h('input', { class: 'form-check-input', type: 'checkbox', id: 'send-preview', checked: true, 'aria-describedby': 'send-preview-hint' });
  const sendButton = h('button', { type: 'submit', id: 'send-submit', class: 'btn btn-success btn-lg w-100', disabled: true }, 'Seal and send');
  const sendHint = h('p', { id: 'send-summary', class: 'small text-body-secondary mt-2 mb-0' });
  const formError = h('div', { class: 'alert alert-danger d-none mt-3 mb-0', role: 'alert', id: 'send-error' });

  const form = h('form', { class: 'row g-4', novalidate: true, 'aria-label': 'Send images' },
    h('div', { class: 'col-lg-7' },
      h('section', { class: 'card shadow-sm', 'aria-labelledby': 'send-images-title' },
        h('div', { class: 'card-header d-flex align-items-center justify-content-between' },
          h('h2', { id: 'send-images-title', class: 'h5 mb-0' }, h('span', { class: 'badge rounded-pill text-bg-primary me-2' }, '1'), 'Images'),
          clearButton),
        h('div', { class: 'card-body' }, drop, emptyQueue, queue))),
    h('div', { class: 'col-lg-5' },
      h('section', { class: 'card shadow-sm mb-4', 'aria-labelledby': 'send-recipients-title' },
        h('div', { class: 'card-header' },
          h('h2', { id: 'send-recipients-title', class: 'h5 mb-0' }, h('span', { class: 'badge rounded-pill text-bg-primary me-2' }, '2'), 'Recipients')),
        h('div', { class: 'card-body' },
          isDoctor && h('div', { class: 'mb-3 border rounded p-2' },
            h('div', { class: 'form-check mb-0' }, deidBox,
              h('label', { class: 'form-check-label', for: 'send-deidentified' }, 'De-identified copy (no patient)'),
              h('div', { id: 'send-deidentified-hint', class: 'form-text mt-0' }, 'For research: no patient account is recorded, and researchers may receive it.')),
            deidDetails),
          h('div', { class: 'mb-3', id: 'send-patient-group' },
            h('label', { for: 'send-patient', class: 'form-label fw-semibold' }, 'Patient ', h('span', { class: 'text-body-secondary fw-normal small' }, '(required)')),
            patientSelect,
            h('div', { id: 'send-patient-hint', class: 'form-text' },
              'The person these images are about. They always receive them, and the server records which account they are about (never a name or ID from the files: check those in the list). The other recipients must be doctors this patient appointed.'),
            patientNote),
          h('label', { for: 'send-recipient-filter', class: 'visually-hidden' }, 'Filter recipients'),
          filter,
          h('fieldset', {},
            h('legend', { class: 'form-label fs-6' }, 'Send to'),
            recipientList),
          h('p', { class: 'small text-body-secondary mt-2 mb-0' },
            'You (', me.display_name || me.username, ') are always added, so you can open what you send. ',
            'Compare a fingerprint with its owner when in doubt.'))),
      h('section', { class: 'card shadow-sm mb-4', 'aria-labelledby': 'send-options-title' },
        h('div', { class: 'card-header' },
          h('h2', { id: 'send-options-title', class: 'h5 mb-0' }, h('span', { class: 'badge rounded-pill text-bg-primary me-2' }, '3'), 'Options')),
        h('div', { class: 'card-body' },
          h('fieldset', { class: 'mb-3' },
            h('legend', { class: 'form-label fs-6' }, 'Cipher'),
            h('div', { class: 'form-check' }, cipherChacha,
              h('label', { class: 'form-check-label', for: 'send-cipher-chacha' }, 'ChaCha20-Poly1305 ', h('span', { class: 'badge text-bg-secondary' }, 'fast'))),
            h('div', { class: 'form-check' }, cipherAes,
              h('label', { class: 'form-check-label', for: 'send-cipher-aes' }, 'AES-256-GCM'))),
          h('div', { class: 'form-check mb-3' }, previewBox,
            h('label', { class: 'form-check-label', for: 'send-preview' }, 'Add a pixelated preview'),
            h('div', { id: 'send-preview-hint', class: 'form-text' },
              'Coarse blocks, so no text stays legible; encrypted like the image. Not made for DICOM in the browser.')),
          h('p', { class: 'small text-body-secondary mb-0', id: 'send-regions-hint' },
            'To hide regions of a PNG or DICOM image (burned-in names, for instance), use “Hide regions…” on its row: they are blacked out in what is sent, and only the recipients can show them again. ',
            'Regions of a JPEG are hidden with the command-line tool: ', h('code', {}, 'medcrypt redact'), '.'))),
      sendButton, sendHint, formError),
    live);
  main.append(form);

  /* ---- recipients ---- */
  /** A directory entry's row, or null when its key does not match its fingerprint (never offered). */
  async function recipientRow(u, { isPatient }) {
    let spki;
    try {
      spki = publicKeyFromPem(u.enc_public_key, 'enc_public_key');
      if (toHex(await fingerprint(spki)) !== String(u.enc_fingerprint).toLowerCase()) throw new Error('mismatch');
    } catch {
      return null;
    }
    const cid = `send-to-${u.username}`;
    const box = h('input', { class: 'form-check-input mt-1', type: 'checkbox', id: cid, value: u.username, 'aria-describedby': `${cid}-fp` });
    box.addEventListener('change', update);
    const fp = String(u.enc_fingerprint).toLowerCase().match(/.{1,4}/g).join(' ');
    const row = h('div', {
      class: `list-group-item mc-recipient d-flex gap-2${isPatient ? ' mc-recipient-patient d-none' : ''}${u.role === 'researcher' ? ' mc-recipient-researcher d-none' : ''}`,
      dataset: { search: `${u.display_name} ${u.username} ${u.role}`.toLowerCase() },
    },
    box,
    h('label', { class: 'form-check-label flex-grow-1', for: cid },
      h('span', { class: 'fw-semibold' }, u.display_name || u.username), ' ',
      h('span', { class: `badge mc-role-${u.role}` }, u.role), ' ',
      h('span', { class: 'small text-body-secondary' }, u.username),
      isPatient && h('span', { class: 'd-block small text-body-secondary' }, 'The patient: always a recipient.'),
      h('span', { id: `${cid}-fp`, class: 'mc-fingerprint d-block text-body-secondary', title: 'Encryption key fingerprint (SHA-256)' },
        h('span', { class: 'visually-hidden' }, 'Key fingerprint '), fp)));
    return { user: u, spki, box, row, patient: isPatient };
  }

  const byName = (a, b) => (a.display_name || a.username).localeCompare(b.display_name || b.username);

  async function loadRecipients() {
    try {
      const [{ body }, { body: pbody }, appointed] = await Promise.all([
        conn.request('GET', '/api/v1/users'),
        conn.request('GET', '/api/v1/users?role=patient'),
        me.role === 'doctor'
          ? conn.request('GET', '/api/v1/appointments').then((r) => r.body?.appointments ?? [], () => null)
          : Promise.resolve(null),
      ]);
      myPatients = appointed ? new Set(appointed.filter((a) => !a.disabled).map((a) => a.username)) : null;
      const others = (body?.users ?? []).filter((u) => allowed.includes(u.role) && u.username !== me.username && u.disabled !== true);
      const patients = (pbody?.users ?? []).filter((u) => u.role === 'patient' && u.username !== me.username && u.disabled !== true);
      others.sort((a, b) => (ROLE_ORDER[a.role] - ROLE_ORDER[b.role]) || byName(a, b));
      patients.sort(byName);
      const rows = [];
      const offered = [];
      for (const u of patients) {
        const r = await recipientRow(u, { isPatient: true });
        if (!r) continue;
        recipients.set(u.username, r);
        rows.push(r.row);
        offered.push(u);
      }
      for (const u of others) {
        const r = await recipientRow(u, { isPatient: false });
        if (!r) continue;
        recipients.set(u.username, r);
        rows.push(r.row);
      }
      const option = (u) => h('option', { value: u.username }, `${u.display_name || u.username} (${u.username})`);
      const mine = myPatients ? offered.filter((u) => myPatients.has(u.username)) : [];
      const rest = myPatients ? offered.filter((u) => !myPatients.has(u.username)) : offered;
      replaceChildren(patientSelect,
        h('option', { value: '' }, offered.length ? 'Choose the patient…' : 'No patient accounts yet'),
        myPatients
          ? [mine.length > 0 && h('optgroup', { label: 'Your patients (they appointed you)' }, mine.map(option)),
            rest.length > 0 && h('optgroup', { label: 'Other patients (needs their approved consent)' }, rest.map(option))]
          : offered.map(option));
      replaceChildren(recipientList, rows.length ? rows : []);
      emptyDoctors.classList.toggle('d-none', others.length > 0);
      recipientList.append(emptyDoctors);
    } catch (e) {
      replaceChildren(recipientList, h('p', { class: 'text-danger small p-2 mb-0', role: 'alert' }, `The directory could not be loaded: ${e?.message ?? e}`));
      replaceChildren(patientSelect, h('option', { value: '' }, 'The directory could not be loaded'));
    }
    choosePatient(patientSelect.value || null);
  }
  /** Makes `username` the patient: their row ticked and locked, every other patient's hidden. */
  function choosePatient(username) {
    patient = username && recipients.get(username)?.patient ? username : null;
    for (const r of recipients.values()) {
      if (!r.patient) continue;
      const isIt = r.user.username === patient;
      r.box.checked = isIt;
      r.box.disabled = true; // ticked through the picker only
      r.row.classList.toggle('d-none', !isIt);
      if (isIt) recipientList.prepend(r.row);
    }
    const p = patient ? recipients.get(patient).user : null;
    patientNote.className = 'form-text';
    if (!p) patientNote.textContent = '';
    else if (myPatients && !myPatients.has(p.username)) {
      patientNote.className = 'form-text text-warning-emphasis';
      patientNote.textContent = `${p.display_name || p.username} has not appointed you: the server accepts this only while you hold an approved consent of theirs.`;
    } else {
      patientNote.textContent = ''; // their key's fingerprint is on their row below
    }
    update();
  }
  const deidMode = () => Boolean(deidBox?.checked);
  /** A doctor's de-identified copy: no patient (the picker off), researchers offered, a confirmation asked. */
  function setDeidMode(on) {
    patientSelect.disabled = on;
    main.querySelector('#send-patient-group')?.classList.toggle('d-none', on);
    deidDetails.classList.toggle('d-none', !on);
    if (!on) deidConfirm.checked = false;
    for (const r of recipients.values()) {
      if (r.user.role !== 'researcher') continue;
      r.row.classList.toggle('d-none', !on);
      if (!on) r.box.checked = false;
    }
    choosePatient(on ? null : patientSelect.value || null);
    for (const item of items) if (item.kind === 'dicom' && item.status === 'ready') drawItem(item);
    say(on ? 'De-identified copy: no patient; researchers may receive it. Confirm that nothing in the images identifies the patient.' : 'Sending about a patient again.');
  }
  deidBox?.addEventListener('change', () => setDeidMode(deidBox.checked));
  deidConfirm?.addEventListener('change', update);
  patientSelect.addEventListener('change', () => {
    choosePatient(patientSelect.value || null);
    if (patient) say(`Patient: ${recipients.get(patient).user.display_name || patient}. They are always a recipient.`);
  });
  filter.addEventListener('input', () => {
    const q = filter.value.trim().toLowerCase();
    for (const { row, patient: isPatient, user } of recipients.values()) {
      if (isPatient || (user.role === 'researcher' && !deidMode())) continue;
      row.classList.toggle('d-none', q !== '' && !row.dataset.search.includes(q));
    }
  });

  async function loadLimits() {
    try {
      const res = await conn.request('OPTIONS', '/api/v1/uploads', { expect: [200, 204, 404], as: 'none', csrf: false });
      if (res.status === 404) limits = { maxUpload: 64 * 1024 * 1024, endpoint: null };
      else {
        const max = Number.parseInt(res.headers.get('Tus-Max-Size') ?? '', 10);
        if (Number.isSafeInteger(max) && max > 0) limits.maxUpload = max;
      }
    } catch {
      // no answer: the upload itself will say so
    }
  }

  /* ---- the queue ---- */
  function selected() {
    return [...recipients.values()].filter((r) => r.box.checked);
  }

  function update() {
    const ready = items.filter((i) => i.status === 'ready');
    const chosen = selected();
    sendButton.disabled = sending || ready.length === 0 || (deidMode() ? !deidConfirm.checked : !patient);
    emptyQueue.classList.toggle('d-none', items.length > 0);
    clearButton.classList.toggle('d-none', !items.some((i) => ['sent', 'invalid', 'failed'].includes(i.status)));
    const names = chosen.map((r) => r.user.display_name || r.user.username);
    sendHint.textContent = sending
      ? 'Sending… keep this page open.'
      : `${ready.length} file${ready.length === 1 ? '' : 's'} ready` +
        (deidMode()
          ? (deidConfirm.checked ? `, de-identified, for ${names.length ? names.join(', ') : 'you alone'}.` : ', de-identified: confirm that nothing in them identifies the patient.')
          : patient ? ` about ${recipients.get(patient).user.display_name || patient}, for ${names.join(', ')}.` : '. Choose the patient they are about.');
  }

  function addFiles(files) {
    for (const file of files) {
      const item = { id: ++itemId, file, status: 'checking' };
      items.push(item);
      drawItem(item);
      queue.append(item.row);
      check(item);
    }
    update();
    if (files.length) say(`${files.length} file${files.length === 1 ? '' : 's'} added; checking them.`);
  }

  async function check(item) {
    const { file } = item;
    const minSealed = file.size + Math.max(1, Math.ceil(file.size / 65536)) * 16;
    if (file.size === 0) {
      setInvalid(item, 'The file is empty (0 bytes).');
      return;
    }
    if (minSealed > limits.maxUpload) {
      setInvalid(item, `Too large: ${formatSize(file.size)}; the server accepts at most ${formatSize(limits.maxUpload)} (sealed).`);
      return;
    }
    try {
      const r = await inspect(file, { preview: true });
      if (item.status !== 'checking') return; // removed meanwhile
      Object.assign(item, { status: 'ready', kind: r.kind, metadata: r.metadata, preview: r.preview, note: r.note });
    } catch (e) {
      if (item.status !== 'checking') return;
      setInvalid(item, e?.message ?? String(e));
      return;
    }
    drawItem(item);
    update();
  }

  function setInvalid(item, message) {
    item.status = 'invalid';
    item.error = message;
    drawItem(item);
    update();
    say(`${item.file.name}: ${message}`);
  }

  function removeItem(item) {
    item.cancel?.();
    item.status = 'removed';
    forget(item);
    item.row.remove();
    items.splice(items.indexOf(item), 1);
    update();
    say(`${item.file.name} removed.`);
    (queue.querySelector('button') ?? pickFiles).focus();
  }

  /** Drops what the item holds of the image (metadata, preview, its blob: URL). */
  function forget(item) {
    if (item.previewUrl) URL.revokeObjectURL(item.previewUrl);
    item.previewUrl = null;
    item.metadata = null;
    item.preview = null;
  }

  function clearDone() {
    for (const item of [...items]) {
      if (['sent', 'invalid', 'failed'].includes(item.status)) {
        forget(item);
        item.row.remove();
        items.splice(items.indexOf(item), 1);
      }
    }
    update();
    pickFiles.focus();
  }

  function drawItem(item) {
    const { file } = item;
    const row = item.row ?? h('li', { class: 'list-group-item mc-send-item' });
    item.row = row;
    row.dataset.status = item.status;
    const statusBadge = {
      checking: ['text-bg-secondary', 'Checking…'],
      ready: ['text-bg-info', 'Ready'],
      invalid: ['text-bg-danger', 'Refused'],
      sending: ['text-bg-primary', 'Sending'],
      sent: ['text-bg-success', 'Sent'],
      failed: ['text-bg-danger', 'Failed'],
    }[item.status];
    const removable = item.status !== 'sending' && item.status !== 'sent';
    const title = h('div', { class: 'd-flex align-items-center gap-2 flex-wrap' },
      h('span', { class: 'fw-semibold text-break mc-file-name' }, file.name || 'unnamed'),
      item.kind && h('span', { class: 'badge text-bg-dark border' }, KIND_LABEL[item.kind]),
      h('span', { class: 'small text-body-secondary' }, formatSize(file.size)),
      h('span', { class: `badge ms-auto ${statusBadge[0]}` }, statusBadge[1]),
      removable && h('button', { type: 'button', class: 'btn-close btn-close-white', 'aria-label': `Remove ${file.name}`, on: { click: () => removeItem(item) } }),
      item.status === 'sending' && h('button', { type: 'button', class: 'btn btn-outline-warning btn-sm', on: { click: () => item.cancel?.() } },
        'Cancel', h('span', { class: 'visually-hidden' }, ` ${file.name}`)));
    const regionCount = item.regions?.length ?? 0;
    const regionText = `${regionCount} region${regionCount === 1 ? '' : 's'} will be hidden`;
    const body = [];
    if (item.status === 'invalid' || item.status === 'failed') {
      body.push(h('p', { class: 'mc-item-error text-danger-emphasis small mb-0 mt-1', role: 'alert', dataset: { reason: item.reason ?? '' } }, item.error));
    }
    if (item.status === 'failed' && item.metadata && !sending) {
      body.push(h('button', { type: 'button', class: 'btn btn-outline-light btn-sm mt-2 mc-retry', on: { click: () => retry(item) } },
        'Ready to send again', h('span', { class: 'visually-hidden' }, ` ${file.name}`)));
    }
    if (item.metadata && item.status !== 'sent') {
      if (item.preview && !item.previewUrl) item.previewUrl = URL.createObjectURL(new Blob([item.preview], { type: 'image/png' }));
      body.push(h('div', { class: 'd-flex gap-3 mt-2' },
        item.previewUrl && h('img', { src: item.previewUrl, class: 'mc-preview rounded border', alt: `Pixelated preview of ${file.name}`, width: 64, height: 64 }),
        h('dl', { class: 'mc-meta row small mb-0 flex-grow-1' },
          summary(item.kind, item.metadata).map(([k, v]) => [h('dt', { class: 'col-4 col-sm-3 text-body-secondary fw-normal' }, k), h('dd', { class: 'col-8 col-sm-9 mb-0 text-break' }, String(v))]))));
      if (item.note) body.push(h('p', { class: 'small text-body-secondary mb-0 mt-1' }, item.note));
      if (deidMode() && item.kind === 'dicom' && item.status === 'ready') {
        body.push(h('p', { class: 'small text-warning-emphasis mb-0 mt-1 mc-deid-dicom' },
          'Will be refused as a de-identified copy: a DICOM file must be checked against DICOM PS3.15 first (', h('code', {}, 'medcrypt deid'), '). Remove it, or untick “De-identified copy”.'));
      }
      if (item.kind === 'png' || item.kind === 'dicom') {
        const editable = item.status === 'ready';
        body.push(h('div', { class: 'd-flex align-items-center gap-2 mt-2 flex-wrap' },
          editable && h('button', { type: 'button', class: 'btn btn-outline-info btn-sm mc-hide-regions', on: { click: () => chooseRegions(item) } },
            'Hide regions…', h('span', { class: 'visually-hidden' }, ` of ${file.name}`)),
          regionCount > 0 && h('span', { class: 'badge text-bg-warning mc-region-count' }, regionText)));
      } else if (item.kind === 'jpeg') {
        body.push(h('p', { class: 'small text-body-secondary mb-0 mt-1' }, 'Regions of a JPEG are hidden with ', h('code', {}, 'medcrypt redact'), '.'));
      }
    }
    if (item.status === 'sending' || item.status === 'sent') {
      item.bar = h('div', { class: `progress-bar${item.status === 'sending' ? ' progress-bar-striped progress-bar-animated' : ' bg-success'}` });
      item.progressEl = h('div', { class: 'progress mt-2', role: 'progressbar', 'aria-label': `Upload of ${file.name}`, 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0' }, item.bar);
      item.progressText = h('p', { class: 'small text-body-secondary mb-0 mt-1 mc-progress-text' });
      body.push(item.progressEl, item.progressText);
    }
    replaceChildren(row, title, body);
    if (item.progress) showProgress(item, item.progress);
  }

  function showProgress(item, { phase, sent, total }) {
    item.progress = { phase, sent, total };
    if (!item.bar) return;
    const pct = total ? Math.floor((sent / total) * 100) : 0;
    item.bar.style.width = `${pct}%`; // CSSOM, which the CSP allows (no style attribute in markup)
    item.progressEl.setAttribute('aria-valuenow', String(pct));
    if (item.status === 'sent') {
      item.progressText.textContent = `Sealed and stored · ${formatSize(total)} · image ${item.image?.id ?? ''}${item.about ? ` · about ${item.about}` : ''}`;
      return;
    }
    if (phase === 'sealing' || phase === 'redacting') {
      item.progressText.textContent = phase === 'sealing' ? 'Sealing…' : 'Hiding the regions…';
      return;
    }
    const now = performance.now();
    const t = item.timing ?? (item.timing = { start: now, lastAt: now, lastSent: sent, speed: 0 });
    const dt = (now - t.lastAt) / 1000;
    if (dt >= 0.25) {
      const instant = (sent - t.lastSent) / dt;
      t.speed = t.speed ? 0.7 * t.speed + 0.3 * instant : instant;
      t.lastAt = now;
      t.lastSent = sent;
    }
    const speed = t.speed || (sent / Math.max(0.001, (now - t.start) / 1000));
    const left = speed > 0 ? (total - sent) / speed : Infinity;
    item.progressText.textContent = `${pct}% · ${formatSize(sent)} of ${formatSize(total)} · ${formatSize(Math.round(speed))}/s · ${formatDuration(left)} left`;
    const step = Math.floor(pct / 25);
    if (step > (item.announced ?? 0) && pct < 100) {
      item.announced = step;
      say(`${item.file.name}: ${pct}% sent, ${formatDuration(left)} left.`);
    }
  }

  /** A failed item back in the queue (after the recipients or the patient were changed). */
  function retry(item) {
    if (item.status !== 'failed') return;
    item.status = 'ready';
    item.error = null;
    item.reason = null;
    item.progress = null;
    item.timing = null;
    drawItem(item);
    update();
    say(`${item.file.name} is ready to send again.`);
  }

  /** Opens the region editor for an item; keeps what the user saved. */
  async function chooseRegions(item) {
    const chosen = await editRegions(item.file, item.regions ?? []);
    if (chosen === null || !items.includes(item)) {
      item.row?.querySelector('.mc-hide-regions')?.focus();
      return;
    }
    item.regions = chosen;
    drawItem(item);
    say(chosen.length ? `${item.file.name}: ${chosen.length} region${chosen.length === 1 ? '' : 's'} will be hidden.` : `${item.file.name}: no region will be hidden.`);
    item.row.querySelector('.mc-hide-regions')?.focus();
  }

  /* ---- sending ---- */
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (sending) return;
    formError.classList.add('d-none');
    const chosen = selected();
    const ready = items.filter((i) => i.status === 'ready');
    if (!ready.length) return;
    const deid = deidMode();
    if (deid && !deidConfirm.checked) {
      formError.textContent = 'Confirm that nothing in the images identifies the patient first.';
      formError.classList.remove('d-none');
      deidConfirm.focus();
      return;
    }
    if (!deid && (!patient || !chosen.some((r) => r.user.username === patient))) {
      formError.textContent = 'Choose the patient these images are about first.';
      formError.classList.remove('d-none');
      patientSelect.focus();
      return;
    }
    if (!session.identity || session.user?.username !== me.username) {
      formError.textContent = 'Your session changed: sign in again to send.';
      formError.classList.remove('d-none');
      return;
    }
    sending = true;
    update();
    const keys = [...chosen.map((r) => r.spki), identity.encryption.spki];
    const cipher = cipherAes.checked ? 'aes' : 'chacha20';
    const withPreview = previewBox.checked;
    const names = chosen.map((r) => r.user.display_name || r.user.username).join(', ');
    const about = deid ? null : patient;
    const aboutName = deid ? 'no patient (de-identified)' : recipients.get(about).user.display_name || about;
    const directoryNames = Object.fromEntries([...recipients.values()].map((r) => [r.user.username, r.user.display_name || r.user.username]));
    let sent = 0;
    let failed = 0;
    for (const item of ready) {
      if (item.status !== 'ready') continue;
      item.status = 'sending';
      drawItem(item);
      say(`Sealing and sending ${item.file.name}.`);
      const job = upload({
        file: item.file,
        metadata: item.metadata,
        preview: withPreview ? item.preview : null,
        recipients: keys,
        signing: identity.signing,
        cipher,
        csrf: conn.csrfToken,
        maxUpload: limits.maxUpload,
        endpoint: limits.endpoint,
        regions: item.regions?.length ? item.regions : null,
        patient: about,
        deidentified: deid,
        kind: item.kind,
        names: directoryNames,
      }, (p) => showProgress(item, p));
      item.cancel = job.cancel;
      try {
        item.image = await job.done;
        item.about = aboutName;
        item.status = 'sent';
        forget(item);
        sent++;
        drawItem(item);
        showProgress(item, { phase: 'done', sent: item.image.size, total: item.image.size });
        say(`${item.file.name} sent to ${names}.`);
      } catch (e) {
        item.status = 'failed';
        item.error = e?.message ?? String(e);
        item.reason = e?.reason ?? null;
        failed++;
        drawItem(item);
        say(`${item.file.name}: ${item.error}`);
      }
      item.cancel = null;
    }
    sending = false;
    update();
    for (const item of items) if (item.status === 'failed') drawItem(item); // their "send again" buttons
    const text = `${sent} sent${failed ? `, ${failed} failed` : ''}.`;
    sendHint.replaceChildren(text, ' ', h('a', { href: '/inbox', dataset: { link: '' } }, 'Go to the inbox'));
    if (deid) { // a confirmation is for the images it was given for
      deidConfirm.checked = false;
      sendButton.disabled = true;
    }
    say(text);
  });

  /* ---- input ---- */
  fileInput.addEventListener('change', () => {
    addFiles([...fileInput.files]);
    fileInput.value = '';
  });
  folderInput.addEventListener('change', () => {
    addFiles([...folderInput.files].filter((f) => !f.name.startsWith('.')));
    folderInput.value = '';
  });
  let depth = 0;
  drop.addEventListener('dragenter', (e) => {
    e.preventDefault();
    depth++;
    drop.classList.add('mc-dropzone-active');
  });
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
  });
  drop.addEventListener('dragleave', () => {
    if (--depth <= 0) {
      depth = 0;
      drop.classList.remove('mc-dropzone-active');
    }
  });
  drop.addEventListener('drop', async (e) => {
    e.preventDefault();
    depth = 0;
    drop.classList.remove('mc-dropzone-active');
    if (e.dataTransfer) addFiles(await droppedFiles(e.dataTransfer));
  });
  guardDrops();

  update();
  await Promise.all([loadLimits(), loadRecipients()]);
  // Leaving the page: an upload in flight is cancelled (and terminated on the server, so nothing
  // half-sent stays), and what the page held of the images is dropped.
  return () => {
    for (const item of items) {
      item.cancel?.();
      forget(item);
    }
    items.length = 0;
  };
}
