/**
 * account.js: "My account" (/account): who the server says you are (GET /api/v1/me, docs/API.md
 * §13): user name, name, role, since when, both public keys' fingerprints in groups to read
 * aloud and compare out of band, the session's idle and absolute expiry and re-authentication
 * window, whether this tab holds your unlocked keys; sign out here or everywhere.
 */
import { logout, me } from '../account/index.js';
import { confirmDialog } from '../app/dialog.js';
import { h } from '../app/dom.js';
import { session } from '../app/session.js';
import { announce, pageStart } from '../app/shell.js';

/** 64 hex digits as 16 groups of 4, upper case: easier to read out and compare. */
export function groupedFingerprint(hex) {
  return String(hex ?? '').toUpperCase().replace(/(.{4})(?!$)/g, '$1 ');
}

const when = (t) => (t > 0 ? new Date(t * 1000).toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' }) : '—');

function row(term, ...value) {
  return [h('dt', { class: 'col-sm-4 col-lg-3 text-body-secondary fw-normal' }, term), h('dd', { class: 'col-sm-8 col-lg-9' }, ...value)];
}

/** A row of a narrow card: a wider term column. */
function narrowRow(term, ...value) {
  return [h('dt', { class: 'col-sm-5 text-body-secondary fw-normal' }, term), h('dd', { class: 'col-sm-7' }, ...value)];
}

export async function render(main, { navigate }) {
  if (!session.user) {
    navigate('/login', { replace: true });
    return;
  }
  pageStart(main, 'My account');
  const error = h('div', { class: 'alert alert-danger d-none', role: 'alert' });
  main.append(error);
  let info;
  try {
    info = await me(session.connection);
  } catch (e) {
    if (e?.kind === 'unauthenticated') {
      session.set(null);
      navigate('/login', { replace: true });
      return;
    }
    error.textContent = `Your account could not be loaded: ${e?.message ?? 'no answer'}.`;
    error.classList.remove('d-none');
    return;
  }
  const { user, session: s } = info;
  const keysHere = Boolean(session.identity);

  const signOut = async (everywhere) => {
    if (everywhere) {
      const ok = await confirmDialog({
        title: 'Sign out everywhere?',
        body: 'This ends every session of your account: in this browser and on every other computer or phone where you are signed in, including the command-line client.',
        confirm: 'Sign out everywhere',
        danger: true,
      });
      if (!ok) return;
    }
    try {
      await logout(session.connection, { everywhere });
    } catch (e) {
      error.textContent = `Signing out failed: ${e?.message ?? 'no answer'}.`;
      error.classList.remove('d-none');
      return;
    }
    session.set(null);
    announce(everywhere ? 'Signed out everywhere.' : 'Signed out.');
    navigate('/login');
  };

  main.append(
    h('div', { class: 'row g-4' },
      h('div', { class: 'col-12 col-lg-7' },
        h('section', { class: 'card h-100', 'aria-labelledby': 'acct-who' },
          h('div', { class: 'card-header' }, h('h2', { id: 'acct-who', class: 'h5 mb-0' }, 'Profile')),
          h('div', { class: 'card-body' },
            h('dl', { class: 'row mb-0' },
              row('User name', h('span', { 'data-testid': 'acct-username' }, user.username)),
              row('Name', user.display_name || '—'),
              row('Role', h('span', { class: 'badge text-bg-info', 'data-testid': 'acct-role' }, user.role)),
              row('Account created', when(user.created)))))),
      h('div', { class: 'col-12 col-lg-5' },
        h('section', { class: 'card h-100', 'aria-labelledby': 'acct-session' },
          h('div', { class: 'card-header' }, h('h2', { id: 'acct-session', class: 'h5 mb-0' }, 'This session')),
          h('div', { class: 'card-body' },
            h('dl', { class: 'row mb-3' },
              narrowRow('Ends if idle', when(s?.idle_expires)),
              narrowRow('Ends at the latest', when(s?.expires)),
              narrowRow('Password confirmed', s?.reauth_expires > 0 ? `until ${when(s.reauth_expires)}` : 'not in this session'),
              narrowRow('Your keys', keysHere
                ? h('span', { class: 'text-success-emphasis' }, 'unlocked in this tab')
                : h('span', {}, 'locked (', h('a', { href: '/login', dataset: { link: '' } }, 'sign in again'), ' to unlock)'))),
            h('p', { class: 'small text-body-secondary' },
              'A session ends after 30 minutes without use or 12 hours after sign-in. Sharing and revoking ask for your password again.'),
            h('div', { class: 'd-flex flex-wrap gap-2' },
              h('button', { type: 'button', class: 'btn btn-outline-light', on: { click: () => signOut(false) } }, 'Sign out'),
              h('button', { type: 'button', class: 'btn btn-danger', on: { click: () => signOut(true) } }, 'Sign out everywhere'))))),
      h('div', { class: 'col-12' },
        h('section', { class: 'card', 'aria-labelledby': 'acct-keys' },
          h('div', { class: 'card-header' }, h('h2', { id: 'acct-keys', class: 'h5 mb-0' }, 'Your public keys')),
          h('div', { class: 'card-body' },
            h('p', { class: 'text-body-secondary' },
              'Others encrypt to your encryption key and check your signatures with your signing key. ',
              'To be sure nobody swapped a key, compare these fingerprints with a colleague in person or by phone ',
              '(', h('code', {}, 'medcrypt fingerprint'), ' prints the same).'),
            h('dl', { class: 'row mb-0' },
              row('Encryption key (RSA-OAEP)', h('code', { class: 'mc-fingerprint', 'data-testid': 'acct-enc-fp' }, groupedFingerprint(user.enc_fingerprint))),
              row('Signing key', h('code', { class: 'mc-fingerprint', 'data-testid': 'acct-sign-fp' }, groupedFingerprint(user.sign_fingerprint))))))),
      h('div', { class: 'col-12' },
        h('div', { class: 'alert alert-secondary mb-0', role: 'note' },
          h('strong', {}, 'Changing your password '),
          'arrives with key rotation: a new password re-wraps your private keys, and that step is being built together with replacing keys. ',
          'Until then, keep your recovery code safe; if you think your password is known to someone else, tell your administrator.'))));
}
