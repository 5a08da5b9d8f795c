/**
 * doctors.js: "My doctors" (/doctors), the patient's appointments (docs/API.md §16a, issue 12).
 * The patient appoints a doctor from the directory (POST /api/v1/appointments): from then on a
 * technician may send the patient's images to that doctor and doctors may share them with them.
 * Dismissing one (DELETE /api/v1/appointments/{doctor}, re-authenticated) deletes every wrap that
 * doctor holds of an image about the patient and withdraws the patient's approved consents to
 * them; the page says honestly what it cannot undo: what the doctor already downloaded stays with
 * them. A doctor sees the same route as "My patients" (read only).
 */
import { h, replaceChildren } from '../app/dom.js';
import { confirmDialog } from '../app/dialog.js';
import { errorText, formatTime, groupFingerprint, loadDirectory } from '../app/images.js';
import { withReauth } from '../app/reauth.js';
import { session } from '../app/session.js';
import { announce, pageStart } from '../app/shell.js';

export async function render(main, { navigate }) {
  if (!session.user) {
    navigate('/login', { replace: true });
    return undefined;
  }
  const me = session.user;
  const asPatient = me.role === 'patient';
  pageStart(main, asPatient ? 'My doctors' : 'My patients');
  if (!asPatient && me.role !== 'doctor') {
    main.append(h('div', { class: 'alert alert-warning', role: 'note' }, 'Only patients appoint doctors.'));
    return undefined;
  }
  let left = false;
  const status = h('div', { id: 'doctors-status', class: 'small mb-3', role: 'status', 'aria-live': 'polite' });
  const list = h('div', { id: 'doctors-list' }, h('p', { class: 'text-body-secondary' }, 'Loading…'));
  const select = h('select', { id: 'appoint-doctor', class: 'form-select', required: true, 'aria-describedby': 'appoint-hint' });
  const appointButton = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Appoint');
  const form = h('form', { id: 'appoint-form', class: 'card card-body mb-4', novalidate: true, 'aria-labelledby': 'appoint-title' },
    h('h2', { id: 'appoint-title', class: 'h5' }, 'Appoint a doctor'),
    h('label', { for: 'appoint-doctor', class: 'form-label' }, 'Doctor'),
    h('div', { class: 'input-group' }, select, appointButton),
    h('p', { id: 'appoint-hint', class: 'form-text mb-0' },
      'A doctor you appoint can receive your images from technicians and from your other doctors, and you can talk to them. ',
      'Compare their key fingerprint with them when in doubt.'));

  main.append(...[
    h('p', { class: 'text-body-secondary' }, asPatient
      ? 'The doctors who treat you. Who receives an image about you is decided by you here; the server enforces it, and each image is still encrypted for each person’s own key.'
      : 'The patients who appointed you: you may receive and share their images.'),
    asPatient && form,
    status,
    list,
    asPatient && h('div', { class: 'alert alert-secondary small mt-4', role: 'note', id: 'dismiss-note' },
      h('strong', {}, 'About dismissing a doctor: '),
      'their access to every image about you is removed on the server at once (their keys to those images are deleted, and your approved consents to them are withdrawn). ',
      'What they already downloaded or saved stays with them: no system can take back a copy.'),
  ].filter(Boolean));

  let doctors = [];
  const say = (text, kind = '') => {
    status.className = `small mb-3 ${kind}`;
    status.textContent = text;
    announce(text);
  };

  async function load() {
    let body;
    let users = [];
    try {
      ({ body } = await session.connection.request('GET', '/api/v1/appointments', { what: 'listing your appointments' }));
      users = await loadDirectory({ fresh: true });
    } catch (e) {
      replaceChildren(list, h('div', { class: 'alert alert-danger', role: 'alert' }, `Could not load your appointments: ${errorText(e)}`));
      return;
    }
    if (left) return;
    const appointments = Array.isArray(body?.appointments) ? body.appointments : [];
    const byName = new Map(users.map((u) => [u.username, u]));
    doctors = users.filter((u) => u.role === 'doctor');
    const appointed = new Set(appointments.map((a) => a.username));
    replaceChildren(select, h('option', { value: '' }, 'Choose a doctor…'),
      doctors.filter((u) => !appointed.has(u.username)).map((u) => h('option', { value: u.username },
        `${u.display_name || u.username} (${u.username}) · ${String(u.enc_fingerprint).slice(0, 8)}…`)));
    if (appointments.length === 0) {
      replaceChildren(list, h('div', { class: 'card card-body text-center py-4 mc-empty' },
        h('p', { class: 'mb-0' }, asPatient ? 'You have not appointed a doctor yet.' : 'No patient has appointed you yet.')));
      return;
    }
    replaceChildren(list, h('ul', { class: 'list-group' }, appointments.map((a) => {
      const u = byName.get(a.username);
      return h('li', { class: 'list-group-item d-flex flex-wrap gap-3 align-items-center', dataset: { user: a.username } },
        h('div', { class: 'flex-grow-1' },
          h('div', { class: 'fw-semibold' }, a.display_name || a.username, ' ', h('span', { class: 'small text-body-secondary fw-normal' }, a.username),
            a.disabled ? h('span', { class: 'badge text-bg-secondary ms-2' }, 'account disabled') : ''),
          h('div', { class: 'small text-body-secondary' }, `Since ${formatTime(a.since)}`),
          u && h('div', { class: 'small text-body-secondary mc-fingerprint' }, 'Key ', groupFingerprint(u.enc_fingerprint))),
        asPatient && h('button', { type: 'button', class: 'btn btn-danger btn-sm', 'aria-label': `Dismiss ${a.display_name || a.username}`, on: { click: () => dismiss(a) } }, 'Dismiss'));
    })));
  }

  async function dismiss(a) {
    const name = a.display_name || a.username;
    const yes = await confirmDialog({
      title: `Dismiss ${name}?`,
      body: [h('p', {}, `${name} will no longer be able to open any image about you from the server: their keys to those images are deleted now, and your approved consents to them are withdrawn.`),
        h('p', { class: 'mb-0' }, h('strong', {}, 'What they already downloaded stays with them. '), 'You can appoint them again later; images sent meanwhile are not given back to them.')],
      confirm: 'Dismiss',
      danger: true,
    });
    if (!yes) return;
    say('Dismissing…');
    try {
      const res = await withReauth(() => session.connection.request('DELETE', `/api/v1/appointments/${encodeURIComponent(a.username)}`, {
        expect: [200, 204],
        what: `dismissing ${a.username}`,
      }), 'Dismissing a doctor removes their access: confirm your password (valid 5 minutes).');
      const n = res?.body?.wraps_deleted;
      say(`Dismissed ${name}.${Number.isInteger(n) ? ` Their access to ${n} image${n === 1 ? '' : 's'} about you was removed.` : ''} What they already downloaded stays with them.`, 'text-success-emphasis');
      await load();
    } catch (e) {
      say(e?.cancelled ? e.message : `Could not dismiss ${name}: ${errorText(e)}`, e?.cancelled ? '' : 'text-danger-emphasis');
    }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const doctor = select.value;
    if (!doctor) {
      say('Choose a doctor first.', 'text-danger-emphasis');
      select.focus();
      return;
    }
    appointButton.disabled = true;
    try {
      await session.connection.request('POST', '/api/v1/appointments', { json: { doctor }, expect: [200, 201], what: `appointing ${doctor}` });
      const u = doctors.find((d) => d.username === doctor);
      say(`Appointed ${u?.display_name || doctor} as your doctor.`, 'text-success-emphasis');
      await load();
      select.focus();
    } catch (e) {
      say(`Could not appoint ${doctor}: ${errorText(e)}`, 'text-danger-emphasis');
    } finally {
      appointButton.disabled = false;
    }
  });

  await load();
  return () => {
    left = true;
  };
}
