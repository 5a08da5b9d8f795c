/**
 * consents.js: consent requests (/consents, docs/API.md §16c, issue 12), through src/app/consent.js.
 *
 * A doctor asks a patient for access ("Request access": all their images, one study, or a date
 * range, with a reason, for some days): the request is sealed in this browser for the patient's
 * and the doctor's keys and signed; the server keeps it without reading it. The doctor's list shows
 * each request's state and how many images it gave, and withdraws a pending one.
 *
 * The patient's list opens each request here (the signature checked against the doctor's key in
 * the directory) to show its scope and reason. Approve: the page lists the patient's own images
 * about themself, decrypts their metadata to select those in scope, unwraps each file key with the
 * patient's private key and wraps it for the doctor's key, with progress, then sends only those
 * wraps (re-authenticated): consent is given by the patient's keys, not by a server flag. Deny;
 * withdraw an approval (the server deletes the wraps it gave). Images that arrive later are not
 * covered: the doctor asks again.
 */
import { h, replaceChildren } from '../app/dom.js';
import { confirmDialog } from '../app/dialog.js';
import {
  decideConsent, imagesAbout, listConsents, openConsent, scopeText, sendConsentRequest, wrapsForDoctor,
} from '../app/consent.js';
import { subscribe } from '../app/events.js';
import { errorText, formatTime, loadDirectory, userLabel } from '../app/images.js';
import { withReauth } from '../app/reauth.js';
import { session } from '../app/session.js';
import { announce, pageStart } from '../app/shell.js';

const STATUS = {
  pending: ['text-bg-warning', 'Pending'],
  approved: ['text-bg-success', 'Approved'],
  denied: ['text-bg-secondary', 'Denied'],
  expired: ['text-bg-secondary', 'Expired'],
  withdrawn: ['text-bg-secondary', 'Withdrawn'],
};
const EXPIRY = [['86400', '1 day'], ['604800', '7 days'], ['2592000', '30 days'], ['7776000', '90 days']];

function formatDuration(s) {
  if (!Number.isFinite(s)) return '…';
  if (s < 1) return 'under a second';
  if (s < 90) return `${Math.round(s)} s`;
  return `${Math.round(s / 60)} min`;
}

