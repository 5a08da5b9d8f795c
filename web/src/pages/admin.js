/**
 * admin.js: the administration pages (admin role only; docs/API.md §13 invitations, §16 users,
 * §17 audit log). Three tabs, each a URL of its own:
 *
 *   /admin/users        every account, disabled ones included (GET /api/v1/users gives the
 *                       admin each account's `disabled`), its role (changed through a confirm
 *                       dialog), a Disabled badge and Disable / Enable (PATCH /api/v1/users/{u});
 *                       the admin's own row is read-only, as the server refuses it (409), except
 *                       its e-mail address. The address for notice mails (§16, §18), which only
 *                       the admin sees and only in GET /api/v1/users/{u} (never in the listing),
 *                       is read per user and set, changed or removed in a dialog
 *                       (PATCH {"email": A | null}); the page checks it by the server's rules
 *                       first, to say what is wrong with a bad one (the server's 400 does not)
 *   /admin/invitations  a new invitation for a role: the code shown once, as a link to the
 *                       register page with the code in the fragment (never sent to a server), a
 *                       QR code of that link (npm `qrcode`, a data: URL image) and a copy button;
 *                       under it the pending invitations (GET /api/v1/invitations: role, made,
 *                       valid until, by whom; never a code, which the server does not keep), each
 *                       with Cancel behind a confirm dialog (DELETE /api/v1/invitations/{id})
 *   /admin/audit        the hash-chained audit log, newest first, in pages (after/limit), under
 *                       the verification result of /api/v1/audit/verify
 *
 * Everyone else sees a plain "not allowed" page (the server refuses them the routes anyway).
 */
import { confirmDialog } from '../app/dialog.js';
import { h, replaceChildren } from '../app/dom.js';
import { session } from '../app/session.js';
import { announce, pageStart } from '../app/shell.js';
import { groupedFingerprint } from './account.js';

export const ROLES = ['technician', 'doctor', 'patient', 'researcher', 'admin'];
const TABS = [
  { path: '/admin/users', label: 'Users' },
  { path: '/admin/invitations', label: 'Invitations' },
  { path: '/admin/audit', label: 'Audit log' },
];
const ACTION_CLASS = {
  login_failed: 'text-bg-warning', lockout: 'text-bg-danger', disable: 'text-bg-warning', role_change: 'text-bg-info',
  register: 'text-bg-success', invite: 'text-bg-primary', invite_cancel: 'text-bg-warning', key_change: 'text-bg-info',
  delete: 'text-bg-secondary', unlock: 'text-bg-info', appoint: 'text-bg-success', dismiss: 'text-bg-secondary',
  email_change: 'text-bg-info',
};

const when = (t) => (t > 0 ? new Date(t * 1000).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'medium' }) : '—');
const conn = () => session.connection;
const api = (method, path, options) => conn().request(method, path, options);

/** The "not allowed" page for a signed-in user who is not an admin. */
function notAllowed(main, user) {
  pageStart(main, 'Not allowed');
  main.append(h('div', { class: 'alert alert-warning', role: 'alert', 'data-testid': 'not-allowed' },
    h('p', { class: 'fw-semibold mb-1' }, 'This page is for administrators only.'),
    h('p', { class: 'mb-0' }, `You are signed in as ${user.username}, whose role is ${user.role}. `,
      'If you need to manage users or read the audit log, ask an administrator.')),
  h('a', { class: 'btn btn-primary', href: '/', dataset: { link: '' } }, 'Back to my start page'));
}

export async function render(main, { navigate, path }) {
  const user = session.user;
  if (!user) {
    navigate('/login', { replace: true });
    return;
  }
  if (user.role !== 'admin') {
    notAllowed(main, user);
    return;
  }
  const tab = TABS.find((t) => t.path === path) ?? TABS[0];
  if (path === '/admin') history.replaceState(null, '', tab.path);
  pageStart(main, 'Administration');
  document.title = `${tab.label} · Administration · medcrypt`;
  const panel = h('section', { id: 'admin-panel', 'aria-labelledby': 'admin-tab-title' });
  main.append(
    h('nav', { 'aria-label': 'Administration sections' },
      h('ul', { class: 'nav nav-tabs mb-4' },
        TABS.map((t) => h('li', { class: 'nav-item' },
          h('a', { class: `nav-link${t === tab ? ' active' : ''}`, href: t.path, dataset: { link: '' }, 'aria-current': t === tab ? 'page' : null }, t.label))))),
    panel);
  if (tab.path === '/admin/users') await usersPanel(panel, user);
  else if (tab.path === '/admin/invitations') await invitationsPanel(panel);
  else await auditPanel(panel);
}

