/**
 * view.js: one image (/images/:id). The page fetches IMAGE (header and the caller's wrap) and
 * streams the blob through the container's open(), which unwraps the file key with the user's
 * private key, releases each chunk once its tag verified and the last one only after the
 * signature verified. The signer is looked up in the user directory by its fingerprint: the
 * signature panel always says who signed, with the fingerprint, and whether that key is the one
 * the directory lists (trusted). Only a verified, trusted file is shown (PNG, JPEG, DICOM in the
 * Cornerstone viewer, loaded lazily from src/viewer/), its attributes listed, and offered as a
 * download of the verified bytes.
 *
 * Who it is about (issue 12): the patient account the server recorded (IMAGE.patient) is in the
 * details. A de-identified item (IMAGE.deidentified) shows the claim of its decrypted metadata
 * (member "deidentified": profile, what was checked, pixels, tool, time) and who signed it: the
 * file's signature is the signature on the claim, so the claim is "verified" only once the
 * signature verified against the signer's key in the directory. An item the server marks
 * de-identified whose metadata has no claim gets a loud warning: treat it as identified.
 *
 * Hidden regions (docs/FORMAT.md §13): when the verified image carries sealed regions (a PNG's
 * mcRG chunk, a DICOM's "MEDCRYPT REGIONS" elements), the page offers "Show hidden regions": the
 * worker restores them with the user's key (src/redact, the regions' signer must be the image's),
 * the viewer shows the original and it can be downloaded; the image as sent stays available.
 *
 * Sharing (doctor, patient): the file key is unwrapped again and wrapped for a recipient from
 * the directory in this browser; the server gets only that detached wrap. Share and revoke need
 * a re-authentication in the last 5 minutes: on 401 reauth_required the page asks for the
 * password, re-authenticates (src/account reauth) and retries. Leaving the page destroys the
 * viewer and drops the decrypted bytes.
 */
import { b64decode, reauth } from '../account/index.js';
import { open } from '../container/index.js';
import { concat } from '../container/bytes.js';
import { field, h, replaceChildren } from '../app/dom.js';
import {
  SHARE_TO, aboutImage, deleteShare, directoryRecipient, errorText, fileKind, fingerprintHex, formatSize, formatTime, getImage,
  groupFingerprint, loadDirectory, metadataObject, needsReauth, postShare, summarize, unlockImage, userLabel,
} from '../app/images.js';
import { kdfMemory, session } from '../app/session.js';
import { hasRegions } from '../redact/detect.js';
import { announce, pageStart, progressText } from '../app/shell.js';

const ID = /^[0-9a-f]{32}$/;
const EXTENSIONS = { dicom: 'dcm', png: 'png', jpeg: 'jpg' };

/** A file name safe to offer for a download: the sealed one's base name, else image-ID.EXT. */
function downloadName(meta, id, kind) {
  const name = typeof meta?.file === 'string' ? meta.file.split(/[\\/]/).pop().replace(/[^A-Za-z0-9._ -]/g, '_').slice(0, 120) : '';
  return name && !name.startsWith('.') ? name : `image-${id.slice(0, 12)}.${EXTENSIONS[kind] ?? 'bin'}`;
}