export async function render(main, { navigate }) {
  if (!session.user) {
    navigate('/login', { replace: true });
    return undefined;
  }
  const me = session.user;
  const asPatient = me.role === 'patient';
  pageStart(main, asPatient ? 'Consent requests' : 'Access requests');
  if (!asPatient && me.role !== 'doctor') {
    main.append(h('div', { class: 'alert alert-warning', role: 'note' }, 'Consent requests are between doctors and patients.'));
    return undefined;
  }
  if (!session.identity) {
    main.append(h('div', { class: 'alert alert-info', role: 'note' },
      'Your keys are locked after a reload: requests are sealed and opened in this browser with them. ',
      h('a', { href: '/login', dataset: { link: '' } }, 'Sign in again'), ' to continue.'));
    return undefined;
  }
  let left = false;
  let users = [];
  const status = h('div', { id: 'consent-status', class: 'small mb-3', role: 'status', 'aria-live': 'polite' });
  const list = h('div', { id: 'consent-list' }, h('p', { class: 'text-body-secondary' }, 'Loading…'));
  const say = (text, kind = '') => {
    status.className = `small mb-3 ${kind}`;
    status.textContent = text;
    announce(text);
  };

  main.append(h('p', { class: 'text-body-secondary' }, asPatient
    ? 'Doctors you have not appointed may ask for your images. Each request is opened in this browser; approving it makes this browser give that doctor keys to the images it covers, one by one. Images that arrive later are not covered: the doctor asks again.'
    : 'Ask a patient for access to their images. The request (what it covers and why) is encrypted for the patient and you; the server keeps it without reading it. If the patient approves, their own browser or tool gives you keys to the images it covers.'));
  const requestForm = asPatient ? null : requestAccessForm();
  if (requestForm) main.append(requestForm.form);
  main.append(status, h('h2', { class: 'h5 mt-4' }, asPatient ? 'Requests to you' : 'Your requests'), list);

  /* ---- the doctor's "Request access" ---- */
  function requestAccessForm() {
    const patient = h('select', { id: 'consent-patient', class: 'form-select', required: true });
    const radio = (value, label, checked = false) => h('div', { class: 'form-check' },
      h('input', { class: 'form-check-input', type: 'radio', name: 'consent-scope', id: `consent-scope-${value}`, value, checked }),
      h('label', { class: 'form-check-label', for: `consent-scope-${value}` }, label));
    const study = h('input', { id: 'consent-study', class: 'form-control form-control-sm', placeholder: '1.2.840…', autocomplete: 'off', 'aria-label': 'Study instance UID' });
    const from = h('input', { id: 'consent-from', type: 'date', class: 'form-control form-control-sm', 'aria-label': 'From (study date)' });
    const to = h('input', { id: 'consent-to', type: 'date', class: 'form-control form-control-sm', 'aria-label': 'To (study date, included)' });
    const reason = h('textarea', { id: 'consent-reason', class: 'form-control', rows: 3, maxlength: 4096, required: true, 'aria-describedby': 'consent-reason-hint' });
    const expires = h('select', { id: 'consent-expires', class: 'form-select' },
      EXPIRY.map(([v, label]) => h('option', { value: v, selected: v === '604800' }, label)));
    const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'consent-send' }, 'Send the request');
    const form = h('form', { id: 'consent-form', class: 'card card-body mb-3', novalidate: true, 'aria-labelledby': 'consent-form-title' },
      h('h2', { id: 'consent-form-title', class: 'h5' }, 'Request access'),
      h('div', { class: 'row g-3' },
        h('div', { class: 'col-md-6' },
          h('label', { for: 'consent-patient', class: 'form-label' }, 'Patient'), patient,
          h('fieldset', { class: 'mt-3' }, h('legend', { class: 'form-label fs-6' }, 'What it covers'),
            radio('all', 'All their images', true),
            radio('study', 'One study'), h('div', { class: 'ms-4 mb-2' }, study),
            radio('range', 'Studies in a date range'),
            h('div', { class: 'ms-4 d-flex gap-2 align-items-center' }, from, h('span', { 'aria-hidden': 'true' }, '–'), to))),
        h('div', { class: 'col-md-6' },
          h('label', { for: 'consent-reason', class: 'form-label' }, 'Reason'), reason,
          h('div', { id: 'consent-reason-hint', class: 'form-text' }, 'The patient reads this before deciding. Encrypted for them and you only.'),
          h('label', { for: 'consent-expires', class: 'form-label mt-3' }, 'The request expires after'), expires)),
      h('div', { class: 'mt-3' }, submit));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const p = users.find((u) => u.username === patient.value && u.role === 'patient');
      if (!p) {
        say('Choose the patient first.', 'text-danger-emphasis');
        patient.focus();
        return;
      }
      const scope = form.querySelector('input[name="consent-scope"]:checked')?.value ?? 'all';
      submit.disabled = true;
      say('Sealing and sending the request…');
      try {
        await sendConsentRequest(p, { scope, study: study.value, from: from.value, to: to.value, reason: reason.value }, Number(expires.value));
        reason.value = '';
        say(`Request sent to ${userLabel(p.username, users)}. You will see here when they decide.`, 'text-success-emphasis');
        await load();
      } catch (e) {
        say(`The request was not sent: ${errorText(e)}`, 'text-danger-emphasis');
      } finally {
        submit.disabled = false;
      }
    });
    return { form, patient };
  }

  /* ---- the list ---- */
  function item(c, opened) {
    const [badgeClass, badgeText] = STATUS[c.status] ?? ['text-bg-secondary', c.status];
    const other = asPatient ? c.doctor : c.patient;
    const actions = [];
    if (asPatient && c.status === 'pending') {
      actions.push(h('button', { type: 'button', class: 'btn btn-success btn-sm', disabled: !opened?.request, on: { click: () => approve(c, opened.request) } }, 'Approve…'),
        h('button', { type: 'button', class: 'btn btn-outline-light btn-sm', on: { click: () => decide(c, 'deny') } }, 'Deny'));
    }
    if ((asPatient && c.status === 'approved') || (!asPatient && c.status === 'pending')) {
      actions.push(h('button', { type: 'button', class: 'btn btn-danger btn-sm', on: { click: () => decide(c, 'withdraw') } }, 'Withdraw'));
    }
    const progress = h('div', { class: 'mc-consent-progress' });
    const li = h('li', { class: 'list-group-item', dataset: { id: c.id, status: c.status } },
      h('div', { class: 'd-flex flex-wrap gap-2 align-items-center' },
        h('span', { class: 'fw-semibold' }, asPatient ? 'From ' : 'To ', userLabel(other, users)),
        h('span', { class: `badge ${badgeClass} mc-consent-status` }, badgeText),
        c.status === 'approved' && h('span', { class: 'small text-body-secondary mc-consent-images' }, `${c.images} image${c.images === 1 ? '' : 's'} shared under it`),
        h('span', { class: 'small text-body-secondary ms-auto' }, `Asked ${formatTime(c.created)} · ${c.status === 'pending' ? 'expires' : 'expiry'} ${formatTime(c.expires)}`)),
      opened?.request
        ? h('div', { class: 'mt-2 mc-consent-request' },
          h('div', {}, h('span', { class: 'text-body-secondary' }, 'Covers: '), h('span', { class: 'mc-consent-scope' }, scopeText(opened.request))),
          h('div', { class: 'text-break' }, h('span', { class: 'text-body-secondary' }, 'Reason: '), h('span', { class: 'mc-consent-reason' }, opened.request.reason)))
        : h('div', { class: 'mt-2 small text-danger-emphasis mc-consent-error', role: 'note' },
          `The request does not open: ${opened?.error ?? 'not checked yet'}. Do not approve it.`),
      actions.length > 0 && h('div', { class: 'd-flex gap-2 mt-2' }, actions),
      progress);
    return li;
  }

  async function load() {
    let consents;
    try {
      [consents, users] = await Promise.all([listConsents(), loadDirectory({ fresh: true })]);
    } catch (e) {
      replaceChildren(list, h('div', { class: 'alert alert-danger', role: 'alert' }, `Could not list the requests: ${errorText(e)}`));
      return;
    }
    if (left) return;
    if (requestForm) {
      const current = requestForm.patient.value;
      replaceChildren(requestForm.patient, h('option', { value: '' }, 'Choose the patient…'),
        users.filter((u) => u.role === 'patient').map((u) => h('option', { value: u.username }, userLabel(u.username, users))));
      requestForm.patient.value = current;
    }
    if (consents.length === 0) {
      replaceChildren(list, h('div', { class: 'card card-body text-center py-4 mc-empty' },
        h('p', { class: 'mb-0' }, asPatient ? 'No doctor has asked you for access.' : 'You have not asked a patient for access yet.')));
      return;
    }
    const rows = [];
    for (const c of consents) {
      let opened;
      try {
        opened = { request: await openConsent(c, users) };
      } catch (e) {
        opened = { error: errorText(e) };
      }
      rows.push(item(c, opened));
    }
    if (left) return;
    replaceChildren(list, h('ul', { class: 'list-group' }, rows));
  }

  async function decide(c, action) {
    const name = userLabel(asPatient ? c.doctor : c.patient, users);
    if (action === 'withdraw' && asPatient) {
      const yes = await confirmDialog({
        title: `Withdraw your consent to ${name}?`,
        body: [h('p', {}, `${name} loses access on the server to the ${c.images} image${c.images === 1 ? '' : 's'} you gave under this consent.`),
          h('p', { class: 'mb-0' }, h('strong', {}, 'What they already downloaded stays with them.'))],
        confirm: 'Withdraw',
        danger: true,
      });
      if (!yes) return;
    }
    try {
      const done = await decideConsent(c.id, action);
      say({
        deny: `Denied ${name}'s request. Nothing was shared.`,
        withdraw: asPatient ? `Withdrew your consent to ${name}: their access to those images was removed. What they downloaded stays with them.` : 'Request withdrawn.',
      }[action] ?? `Done (${done?.status}).`, 'text-success-emphasis');
    } catch (e) {
      say(`Could not ${action} the request: ${errorText(e)}`, 'text-danger-emphasis');
    }
    await load();
  }

  async function approve(c, req) {
    const doctor = users.find((u) => u.username === c.doctor);
    if (!doctor) {
      say(`${c.doctor} is not in the directory: the request cannot be approved.`, 'text-danger-emphasis');
      return;
    }
    const name = userLabel(c.doctor, users);
    const yes = await confirmDialog({
      title: `Give ${name} access?`,
      body: [h('p', {}, `${name} asks for ${scopeText(req)}.`),
        h('p', { class: 'text-break' }, h('strong', {}, 'Reason: '), req.reason),
        h('p', { class: 'mb-0' }, 'This browser will decrypt the details of your images to find those covered, and give the doctor a key to each of them. Images that arrive later are not covered. You can withdraw the consent later, but what they download meanwhile stays with them.')],
      confirm: 'Approve',
    });
    if (!yes) return;
    const li = list.querySelector(`li[data-id="${c.id}"]`);
    const box = li?.querySelector('.mc-consent-progress');
    for (const b of li?.querySelectorAll('button') ?? []) b.disabled = true;
    const bar = h('div', { class: 'progress-bar' });
    const meter = h('div', { class: 'progress mt-2', role: 'progressbar', 'aria-label': 'Preparing the approval', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0' }, bar);
    const text = h('p', { class: 'small text-body-secondary mb-0 mt-1 mc-approve-progress', 'aria-live': 'polite' }, 'Listing your images…');
    if (box) replaceChildren(box, meter, text);
    try {
      const images = await imagesAbout(me.username);
      const t0 = performance.now();
      const { wraps, skipped } = await wrapsForDoctor(images, req, doctor, {
        onProgress: ({ done, total, matched }) => {
          const pct = Math.floor((done / total) * 100);
          bar.style.width = `${pct}%`;
          meter.setAttribute('aria-valuenow', String(pct));
          const rate = done / Math.max(0.001, (performance.now() - t0) / 1000);
          text.textContent = `Checked ${done} of ${total} images · ${matched} covered · ${formatDuration((total - done) / rate)} left`;
        },
      });
      text.textContent = `Sending ${wraps.length} key${wraps.length === 1 ? '' : 's'} for ${name}…`;
      const done = await withReauth(() => decideConsent(c.id, 'approve', { wraps }),
        'Approving gives a doctor keys to your images: confirm your password (valid 5 minutes).');
      const added = Number.isInteger(done?.added) ? done.added : wraps.length;
      say(`Approved: ${name} can now open ${added} more image${added === 1 ? '' : 's'} about you` +
        `${wraps.length > added ? ` (they already held ${wraps.length - added})` : ''}.` +
        `${skipped.length ? ` ${skipped.length} image${skipped.length === 1 ? '' : 's'} could not be checked and ${skipped.length === 1 ? 'was' : 'were'} not included.` : ''}`, 'text-success-emphasis');
    } catch (e) {
      say(e?.cancelled ? e.message : `The approval was not sent: ${errorText(e)}`, e?.cancelled ? '' : 'text-danger-emphasis');
    }
    await load();
  }

  const unsubscribe = subscribe((type) => {
    if (!left && type === 'consent') load();
  });
  await load();
  return () => {
    left = true;
    unsubscribe();
  };
}
