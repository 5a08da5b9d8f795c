/**
 * users.js: the user directory (/users, GET /api/v1/users): every enabled user with role and the
 * fingerprints of both keys (encryption: what others wrap image keys for; signing: what proves
 * who sent an image), a search box over names, roles and fingerprints, and the reminder to
 * compare fingerprints with their owners out of band, since the directory is served by the
 * server these keys protect against.
 */
import { h, replaceChildren } from '../app/dom.js';
import { errorText, groupFingerprint, loadDirectory } from '../app/images.js';
import { session } from '../app/session.js';
import { announce, pageStart } from '../app/shell.js';

export async function render(main, { navigate }) {
  if (!session.user) {
    navigate('/login', { replace: true });
    return;
  }
  pageStart(main, 'User directory');
  const search = h('input', { id: 'user-search', type: 'search', class: 'form-control', placeholder: 'Name, role or fingerprint', autocomplete: 'off', 'aria-describedby': 'user-count' });
  const count = h('p', { id: 'user-count', class: 'small text-body-secondary mt-2 mb-0', 'aria-live': 'polite' });
  const list = h('div', { id: 'user-list' }, h('p', { class: 'text-body-secondary' }, 'Loading the directory…'));
  main.append(
    h('div', { class: 'alert alert-info', role: 'note' },
      h('strong', {}, 'Check fingerprints out of band. '),
      'This list comes from the server. Before you share an image with someone for the first time, compare the fingerprint shown here with the one they read to you from their own device (',
      h('code', {}, 'medcrypt whoami'), ' or their account page), in person or by phone.'),
    h('div', { class: 'mb-3 mc-narrow-wide' },
      h('label', { for: 'user-search', class: 'form-label' }, 'Search the directory'), search, count),
    list);

  let users;
  try {
    users = await loadDirectory({ fresh: true });
  } catch (e) {
    replaceChildren(list, h('div', { class: 'alert alert-danger', role: 'alert' }, `Could not read the directory: ${errorText(e)}`));
    return;
  }
  users = [...users].sort((a, b) => a.role.localeCompare(b.role) || a.username.localeCompare(b.username));

  const fp = (label, hex) => h('div', { class: 'mc-fp-block' },
    h('span', { class: 'small text-body-secondary d-block' }, label),
    h('code', { class: 'mc-fp' }, groupFingerprint(hex)));

  const draw = () => {
    const q = search.value.trim().toLowerCase().replace(/\s+/g, ' ');
    const compact = q.replace(/[\s:]/g, '');
    const shown = users.filter((u) => !q
      || `${u.username} ${u.display_name ?? ''} ${u.role}`.toLowerCase().includes(q)
      || (compact.length >= 4 && (u.enc_fingerprint.includes(compact) || u.sign_fingerprint.includes(compact))));
    count.textContent = `${shown.length} of ${users.length} users`;
    replaceChildren(list, shown.length === 0
      ? h('p', { class: 'text-body-secondary' }, 'No user matches.')
      : h('div', { class: 'table-responsive' },
        h('table', { class: 'table align-middle mc-users' },
          h('caption', { class: 'visually-hidden' }, 'Users, their roles and key fingerprints'),
          h('thead', {}, h('tr', {},
            h('th', { scope: 'col' }, 'User'), h('th', { scope: 'col' }, 'Role'), h('th', { scope: 'col' }, 'Key fingerprints (SHA-256)'))),
          h('tbody', {}, shown.map((u) => h('tr', { dataset: { user: u.username } },
            h('td', {},
              h('div', { class: 'fw-semibold' }, u.display_name || u.username),
              h('div', { class: 'small text-body-secondary' }, u.username, u.username === session.user.username && ' (you)')),
            h('td', {}, h('span', { class: `badge mc-role-${u.role}` }, u.role)),
            h('td', {}, fp('Encryption', u.enc_fingerprint), fp('Signing', u.sign_fingerprint))))))));
  };
  search.addEventListener('input', draw);
  draw();
  announce(`${users.length} users in the directory`);
}