export async function render(main, { navigate, params }) {
  if (!session.user) {
    navigate('/login', { replace: true });
    return undefined;
  }
  const id = params?.id ?? '';
  pageStart(main, 'Image');
  const title = main.querySelector('h1');
  const state = { left: false, viewer: null, bytes: null, reader: null, controller: new AbortController() };

  main.prepend(h('nav', { 'aria-label': 'Breadcrumb' },
    h('ol', { class: 'breadcrumb mb-2' },
      h('li', { class: 'breadcrumb-item' }, h('a', { href: '/inbox', dataset: { link: '' } }, 'Inbox')),
      h('li', { class: 'breadcrumb-item active', 'aria-current': 'page' }, 'Image'))));

  if (!ID.test(id)) {
    main.append(h('div', { class: 'alert alert-danger', role: 'alert' }, 'This is not an image address.'));
    return undefined;
  }
  if (!session.identity) {
    main.append(h('div', { class: 'alert alert-warning', role: 'alert' },
      'Your keys are locked after a reload, so this image cannot be decrypted. ',
      h('a', { href: '/login', dataset: { link: '' } }, 'Sign in again'), ' to open it.'));
    return undefined;
  }

  // --- layout -------------------------------------------------------------------------------
  const signature = h('div', { id: 'signature', class: 'alert alert-secondary mc-signature', role: 'status', 'aria-live': 'polite', dataset: { state: 'checking' } },
    h('strong', {}, 'Signature: '), 'checking…');
  const bar = h('div', { class: 'progress-bar', id: 'open-bar' });
  const progress = h('div', {
    class: 'progress mb-2', role: 'progressbar', 'aria-label': 'Downloading and decrypting', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0',
  }, bar);
  const progressText_ = h('p', { class: 'small text-body-secondary mb-2', id: 'open-progress', 'aria-live': 'polite' }, 'Fetching the sealed image…');
  const error = h('div', { class: 'alert alert-danger d-none', role: 'alert', id: 'view-error' });
  const deid = h('div', { id: 'deidentification', class: 'd-none', dataset: { state: '' } });

  const viewerEl = h('div', { id: 'viewer', class: 'mc-viewer rounded', 'aria-label': 'Decrypted image', dataset: { state: 'loading' } });
  const frameText = h('span', { id: 'frame', class: 'small text-body-secondary', 'aria-live': 'polite' });
  const windowText = h('span', { id: 'window', class: 'small text-body-secondary' });
  const tool = (label, text, action) => h('button', { type: 'button', class: 'btn btn-outline-light btn-sm', 'aria-label': label, title: label, on: { click: action } }, text);
  const withViewer = (fn) => () => state.viewer && Promise.resolve(fn(state.viewer)).then(updateReadouts, () => {});
  const prevButton = tool('Previous frame', '◀', withViewer((v) => v.previous()));
  const nextButton = tool('Next frame', '▶', withViewer((v) => v.next()));
  const toolbar = h('div', { class: 'd-flex flex-wrap gap-2 align-items-center mb-2 mc-toolbar d-none', role: 'toolbar', 'aria-label': 'Image tools' },
    h('div', { class: 'btn-group', role: 'group', 'aria-label': 'Frames' }, prevButton, nextButton),
    frameText,
    h('div', { class: 'btn-group', role: 'group', 'aria-label': 'Zoom' },
      tool('Zoom out', '−', withViewer((v) => v.zoomOut())),
      tool('Zoom in', '+', withViewer((v) => v.zoomIn())),
      tool('Reset view', 'Reset', withViewer((v) => v.reset()))),
    windowText);
  const help = h('p', { class: 'small text-body-secondary mt-2 mb-0', id: 'viewer-help' },
    'Drag: window/level · right drag or wheel: zoom · shift + drag: pan · arrow keys: frames (click the image first) · 0: reset.');
  viewerEl.setAttribute('aria-describedby', 'viewer-help');

  const details = h('dl', { class: 'row small mb-0 mc-attributes', id: 'attributes' });
  const download = h('button', { type: 'button', class: 'btn btn-success w-100', id: 'download', disabled: true }, 'Download original');
  const downloadNote = h('p', { class: 'small text-body-secondary mt-2 mb-0' }, 'Available once every chunk and the signature have verified.');
  const sharing = h('section', { class: 'card mb-3', 'aria-labelledby': 'sharing-title' });
  const regionsCard = h('section', { class: 'card mb-3 d-none', id: 'regions-card', 'aria-labelledby': 'regions-title' });

  main.append(h('div', { class: 'row g-4' },
    h('div', { class: 'col-lg-8' }, signature, deid, error, progress, progressText_, toolbar, viewerEl, help),
    h('div', { class: 'col-lg-4' },
      h('section', { class: 'card mb-3', 'aria-labelledby': 'download-title' },
        h('div', { class: 'card-body' }, h('h2', { class: 'h6 card-title', id: 'download-title' }, 'Original file'), download, downloadNote)),
      regionsCard,
      sharing,
      h('section', { class: 'card mb-3', 'aria-labelledby': 'details-title' },
        h('div', { class: 'card-body' }, h('h2', { class: 'h6 card-title', id: 'details-title' }, 'Details'), details)))));

  const fail = (text) => {
    error.textContent = text;
    error.classList.remove('d-none');
    progress.classList.add('d-none');
    progressText_.textContent = '';
    viewerEl.dataset.state = 'error';
    announce(text);
  };

  function setSignature(kind, ...content) {
    signature.className = `alert mc-signature alert-${{ verified: 'success', untrusted: 'danger', failed: 'danger', checking: 'secondary' }[kind]}`;
    signature.dataset.state = kind;
    replaceChildren(signature, ...content);
  }

  function updateReadouts() {
    const v = state.viewer;
    if (!v) return;
    frameText.textContent = v.frameCount > 1 ? `Frame ${v.frame + 1} of ${v.frameCount}` : '';
    prevButton.disabled = v.frameCount < 2 || v.frame === 0;
    nextButton.disabled = v.frameCount < 2 || v.frame >= v.frameCount - 1;
    const w = v.getWindow();
    windowText.textContent = w ? `Window ${Math.round(w.width)} / Level ${Math.round(w.center)}` : '';
    windowText.dataset.width = w ? String(w.width) : '';
  }

  function showDetails(rows) {
    replaceChildren(details, rows.filter(([, v]) => v !== '' && v !== undefined && v !== null).map(([k, v]) => [
      h('dt', { class: 'col-5 text-body-secondary fw-normal' }, k),
      h('dd', { class: 'col-7 text-break' }, String(v))]));
  }

  /**
   * The de-identification panel: `about` from aboutImage, `signer` the directory's user whose key
   * signed the file (null while unknown), `verified` whether the signature has verified.
   */
  function showAbout(about, { signer = null, verified = false, failed = false } = {}) {
    deid.dataset.state = about.state;
    if (about.state === 'identified' || about.state === 'unknown') {
      deid.className = 'd-none';
      return;
    }
    if (about.state === 'missing-claim') {
      deid.className = 'alert alert-danger border-3 mc-deid-warning';
      deid.setAttribute('role', 'alert');
      replaceChildren(deid, h('h2', { class: 'h6 alert-heading' }, '⚠ No de-identification claim'),
        'The server marks this image de-identified, but its signed metadata carries no de-identification claim: nobody vouched that identifying data was removed. ',
        h('strong', {}, 'Treat it as identified patient data'), ' and tell its sender.');
      return;
    }
    const c = about.claim;
    const signedBy = failed
      ? h('span', { class: 'text-danger-emphasis' }, 'the signature did not verify: the claim is not vouched for')
      : signer
        ? [h('strong', { id: 'deid-signer' }, signer.display_name || signer.username), ` (${signer.username}, ${signer.role})`,
          verified ? ', signature verified' : ', signature being checked…']
        : 'checking who signed it…';
    deid.className = `alert ${failed ? 'alert-danger' : about.state === 'deidentified' ? 'alert-info' : 'alert-warning'} mc-deid`;
    deid.removeAttribute('role');
    const rows = [
      ['Profile', c.profile || '(none given)'],
      ['Pixels', c.pixels],
      ['Checked', c.checked.length ? c.checked.join(', ') : ''],
      ['Tool', c.tool],
      ['Time', c.time],
    ].filter(([, v]) => v);
    replaceChildren(deid,
      h('h2', { class: 'h6 alert-heading' }, about.state === 'deidentified' ? 'De-identified copy' : 'Claims de-identification'),
      h('p', { class: 'mb-2 small' },
        about.state === 'deidentified'
          ? 'No patient account: its sender claims identifying data was removed. The claim is inside the encrypted metadata, signed with the file.'
          : 'Its metadata claims de-identification, but the server does not mark it so (it is not recorded as a de-identified item).'),
      h('dl', { class: 'row small mb-2' }, rows.map(([k, v]) => [
        h('dt', { class: 'col-3 fw-normal' }, k), h('dd', { class: 'col-9 mb-0 text-break' }, v)])),
      h('p', { class: 'mb-0 small' }, 'Claimed by ', signedBy, '.'));
  }

  // --- load ---------------------------------------------------------------------------------
  async function load() {
    let image;
    try {
      image = await getImage(id);
    } catch (e) {
      fail(e?.status === 404 ? 'No such image, or it was not shared with you.' : `Could not fetch the image: ${errorText(e)}`);
      setSignature('failed', h('strong', {}, 'Signature: '), 'not checked.');
      return;
    }
    if (state.left) return;
    let meta = null;
    let unlocked = null;
    try {
      unlocked = await unlockImage(image);
      meta = metadataObject(unlocked.metadata);
    } catch (e) {
      fail(`This image does not open: ${errorText(e)}`);
      setSignature('failed', h('strong', {}, 'Signature: '), 'not checked (the header does not open).');
      return;
    } finally {
      unlocked?.wipe();
    }
    const summary = summarize(meta, image.created);
    const about = aboutImage(image, meta);
    const heading = summary.patientName || summary.patientId || summary.file || 'Image';
    title.textContent = heading;
    document.title = `${heading} · medcrypt`;
    showAbout(about);
    // Who it is about, as the server recorded it (the file's own patient attributes follow).
    const details = (users) => {
      state.account = about.patient ? userLabel(about.patient, users)
        : about.state === 'deidentified' || about.state === 'missing-claim' ? 'none (de-identified)' : 'not recorded';
      showDetails([
        ['Patient account', state.account],
        ['Patient', summary.patientName], ['Patient ID', summary.patientId], ['Date', summary.date], ['Modality', summary.modality],
        ['File', summary.file], ['Sender', image.sender], ['Sent', formatTime(image.created)], ['Sealed size', formatSize(image.size)],
      ]);
    };
    details([]);
    drawSharing(image);

    let users = [];
    try {
      users = await loadDirectory();
    } catch (e) {
      fail(`Could not read the user directory to check the signer: ${errorText(e)}`);
      return;
    }
    details(users);

    // Stream the blob through open(): bytes counted for the progress bar as they arrive.
    let res;
    try {
      res = await fetch(`/api/v1/images/${id}/blob`, { credentials: 'same-origin', cache: 'no-store', signal: state.controller.signal });
    } catch (e) {
      if (!state.left) fail(`The download failed: ${e?.message ?? e}`);
      return;
    }
    if (!res.ok || !res.body) {
      fail(`The download failed: the server answered ${res.status}.`);
      return;
    }
    let received = 0;
    const total = image.size || Number(res.headers.get('Content-Length')) || 0;
    const counted = res.body.pipeThrough(new TransformStream({
      transform(chunk, controller) {
        received += chunk.length;
        const pct = total ? Math.min(100, Math.floor((received * 100) / total)) : 0;
        bar.style.width = `${pct}%`;
        progress.setAttribute('aria-valuenow', String(pct));
        controller.enqueue(chunk);
      },
    }));
    progressText_.textContent = 'Downloading, decrypting and verifying…';

    let opened;
    try {
      opened = await open(counted, { identity: session.identity, wraps: [b64decode(image.wrap)] });
    } catch (e) {
      fail(`This image does not open: ${errorText(e)}`);
      setSignature('failed', h('strong', {}, 'Not verified: '), errorText(e));
      return;
    }
    // The trust decision is made from the header alone, before any plaintext is read.
    const signerHex = fingerprintHex(opened.signer);
    const signer = signerHex ? users.find((u) => u.sign_fingerprint === signerHex) : null;
    const fpLine = h('div', { class: 'small mt-1' }, 'Signing key fingerprint: ',
      h('code', { class: 'mc-fp', id: 'signer-fp' }, signerHex ? groupFingerprint(signerHex) : 'none'));
    if (!signer) {
      await opened.plaintext.cancel().catch(() => {});
      const why = signerHex ? 'signed by a key that is no user\'s current signing key in the directory' : 'the file is not signed';
      setSignature('untrusted', h('strong', {}, 'Untrusted: '), `${why}. The image is not shown.`, fpLine);
      showAbout(about, { failed: true });
      fail(`Refused: ${why}.`);
      return;
    }
    const who = [h('strong', { id: 'signer-name' }, signer.display_name || signer.username), ` (${signer.username}, ${signer.role})`];
    setSignature('checking', h('strong', {}, 'Signature: '), 'checking every chunk, signed by ', ...who, '…', fpLine);
    showAbout(about, { signer });

    const parts = [];
    try {
      state.reader = opened.plaintext.getReader();
      for (;;) {
        const { done, value } = await state.reader.read();
        if (done) break;
        parts.push(value);
      }
      await opened.done;
    } catch (e) {
      parts.length = 0;
      if (state.left) return;
      setSignature('failed', h('strong', {}, 'Not verified: '), errorText(e), fpLine);
      showAbout(about, { failed: true });
      fail(`This image does not open: ${errorText(e)}`);
      return;
    } finally {
      state.reader = null;
    }
    if (state.left) return;
    state.bytes = concat(...parts);
    parts.length = 0;
    const notSender = signer.username !== image.sender;
    setSignature('verified', h('strong', {}, 'Verified: '), 'signed by ', ...who,
      '. The signing key matches the user directory', notSender ? h('span', { class: 'fw-semibold' }, ` (note: not the sender, ${image.sender})`) : '', '.', fpLine);
    showAbout(about, { signer, verified: true });
    progress.classList.add('d-none');
    progressText_.textContent = '';
    announce('Image verified');

    const kind = fileKind(state.bytes);
    download.disabled = false;
    downloadNote.textContent = `${downloadName(meta, id, kind)} · ${formatSize(state.bytes.length)}, verified.`;
    download.addEventListener('click', () => {
      if (!state.bytes) return;
      const url = URL.createObjectURL(new Blob([state.bytes], { type: 'application/octet-stream' }));
      const a = h('a', { href: url, download: downloadName(meta, id, kind), class: 'd-none' });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    });

    if ((kind === 'png' || kind === 'dicom') && hasRegions(state.bytes)) {
      offerRegions(kind, meta, opened.header.signer?.spki ?? null);
    }

    if (!kind) {
      fail('The verified file is not a DICOM, PNG or JPEG image: it cannot be shown, but it can be downloaded.');
      return;
    }
    if (kind === 'dicom') {
      try {
        const { dicomAttributes } = await import('../viewer/attributes.js');
        const attrs = dicomAttributes(state.bytes);
        showDetails([
          ['Patient account', state.account],
          ...attrs.map((a) => [a.name, a.value]),
          ['Sender', image.sender], ['Sent', formatTime(image.created)], ['Size', formatSize(state.bytes.length)],
        ]);
      } catch (e) {
        fail(`The DICOM attributes do not parse: ${errorText(e)}`);
      }
    }
    progressText_.textContent = 'Loading the viewer…';
    try {
      const { createViewer } = await import('../viewer/index.js');
      if (state.left) return;
      toolbar.classList.remove('d-none');
      state.viewer = createViewer(viewerEl, {
        onStatus: ({ state: s, text }) => {
          if (s === 'error') fail(text);
          updateReadouts();
        },
      });
      await state.viewer.show({ bytes: state.bytes, kind });
      if (state.left) return;
      progressText_.textContent = '';
      viewerEl.dataset.state = 'shown';
      viewerEl.dataset.frames = String(state.viewer.frameCount);
      viewerEl.addEventListener('pointerup', () => setTimeout(updateReadouts, 0));
      viewerEl.addEventListener('keyup', () => updateReadouts());
      updateReadouts();
    } catch (e) {
      if (!state.left) fail(`The image cannot be shown: ${errorText(e)}`);
    }
  }

  // --- hidden regions -----------------------------------------------------------------------
  /** The "Hidden regions" card: restore in the worker, show and download the original. */
  function offerRegions(kind, meta, signerSpki) {
    const status = h('p', { class: 'small text-body-secondary mt-2 mb-0', id: 'regions-status', role: 'status', 'aria-live': 'polite' });
    const showButton = h('button', { type: 'button', class: 'btn btn-warning w-100', id: 'show-regions', 'aria-describedby': 'regions-note' }, 'Show hidden regions');
    const asSent = h('button', { type: 'button', class: 'btn btn-outline-light w-100 mt-2 d-none', id: 'show-as-sent' }, 'Show as sent (regions hidden)');
    const downloadRestored = h('button', { type: 'button', class: 'btn btn-success w-100 mt-2 d-none', id: 'download-restored' }, 'Download with regions restored');
    replaceChildren(regionsCard, h('div', { class: 'card-body' },
      h('h2', { class: 'h6 card-title', id: 'regions-title' }, 'Hidden regions'),
      h('p', { class: 'small text-body-secondary', id: 'regions-note' },
        'Parts of this image were hidden by its sender; their original pixels are sealed inside it for its recipients. Showing them decrypts them in this browser only.'),
      showButton, asSent, downloadRestored, status));
    regionsCard.classList.remove('d-none');
    download.textContent = 'Download as sent';
    const show = async (bytes, text) => {
      if (!state.viewer) return;
      try {
        await state.viewer.show({ bytes, kind });
        updateReadouts();
        status.textContent = text;
      } catch (e) {
        status.textContent = `The image cannot be shown: ${errorText(e)}`;
      }
    };
    showButton.addEventListener('click', async () => {
      if (state.restored) {
        await show(state.restored, 'Showing the original, hidden regions restored.');
        return;
      }
      showButton.disabled = true;
      status.className = 'small text-body-secondary mt-2 mb-0';
      status.textContent = 'Decrypting the hidden regions…';
      try {
        const { restoreRegions } = await import('../send/client.js');
        const { image, info } = await restoreRegions(state.bytes.slice(), session.identity, signerSpki ? [signerSpki] : []);
        if (state.left) {
          image.fill(0);
          return;
        }
        state.restored = image;
        showButton.textContent = 'Show the original again';
        asSent.classList.remove('d-none');
        downloadRestored.classList.remove('d-none');
        regionsCard.dataset.state = 'restored';
        regionsCard.dataset.regions = String(info.regions.length);
        await show(image, `Showing the original: ${info.regions.length} region${info.regions.length === 1 ? '' : 's'} restored, signed by the image's signer.`);
        announce('Hidden regions restored');
      } catch (e) {
        status.className = 'small text-danger mt-2 mb-0';
        status.textContent = `The hidden regions cannot be shown: ${errorText({ kind: e?.reason, message: e?.message ?? String(e) })}`;
        regionsCard.dataset.state = 'failed';
      } finally {
        showButton.disabled = false;
      }
    });
    asSent.addEventListener('click', () => show(state.bytes, 'Showing the image as sent, regions hidden.'));
    downloadRestored.addEventListener('click', () => {
      if (!state.restored) return;
      const url = URL.createObjectURL(new Blob([state.restored], { type: 'application/octet-stream' }));
      const name = downloadName(meta, id, kind).replace(/(\.[A-Za-z0-9]+)?$/, (ext) => `-restored${ext || `.${EXTENSIONS[kind]}`}`);
      const a = h('a', { href: url, download: name, class: 'd-none' });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    });
  }

  // --- sharing ------------------------------------------------------------------------------
  function drawSharing(image) {
    const me = session.user;
    const mayShare = Boolean(SHARE_TO[me.role]) && Boolean(image.wrap);
    const isSender = image.sender === me.username;
    const granted = new Set(); // shares made from this page: the granter may revoke them
    const recipients = new Set((image.recipients ?? []).filter((u) => u !== me.username));
    if (!mayShare && !isSender) {
      sharing.remove();
      return;
    }
    const status = h('div', { class: 'small mt-2', role: 'status', 'aria-live': 'polite', id: 'share-status' });
    const list = h('ul', { class: 'list-group list-group-flush mb-2', id: 'share-list' });
    const select = h('select', { id: 'share-to', class: 'form-select', required: true });
    const shareButton = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Share');
    const recipientInfo = h('div', { id: 'share-to-info', class: 'form-text' });
    const pw = field({ id: 'reauth-password', label: 'Your password', type: 'password', autocomplete: 'current-password', hint: 'Sharing and revoking ask for your password again (valid 5 minutes).' });
    const reauthButton = h('button', { type: 'submit', class: 'btn btn-warning' }, 'Confirm');
    const reauthCancel = h('button', { type: 'button', class: 'btn btn-outline-light' }, 'Cancel');
    const reauthForm = h('form', { class: 'border border-warning rounded p-3 mt-3 d-none', id: 'reauth-form', 'aria-labelledby': 'reauth-title', novalidate: true },
      h('h3', { class: 'h6', id: 'reauth-title' }, 'Confirm it is you'), pw.group,
      h('div', { class: 'd-flex gap-2' }, reauthButton, reauthCancel));
    let pending = null; // the action waiting for the re-authentication

    const candidates = [];
    const fillCandidates = async () => {
      let users = [];
      try {
        users = await loadDirectory({ fresh: true });
      } catch (e) {
        status.textContent = `Could not read the directory: ${errorText(e)}`;
      }
      candidates.length = 0;
      candidates.push(...users.filter((u) => (SHARE_TO[me.role] ?? []).includes(u.role) && u.username !== me.username));
      replaceChildren(select, h('option', { value: '' }, 'Choose a recipient…'),
        candidates.map((u) => h('option', { value: u.username, disabled: recipients.has(u.username) || granted.has(u.username) },
          `${u.display_name || u.username} (${u.username}) · ${u.role} · ${u.enc_fingerprint.slice(0, 8)}…`)));
    };
    select.addEventListener('change', () => {
      const u = candidates.find((c) => c.username === select.value);
      replaceChildren(recipientInfo, u ? ['Encryption key fingerprint: ', h('code', { class: 'mc-fp' }, groupFingerprint(u.enc_fingerprint)),
        '. Compare it with ', u.display_name || u.username, ' out of band.'] : '');
    });

    const drawList = () => {
      const shown = [...new Set([...recipients, ...granted])].sort();
      replaceChildren(list, shown.length === 0
        ? h('li', { class: 'list-group-item text-body-secondary px-0' }, isSender ? 'Only you hold this image.' : 'You have not shared it from here.')
        : shown.map((u) => h('li', { class: 'list-group-item d-flex justify-content-between align-items-center px-0', dataset: { user: u } },
          h('span', {}, u),
          h('button', { type: 'button', class: 'btn btn-outline-danger btn-sm', 'aria-label': `Revoke ${u}'s access`, on: { click: () => run(() => revoke(u)) } }, 'Revoke'))));
    };

    async function share(to) {
      const user = candidates.find((c) => c.username === to);
      if (!user) throw new Error('choose a recipient from the list');
      const recipient = await directoryRecipient(user);
      const unlocked = await unlockImage(image);
      let wrap;
      try {
        wrap = await unlocked.wrapFor(recipient);
      } finally {
        unlocked.wipe();
      }
      await postShare(id, to, wrap);
      granted.add(to);
      if (isSender) recipients.add(to);
      drawList();
      await fillCandidates();
      select.value = '';
      recipientInfo.textContent = '';
      return `Shared with ${to}: a new key wrap for their key was made in this browser.`;
    }

    async function revoke(u) {
      await deleteShare(id, u);
      recipients.delete(u);
      granted.delete(u);
      drawList();
      await fillCandidates();
      return `Revoked ${u}'s access. What they already downloaded stays with them.`;
    }

    /** The server's patient rules (issue 12) refusing a share, in words; null for other errors. */
    function shareRefusal(e) {
      const code = e?.body?.error;
      const who = e?.body?.user ? userLabel(e.body.user, candidates) : 'this recipient';
      const patient = image.patient ? userLabel(image.patient, candidates) : 'the patient';
      if (code === 'not_appointed') {
        return e.body.user && e.body.user === image.patient
          ? `${patient} has not appointed you and you hold no approved consent of theirs, so you may not share their image.`
          : `${who} is not one of the doctors ${patient} appointed, and holds no approved consent of theirs: ${patient} can appoint them (“My doctors”), or ${who} can request access.`;
      }
      if (code === 'not_deidentified') return `${who} is a researcher: researchers receive only de-identified copies.`;
      return null;
    }

    async function run(action) {
      status.className = 'small mt-2';
      status.textContent = 'Working…';
      try {
        status.textContent = await action();
        status.classList.add('text-success');
      } catch (e) {
        if (needsReauth(e)) {
          pending = action;
          status.textContent = 'Please confirm your password to continue.';
          reauthForm.classList.remove('d-none');
          pw.input.focus();
          return;
        }
        status.textContent = shareRefusal(e) ?? errorText(e);
        status.classList.add('text-danger');
      }
    }

    const form = h('form', { novalidate: true, id: 'share-form' },
      h('label', { for: 'share-to', class: 'form-label' }, 'Share with'),
      h('div', { class: 'input-group' }, select, shareButton), recipientInfo);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      if (!select.value) {
        status.className = 'small mt-2 text-danger';
        status.textContent = 'Choose a recipient first.';
        select.focus();
        return;
      }
      const to = select.value;
      run(() => share(to));
    });
    reauthForm.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!pw.input.value) {
        pw.input.focus();
        return;
      }
      reauthButton.disabled = true;
      try {
        await reauth(session.connection, {
          username: me.username,
          password: pw.input.value,
          memory: kdfMemory,
          onProgress: (p) => {
            const t = progressText(p);
            if (t) status.textContent = t;
          },
        });
        pw.input.value = '';
        reauthForm.classList.add('d-none');
        const action = pending;
        pending = null;
        if (action) await run(action);
        select.focus();
      } catch (err) {
        pw.input.value = '';
        status.className = 'small mt-2 text-danger';
        status.textContent = errorText(err);
        pw.input.focus();
      } finally {
        reauthButton.disabled = false;
      }
    });
    reauthCancel.addEventListener('click', () => {
      pw.input.value = '';
      pending = null;
      reauthForm.classList.add('d-none');
      status.textContent = 'Cancelled.';
      select.focus();
    });

    replaceChildren(sharing, h('div', { class: 'card-body' },
      h('h2', { class: 'h6 card-title', id: 'sharing-title' }, 'Sharing'),
      h('p', { class: 'small text-body-secondary' }, isSender ? 'Who holds a key to this image:' : 'Shares you made here:'),
      list,
      mayShare && form,
      reauthForm, status));
    drawList();
    if (mayShare) fillCandidates();
  }

  load().catch((e) => fail(errorText(e)));

  return () => {
    state.left = true;
    state.controller.abort();
    state.reader?.cancel().catch(() => {});
    state.viewer?.destroy();
    state.viewer = null;
    state.bytes?.fill(0);
    state.bytes = null;
    state.restored?.fill(0);
    state.restored = null;
  };
}