/** A polite live region for the result of an action, and a danger alert for failures. */
function feedback() {
  const ok = h('div', { class: 'small text-success-emphasis mb-2', role: 'status', 'aria-live': 'polite', 'data-testid': 'admin-status' });
  const error = h('div', { class: 'alert alert-danger d-none', role: 'alert' });
  return {
    elements: [error, ok],
    done(text) {
      error.classList.add('d-none');
      ok.textContent = text;
    },
    failed(text) {
      ok.textContent = '';
      error.textContent = text;
      error.classList.remove('d-none');
    },
  };
}

const reason = (e) => {
  if (e?.kind === 'unauthenticated') return 'your session ended: sign in again';
  if (e?.kind === 'conflict') return 'the server refused it (an admin cannot change their own account)';
  if (e?.kind === 'not found') return 'it is gone already (used, cancelled or deleted meanwhile)';
  return e?.message ?? 'no answer from the server';
};

// ---- audit log -------------------------------------------------------------------------------

/** Audit records `after` seq (ascending), at most `limit`: GET /api/v1/audit (NDJSON). */
async function auditRecords(after, limit) {
  const { body } = await api('GET', `/api/v1/audit?after=${after}&limit=${limit}`, { as: 'bytes', headers: { Accept: 'application/x-ndjson' }, what: 'audit log' });
  return new TextDecoder().decode(body).split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}

// ---- users -------------------------------------------------------------------------------------

const LOCAL_SPECIALS = ".!#$%&'*+/=?^_`{|}~-";
const isAlnum = (c) => /^[A-Za-z0-9]$/.test(c);
// a character as quoted text, with its code point when it is not plain ASCII (or is invisible)
const shown = (c) => {
  if (/^[\x21-\x7e]$/.test(c)) return `"${c}"`;
  const point = `U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
  return /[\p{C}\p{Z}]/u.test(c) ? `the invisible character ${point}` : `"${c}" (${point})`;
};

/**
 * What is wrong with `address` as a notice-mail address, by the server's rules (docs/API.md §16,
 * medcryptd's mailaddr.c): a plain LOCAL@DOMAIN of at most 254 bytes, LOCAL of at most 64
 * letters, digits and .!#$%&'*+/=?^_`{|}~- without a leading, trailing or double dot, DOMAIN of
 * dot-separated labels of 1 to 63 letters, digits and inner hyphens. Returns a phrase that
 * follows "The address " ("has no @ …"), or null when the server accepts it.
 */
export function emailProblem(address) {
  const a = String(address);
  if (!a) return 'is empty: type one like name@clinic.example';
  if (/[<>"]/.test(a)) return 'has a name, quotes or angle brackets: type only the address itself, like name@clinic.example';
  if (/\s/.test(a)) return 'has a space or a line break in it';
  if (/[,;]/.test(a)) return 'holds more than one address (a comma or semicolon): give exactly one';
  const at = a.indexOf('@');
  if (at < 0) return 'has no @: an address is name@domain, like name@clinic.example';
  if (a.indexOf('@', at + 1) >= 0) return 'has more than one @';
  const local = a.slice(0, at);
  const domain = a.slice(at + 1);
  if (!local) return 'has nothing before the @';
  if (!domain) return 'has nothing after the @';
  for (const c of local) {
    if (!isAlnum(c) && !LOCAL_SPECIALS.includes(c)) return `has ${shown(c)} before the @: only letters a–z, digits and ${LOCAL_SPECIALS} may stand there`;
  }
  if (local.startsWith('.') || local.endsWith('.')) return 'starts or ends the part before the @ with a dot';
  if (local.includes('..')) return 'has two dots in a row before the @';
  if (local.length > 64) return `has ${local.length} characters before the @: at most 64`;
  for (const c of domain) {
    if (!isAlnum(c) && c !== '-' && c !== '.') return `has ${shown(c)} in the domain after the @: only letters a–z, digits, hyphens and dots may stand there`;
  }
  const labels = domain.split('.');
  if (labels.some((l) => !l)) return 'has a dot at the start or end of the domain, or two dots in a row in it';
  const hyphen = labels.find((l) => l.startsWith('-') || l.endsWith('-'));
  if (hyphen) return `has a part of the domain that starts or ends with a hyphen ("${hyphen}")`;
  if (labels.some((l) => l.length > 63)) return 'has a part of the domain longer than 63 characters';
  if (a.length > 254) return `is ${a.length} characters long: at most 254`;
  return null;
}

/** Runs fn on each item, at most `limit` at a time. */
async function eachLimited(items, limit, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

let emailSerial = 0;

/**
 * The dialog that sets, changes or removes the notice-mail address of user `u`: a labelled field
 * checked by emailProblem() before anything is sent, the server's refusal shown in the dialog,
 * which stays open until a change is saved or the admin cancels. `save(change)` sends the PATCH
 * and throws on failure. Resolves to the words of what changed, or null when nothing did.
 */
function emailDialog(u, save) {
  const id = `mc-email-${++emailSerial}`;
  return new Promise((resolve) => {
    const input = h('input', { id: `${id}-address`, name: 'email', type: 'email', class: 'form-control', value: u.email ?? '',
      autocomplete: 'off', spellcheck: 'false', autocapitalize: 'none', inputmode: 'email', 'aria-describedby': `${id}-hint ${id}-error` });
    const error = h('div', { id: `${id}-error`, class: 'invalid-feedback d-block', role: 'alert', 'data-testid': 'email-error' });
    const cancel = h('button', { type: 'button', class: 'btn btn-secondary' }, 'Cancel');
    const remove = u.email ? h('button', { type: 'button', class: 'btn btn-danger me-auto' }, 'Remove address') : null;
    const ok = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Save address');
    const who = u.display_name && u.display_name !== u.username ? `${u.display_name} (${u.username})` : u.username;
    const form = h('form', { class: 'modal-content bg-body-tertiary border rounded-3', novalidate: true },
      h('div', { class: 'modal-header px-4 pt-3 pb-2' }, h('h2', { id: `${id}-title`, class: 'modal-title h5' }, `Notice e-mail of ${u.username}`)),
      h('div', { class: 'modal-body px-4 py-2' },
        h('p', { id: `${id}-about`, class: 'small' },
          `When something new arrives for ${who}, the server can send this address one short mail: “You have a new item in medcrypt”, with the link to sign in. `,
          'Never the item, its sender or its patient, and at most one mail in a while. Only administrators see the address.'),
        h('label', { for: `${id}-address`, class: 'form-label' }, 'E-mail address'),
        input,
        h('div', { id: `${id}-hint`, class: 'form-text' }, 'One plain address, like name@clinic.example. The server sends mails only when its operator set up a mail relay.'),
        error),
      h('div', { class: 'modal-footer px-4 pb-3 pt-2 gap-2' }, remove, cancel, ok));
    const dialog = h('dialog', { class: 'mc-dialog p-0 border-0 rounded-3', 'aria-labelledby': `${id}-title`, 'aria-describedby': `${id}-about` }, form);
    const close = (result) => {
      dialog.close();
      dialog.remove();
      resolve(result);
    };
    const fail = (text) => {
      error.textContent = text;
      input.setAttribute('aria-invalid', 'true');
      input.classList.add('is-invalid');
      input.focus();
    };
    const clear = () => {
      error.textContent = '';
      input.removeAttribute('aria-invalid');
      input.classList.remove('is-invalid');
    };
    const send = async (change, words) => {
      for (const b of [ok, cancel, remove]) if (b) b.disabled = true;
      try {
        await save(change);
        close(words);
      } catch (e) {
        if (e?.kind === 'bad request' && change.email) fail('The server refused this address: it takes one plain name@domain address of letters, digits and the usual signs. Check it for a typing error.');
        else fail(`Nothing was changed: ${reason(e)}.`);
      } finally {
        for (const b of [ok, cancel, remove]) if (b) b.disabled = false;
      }
    };
    input.addEventListener('input', () => {
      if (input.getAttribute('aria-invalid')) clear();
    });
    cancel.addEventListener('click', () => close(null));
    remove?.addEventListener('click', () => send({ email: null }, `${u.username} gets no notice mails now: the address is removed.`));
    dialog.addEventListener('cancel', (event) => {
      event.preventDefault();
      close(null);
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const address = input.value.trim();
      input.value = address;
      const problem = emailProblem(address);
      if (problem) {
        fail(`This address cannot be used: it ${problem}.`);
        return;
      }
      if (address === u.email) {
        close(null);
        return;
      }
      send({ email: address }, `Notice mails for ${u.username} go to ${address}.`);
    });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}

async function usersPanel(panel, me) {
  const fb = feedback();
  const tbody = h('tbody');
  const count = h('p', { class: 'text-body-secondary small mb-2' });
  replaceChildren(panel,
    h('div', { class: 'd-flex flex-wrap align-items-baseline justify-content-between gap-2' },
      h('h2', { id: 'admin-tab-title', class: 'h4' }, 'Users'),
      h('a', { class: 'btn btn-sm btn-primary', href: '/admin/invitations', dataset: { link: '' } }, 'Invite a user')),
    h('p', { class: 'text-body-secondary' }, 'A role decides what an account may do. Disabling an account ends its sessions at once; enabling it again lets the user sign in with their password. ',
      'A notice e-mail address, seen by administrators only, gets a short mail when something new arrives for that user.'),
    ...fb.elements, count,
    h('div', { class: 'table-responsive' },
      h('table', { class: 'table table-hover align-middle mc-table', 'aria-describedby': 'admin-tab-title' },
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, 'User'), h('th', { scope: 'col' }, 'Role'), h('th', { scope: 'col' }, 'Status'),
          h('th', { scope: 'col' }, 'Notice e-mail'), h('th', { scope: 'col' }, 'Created'), h('th', { scope: 'col', class: 'd-none d-lg-table-cell' }, 'Encryption key'),
          h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
        tbody)));

  let users;
  try {
    // the admin's list holds every account, each with `disabled` (docs/API.md §16)
    users = ((await api('GET', '/api/v1/users', { what: 'user list' })).body.users ?? [])
      .map((u) => ({ ...u, disabled: u.disabled === true }))
      .sort((a, b) => a.username.localeCompare(b.username));
  } catch (e) {
    fb.failed(`The user list could not be loaded: ${reason(e)}.`);
    return;
  }

  const draw = () => {
    const off = users.filter((u) => u.disabled).length;
    count.textContent = `${users.length} account${users.length === 1 ? '' : 's'}${off ? `, ${off} disabled` : ''}.`;
    replaceChildren(tbody, users.map((u) => userRow(u)));
  };

  // The addresses: only in the answer about one user (never in the listing), so one GET each.
  const emailCell = (u) => {
    let view;
    if (u.email === undefined) view = h('span', { class: 'text-body-secondary small' }, u.emailUnread ? 'could not be read' : 'loading…');
    else if (u.email === null) view = h('span', { class: 'text-body-secondary small' }, 'none');
    else view = h('span', { class: 'mc-email text-break' }, u.email);
    const edit = u.email === undefined ? null
      : h('button', { type: 'button', class: 'btn btn-sm btn-outline-light', 'data-email-user': u.username,
        'aria-label': `${u.email ? 'Change' : 'Set'} the notice e-mail of ${u.username}`, on: { click: async () => {
          const words = await emailDialog(u, async (change) => {
            const { body } = await api('PATCH', `/api/v1/users/${encodeURIComponent(u.username)}`, { json: change, what: 'e-mail change' });
            Object.assign(u, body, { disabled: Boolean(body.disabled), email: body.email ?? null });
            draw();
          });
          if (words) {
            fb.done(words);
            announce(words);
          }
          tbody.querySelector(`button[data-email-user="${CSS.escape(u.username)}"]`)?.focus();
        } } }, u.email ? 'Change' : 'Set');
    return h('td', { 'data-testid': 'email' }, h('div', { class: 'd-flex flex-wrap align-items-center column-gap-2 row-gap-1' }, view, edit));
  };
  const loadEmails = async () => {
    let failures = 0;
    await eachLimited(users, 6, async (u) => {
      try {
        const { body } = await api('GET', `/api/v1/users/${encodeURIComponent(u.username)}`, { what: 'user' });
        u.email = typeof body.email === 'string' ? body.email : null;
      } catch {
        u.emailUnread = true;
        failures += 1;
      }
      tbody.querySelector(`tr[data-user="${CSS.escape(u.username)}"] td[data-testid=email]`)?.replaceWith(emailCell(u));
    });
    if (failures) fb.failed(`The notice e-mail address of ${failures} account${failures === 1 ? '' : 's'} could not be read.`);
  };

  const patch = async (u, change, words) => {
    try {
      const { body } = await api('PATCH', `/api/v1/users/${encodeURIComponent(u.username)}`, { json: change, what: 'user change' });
      Object.assign(u, body, { disabled: Boolean(body.disabled) });
      draw();
      fb.done(words);
      announce(words);
      return true;
    } catch (e) {
      draw();
      fb.failed(`${u.username} was not changed: ${reason(e)}.`);
      return false;
    }
  };

  function userRow(u) {
    const self = u.username === me.username;
    const select = h('select', { class: 'form-select form-select-sm mc-role-select', 'aria-label': `Role of ${u.username}`, disabled: self || u.disabled, 'data-user': u.username },
      ROLES.map((r) => h('option', { value: r, selected: r === u.role }, r)));
    select.addEventListener('change', async () => {
      const to = select.value;
      const ok = await confirmDialog({
        title: `Change the role of ${u.username}?`,
        body: [h('p', {}, `${u.display_name || u.username} becomes a ${to} instead of a ${u.role}.`),
          h('p', { class: 'mb-0 small text-body-secondary' }, 'What they may do changes at their next request. Images already shared with them stay shared.')],
        confirm: `Make ${to}`,
      });
      if (!ok) {
        select.value = u.role;
        select.focus();
        return;
      }
      const from = u.role;
      await patch(u, { role: to }, `${u.username} is now a ${to} (was ${from}).`);
      tbody.querySelector(`select[data-user="${CSS.escape(u.username)}"]`)?.focus();
    });
    const toggle = self ? h('span', { class: 'small text-body-secondary' }, 'your account')
      : h('button', { type: 'button', class: `btn btn-sm ${u.disabled ? 'btn-success' : 'btn-danger'}`, 'data-user': u.username,
        'aria-label': `${u.disabled ? 'Enable' : 'Disable'} ${u.username}`, on: { click: async () => {
          const disabling = !u.disabled;
          const ok = await confirmDialog({
            title: `${disabling ? 'Disable' : 'Enable'} ${u.username}?`,
            body: disabling
              ? `${u.display_name || u.username} is signed out everywhere at once and cannot sign in until enabled again. Their images and keys are kept.`
              : `${u.display_name || u.username} can sign in again with their password.`,
            confirm: disabling ? 'Disable account' : 'Enable account',
            danger: disabling,
          });
          if (!ok) return;
          await patch(u, { disabled: disabling }, `${u.username} is ${disabling ? 'disabled' : 'enabled again'}.`);
          tbody.querySelector(`button[data-user="${CSS.escape(u.username)}"]`)?.focus();
        } } }, u.disabled ? 'Enable' : 'Disable');
    return h('tr', { class: u.disabled ? 'mc-disabled-row' : null, dataset: { user: u.username } },
      h('td', {}, h('div', { class: 'fw-semibold' }, u.username, self && h('span', { class: 'badge text-bg-secondary ms-2' }, 'you')),
        h('div', { class: 'small text-body-secondary' }, u.display_name && u.display_name !== u.username ? u.display_name : '')),
      h('td', {}, select),
      h('td', {}, u.disabled ? h('span', { class: 'badge text-bg-danger' }, 'Disabled') : h('span', { class: 'badge text-bg-success' }, 'Active')),
      emailCell(u),
      h('td', { class: 'small text-nowrap' }, when(u.created)),
      h('td', { class: 'd-none d-lg-table-cell' }, h('code', { class: 'small mc-fingerprint', title: groupedFingerprint(u.enc_fingerprint) }, `${groupedFingerprint(u.enc_fingerprint).slice(0, 19)} …`)),
      h('td', { class: 'text-end' }, toggle));
  }
  draw();
  await loadEmails();
}

// ---- invitations ------------------------------------------------------------------------------

const VALIDITY = [
  { seconds: 86400, label: '1 day' },
  { seconds: 7 * 86400, label: '7 days' },
  { seconds: 30 * 86400, label: '30 days' },
];

async function invitationsPanel(panel) {
  const fb = feedback();
  const role = h('select', { id: 'inv-role', class: 'form-select' }, ROLES.map((r) => h('option', { value: r, selected: r === 'doctor' }, r)));
  const validity = h('select', { id: 'inv-validity', class: 'form-select' }, VALIDITY.map((v) => h('option', { value: String(v.seconds), selected: v.seconds === 7 * 86400 }, v.label)));
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Create invitation');
  const result = h('div', { class: 'mt-4' });
  const pendingBody = h('tbody');
  const pendingCount = h('p', { class: 'text-body-secondary small mb-2', 'aria-live': 'polite', 'data-testid': 'pending-count' });
  const pending = h('section', { class: 'mt-4', 'aria-labelledby': 'pending-title' },
    h('h3', { id: 'pending-title', class: 'h5', tabindex: '-1' }, 'Pending invitations'),
    h('p', { class: 'text-body-secondary small' }, 'Invitations not used yet and not expired. Cancel one that went to the wrong person or is no longer needed: its link then creates no account.'),
    pendingCount,
    h('div', { class: 'table-responsive' },
      h('table', { id: 'pending-invitations', class: 'table table-sm table-hover align-middle mc-table', 'aria-describedby': 'pending-title' },
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, 'Role'), h('th', { scope: 'col' }, 'Made'), h('th', { scope: 'col' }, 'Valid until'),
          h('th', { scope: 'col' }, 'Made by'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
        pendingBody)));

  const invitationRow = (inv) => h('tr', { dataset: { invitation: inv.id } },
    h('td', {}, inv.role),
    h('td', { class: 'small text-nowrap' }, inv.created ? when(inv.created) : 'unknown'),
    h('td', { class: 'small text-nowrap' }, when(inv.expires)),
    h('td', {}, inv.created_by ?? h('span', { class: 'text-body-secondary' }, 'the server')),
    h('td', { class: 'text-end' },
      h('button', { type: 'button', class: 'btn btn-sm btn-danger', 'data-invitation': inv.id,
        'aria-label': `Cancel the ${inv.role} invitation made ${inv.created ? when(inv.created) : 'earlier'}`,
        on: { click: () => cancel(inv) } }, 'Cancel')));

  /** Reads the pending invitations again; false (with the error shown) when it could not. */
  const loadPending = async () => {
    try {
      const invitations = (await api('GET', '/api/v1/invitations', { what: 'pending invitations' })).body.invitations ?? [];
      pendingCount.textContent = invitations.length
        ? `${invitations.length} pending invitation${invitations.length === 1 ? '' : 's'}.`
        : 'No pending invitations.';
      replaceChildren(pendingBody, invitations.map(invitationRow));
      return true;
    } catch (e) {
      fb.failed(`The pending invitations could not be loaded: ${reason(e)}.`);
      return false;
    }
  };

  async function cancel(inv) {
    const ok = await confirmDialog({
      title: `Cancel this ${inv.role} invitation?`,
      body: [h('p', {}, `The invitation for a ${inv.role}, valid until ${when(inv.expires)}, stops working at once: its link and code create no account.`),
        h('p', { class: 'mb-0 small text-body-secondary' }, 'This cannot be undone; make a new invitation if it is needed again.')],
      confirm: 'Cancel invitation',
      dismiss: 'Keep it',
      danger: true,
    });
    if (!ok) return;
    try {
      await api('DELETE', `/api/v1/invitations/${encodeURIComponent(inv.id)}`, { expect: [204], what: 'invitation cancellation' });
      const words = `The ${inv.role} invitation is cancelled.`;
      fb.done(words);
      announce(words);
    } catch (e) {
      fb.failed(`The invitation was not cancelled: ${reason(e)}.`);
    }
    await loadPending();
    // the row and its button are gone: the focus goes to the table's heading, not to the page's top
    pending.querySelector('#pending-title')?.focus();
  }
  const form = h('form', { class: 'row g-3 align-items-end', 'aria-label': 'New invitation' },
    h('div', { class: 'col-sm-5 col-md-4' }, h('label', { for: 'inv-role', class: 'form-label' }, 'Role of the new account'), role),
    h('div', { class: 'col-sm-4 col-md-3' }, h('label', { for: 'inv-validity', class: 'form-label' }, 'Valid for'), validity),
    h('div', { class: 'col-sm-3 col-md-auto' }, submit));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      const { body } = await api('POST', '/api/v1/invitations', { json: { role: role.value, expires_in: Number(validity.value) }, expect: [201], what: 'invitation' });
      await showInvitation(result, body);
      fb.done(`Invitation for a ${body.role} created. Give the link to the person it is for.`);
      await loadPending();
    } catch (e) {
      fb.failed(`No invitation was made: ${reason(e)}.`);
    } finally {
      submit.disabled = false;
    }
  });

  replaceChildren(panel,
    h('h2', { id: 'admin-tab-title', class: 'h4' }, 'Invitations'),
    h('p', { class: 'text-body-secondary' },
      'An invitation lets one person create an account with the role you choose. It works once and expires. ',
      'The code is shown only right after you make it; the server keeps only a hash of it.'),
    ...fb.elements,
    h('div', { class: 'card card-body' }, form),
    result, pending);
  await loadPending();
}

/** The new invitation: link (code in the fragment), QR code, copy button, the code in groups. */
async function showInvitation(result, { code, role, expires }) {
  const link = `${location.origin}/register#code=${code}`;
  const { default: QRCode } = await import('qrcode');
  const qr = await QRCode.toDataURL(link, { errorCorrectionLevel: 'M', margin: 2, width: 220, color: { dark: '#000000', light: '#ffffff' } });
  const linkInput = h('input', { id: 'inv-link', class: 'form-control font-monospace', readonly: true, value: link, 'aria-describedby': 'inv-link-hint' });
  const copied = h('span', { class: 'small text-success-emphasis ms-2', 'aria-live': 'polite' });
  const copy = h('button', { type: 'button', class: 'btn btn-secondary', on: { click: async () => {
    try {
      await navigator.clipboard.writeText(link);
      copied.textContent = 'Copied.';
    } catch {
      linkInput.focus();
      linkInput.select();
      copied.textContent = 'Select the link and copy it (Ctrl+C).';
    }
  } } }, 'Copy link');
  replaceChildren(result,
    h('div', { class: 'card border-success', 'data-testid': 'invitation' },
      h('div', { class: 'card-header d-flex justify-content-between flex-wrap gap-2' },
        h('h3', { class: 'h5 mb-0' }, `Invitation for a ${role}`),
        h('span', { class: 'small text-body-secondary' }, `valid until ${when(expires)}`)),
      h('div', { class: 'card-body row g-4' },
        h('div', { class: 'col-md-8' },
          h('div', { class: 'alert alert-warning py-2 small' }, h('strong', {}, 'Shown only now. '), 'Copy the link or let them scan the QR code before you leave this page.'),
          h('label', { for: 'inv-link', class: 'form-label' }, 'Registration link'),
          h('div', { class: 'input-group' }, linkInput, copy),
          h('div', { id: 'inv-link-hint', class: 'form-text' },
            'The code is after the "#": browsers never send that part to a server, so it stays out of every log. ', copied),
          h('p', { class: 'mt-3 mb-1 small text-body-secondary' }, 'Or read out the code:'),
          h('p', { class: 'mc-recovery-code mb-0', 'data-testid': 'invitation-code' }, code.replace(/(.{4})(?!$)/g, '$1-'))),
        h('div', { class: 'col-md-4 text-center' },
          h('img', { src: qr, class: 'mc-qr img-fluid rounded', width: '220', height: '220', alt: `QR code of the registration link for a ${role}` })))));
  announce(`Invitation for a ${role} created.`);
  linkInput.focus();
  linkInput.select();
}

// ---- audit log -----------------------------------------------------------------------------------

async function auditPanel(panel) {
  const fb = feedback();
  const banner = h('div', { 'data-testid': 'audit-verify', 'aria-live': 'polite' });
  const size = h('select', { id: 'audit-size', class: 'form-select form-select-sm w-auto' }, [10, 25, 50, 100].map((n) => h('option', { value: String(n), selected: n === 25 }, String(n))));
  const newer = h('button', { type: 'button', class: 'btn btn-sm btn-outline-light' }, '← Newer');
  const older = h('button', { type: 'button', class: 'btn btn-sm btn-outline-light' }, 'Older →');
  const range = h('span', { class: 'small text-body-secondary', 'aria-live': 'polite', 'data-testid': 'audit-range' });
  const tbody = h('tbody');
  const recheck = h('button', { type: 'button', class: 'btn btn-sm btn-outline-light' }, 'Verify again');
  replaceChildren(panel,
    h('div', { class: 'd-flex flex-wrap align-items-baseline justify-content-between gap-2' },
      h('h2', { id: 'admin-tab-title', class: 'h4' }, 'Audit log'), recheck),
    banner, ...fb.elements,
    h('div', { class: 'd-flex flex-wrap align-items-center gap-2 my-3' },
      h('label', { for: 'audit-size', class: 'small' }, 'Records per page'), size, newer, older, range),
    h('div', { class: 'table-responsive' },
      h('table', { class: 'table table-sm table-hover align-middle mc-table mc-audit' },
        h('caption', { class: 'visually-hidden' }, 'Audit records, newest first'),
        h('thead', {}, h('tr', {},
          ['#', 'Time', 'Actor', 'Action', 'Object', 'Outcome', 'Address', 'Details'].map((t) => h('th', { scope: 'col' }, t)))),
        tbody)));

  let total = 0; // the highest seq: records are 1..total
  let firstBad = 0;
  let page = 0; // 0: the newest

  const verify = async () => {
    replaceChildren(banner, h('div', { class: 'alert alert-secondary' }, 'Verifying the audit chain…'));
    const { body: v } = await api('GET', '/api/v1/audit/verify', { what: 'audit verification' });
    const checked = new Date().toLocaleTimeString('en-GB');
    if (v.ok) {
      firstBad = 0;
      total = v.records;
      replaceChildren(banner, h('div', { class: 'alert alert-success d-flex align-items-center gap-3 mc-verify', role: 'status' },
        h('span', { class: 'mc-verify-mark', 'aria-hidden': 'true' }, '✓'),
        h('div', {},
          h('div', { class: 'h5 mb-1' }, 'Verified chain'),
          h('div', { class: 'small' }, `All ${v.records} records are intact and in order; ${v.checkpoints ? `${v.checkpoints} signed checkpoint${v.checkpoints === 1 ? '' : 's'} match` : 'no signed checkpoint yet (the server signs one every 64 records and at shutdown)'}. Checked at ${checked}.`))));
    } else {
      firstBad = v.first_bad;
      const all = await auditRecords(0, 10000); // no count from a broken chain: read it
      total = all.length ? all[all.length - 1].seq : 0;
      replaceChildren(banner, h('div', { class: 'alert alert-danger d-flex align-items-center gap-3 mc-verify', role: 'alert' },
        h('span', { class: 'mc-verify-mark', 'aria-hidden': 'true' }, '✗'),
        h('div', {},
          h('div', { class: 'h5 mb-1' }, `Broken at seq ${v.first_bad}`),
          h('div', { class: 'small' }, `The audit chain does not verify from record ${v.first_bad} on (${v.reason}): it was altered or cut. `,
            'Keep the server as it is and tell your security officer. Checked at ', checked, '.'))));
    }
  };

  const show = async () => {
    const n = Number(size.value);
    const hi = total - page * n; // the newest seq of this page
    const lo = Math.max(0, hi - n);
    const records = hi > 0 ? await auditRecords(lo, hi - lo) : [];
    records.sort((a, b) => b.seq - a.seq);
    replaceChildren(tbody, records.length ? records.map(auditRow) : h('tr', {}, h('td', { colspan: '8', class: 'text-body-secondary' }, 'No records.')));
    range.textContent = total ? `Records ${lo + 1}–${hi} of ${total}, newest first` : 'No records yet';
    newer.disabled = page === 0;
    older.disabled = lo === 0;
  };

  const auditRow = (r) => h('tr', { class: firstBad && r.seq >= firstBad ? 'table-danger' : null, dataset: { seq: String(r.seq), action: r.action } },
    h('td', { class: 'text-body-secondary small' }, String(r.seq)),
    h('td', { class: 'small text-nowrap' }, when(r.time)),
    h('td', {}, r.actor || h('span', { class: 'text-body-secondary' }, '—')),
    h('td', {}, h('span', { class: `badge ${ACTION_CLASS[r.action] ?? 'text-bg-secondary'}` }, r.action)),
    h('td', {}, r.object || '—'),
    h('td', {}, r.outcome === 'ok' ? h('span', { class: 'text-success-emphasis' }, 'ok') : h('span', { class: 'text-warning-emphasis' }, r.outcome)),
    h('td', { class: 'small text-body-secondary' }, r.address || '—'),
    h('td', { class: 'small mc-detail' }, detailText(r.detail)));

  const run = async (fn) => {
    try {
      await fn();
    } catch (e) {
      fb.failed(`The audit log could not be read: ${reason(e)}.`);
    }
  };
  newer.addEventListener('click', () => run(async () => { page = Math.max(0, page - 1); await show(); }));
  older.addEventListener('click', () => run(async () => { page += 1; await show(); }));
  size.addEventListener('change', () => run(async () => { page = 0; await show(); }));
  recheck.addEventListener('click', () => run(async () => { await verify(); page = 0; await show(); }));
  await run(async () => {
    await verify();
    await show();
  });
}

/** An audit record's detail object as short "key: value" text (fingerprints shortened). */
function detailText(detail) {
  if (!detail || typeof detail !== 'object') return '';
  return Object.entries(detail).map(([k, v]) => {
    let s = typeof v === 'string' ? v : JSON.stringify(v);
    if (/^[0-9a-f]{64}$/i.test(s)) s = `${s.slice(0, 16)}…`;
    return `${k}: ${s}`;
  }).join(', ');
}
