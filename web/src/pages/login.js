/**
 * login.js: the sign-in page. The password never leaves the page: src/account's login() derives
 * the authentication key with Argon2id here, and unwraps the user's private keys into
 * non-extractable CryptoKeys kept in memory (app/session.js). While that runs the page shows
 * each step (app/progress.js), a proof of work the server asks for after failed sign-ins
 * included; a lockout (429, retry_after) is said plainly with a countdown, and the button waits
 * for it.
 */
import { AccountKind, login } from '../account/index.js';
import { field, h } from '../app/dom.js';
import { createProgress } from '../app/progress.js';
import { kdfMemory, session } from '../app/session.js';
import { announce, pageStart } from '../app/shell.js';

/** Where a user lands after signing in: the admin has no inbox (no image route is theirs). */
export function homeOf(user) {
  return user?.role === 'admin' ? '/admin' : '/inbox';
}

/** The words for a failed sign-in, by src/account's error kind. */
function failureText(e) {
  switch (e?.kind) {
    case AccountKind.BAD_CREDENTIALS:
      return 'Wrong user name or password. Check both and try again (the server does not say which one was wrong).';
    case AccountKind.BUSY:
      return 'The server is busy right now. Wait a moment and try again.';
    case AccountKind.NETWORK:
      return 'The server does not answer. Check your network connection and try again.';
    case AccountKind.KDF:
      return `This browser refused the server's sign-in parameters, to protect your password: ${e.message}. Tell your administrator.`;
    case AccountKind.KEY:
      return 'You are signed in, but your keys could not be unlocked with this password. Tell your administrator.';
    case 'misuse':
      return 'That is not a user name: use 1 to 64 of a–z, 0–9, ".", "_" and "-", starting with a letter or digit.';
    default:
      return e?.message ?? 'Sign-in failed.';
  }
}

export async function render(main, { navigate }) {
  pageStart(main, 'Sign in');
  main.querySelector('h1')?.classList.add('text-center');
  const username = field({ id: 'login-username', label: 'User name', autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false' });
  const password = field({ id: 'login-password', label: 'Password', type: 'password', autocomplete: 'current-password' });
  const error = h('div', { id: 'login-error', class: 'alert alert-danger d-none', role: 'alert' });
  const progress = createProgress(['prelogin', 'argon2id', 'login', 'unwrap']);
  const submit = h('button', { type: 'submit', class: 'btn btn-primary w-100' }, 'Sign in');
  let lockTimer = null;

  const form = h('form', { 'aria-labelledby': 'login-title', novalidate: true },
    h('h2', { id: 'login-title', class: 'visually-hidden' }, 'Sign in to medcrypt'),
    error, username.group, password.group, submit, progress.element);
  for (const input of [username.input, password.input]) {
    input.addEventListener('input', () => lockTimer || error.classList.add('d-none'));
  }

  const showError = (text) => {
    error.replaceChildren(text);
    error.classList.remove('d-none');
  };

  /** A lockout: the button waits, the message counts down to the time the server gave. */
  const lockedFor = (seconds) => {
    const until = Date.now() + seconds * 1000;
    const clock = new Date(until).toLocaleTimeString('en-GB');
    const left = h('strong', {}, '');
    error.replaceChildren(
      h('div', { class: 'fw-semibold' }, 'Sign-in is locked for a while'),
      'There were too many failed sign-ins for this account or from this computer. ',
      'Try again in ', left, ` (at ${clock}). Each further lockout lasts twice as long.`);
    error.classList.remove('d-none');
    submit.disabled = true;
    const tick = () => {
      const s = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      left.textContent = s >= 120 ? `${Math.ceil(s / 60)} minutes` : `${s} seconds`;
      if (s === 0 || !form.isConnected) {
        clearInterval(lockTimer);
        lockTimer = null;
        submit.disabled = false;
        if (form.isConnected && s === 0) {
          error.classList.add('d-none');
          announce('You can try to sign in again.');
        }
      }
    };
    tick();
    lockTimer = setInterval(tick, 1000);
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (lockTimer) return;
    error.classList.add('d-none');
    if (!username.input.value.trim() || !password.input.value) {
      showError(!username.input.value.trim() ? 'Enter your user name.' : 'Enter your password.');
      (!username.input.value.trim() ? username.input : password.input).focus();
      return;
    }
    submit.disabled = true;
    progress.reset();
    let locked = false;
    try {
      const { user, identity } = await login(session.connection, {
        username: username.input.value.trim(),
        password: password.input.value,
        memory: kdfMemory,
        onProgress: (p) => progress.update(p),
      });
      password.input.value = '';
      session.set(user, identity);
      announce(`Signed in as ${user.username}.`);
      navigate(homeOf(user));
    } catch (e) {
      progress.reset();
      password.input.value = '';
      if (e?.kind === AccountKind.LOCKED) {
        locked = true;
        lockedFor(e.retryAfter > 0 ? e.retryAfter : 60);
      } else {
        showError(failureText(e));
      }
      password.input.focus();
    } finally {
      if (!locked) submit.disabled = false;
    }
  });

  main.append(h('div', { class: 'row justify-content-center' },
    h('div', { class: 'col-12 col-sm-10 col-md-7 col-lg-5' },
      h('div', { class: 'card shadow-sm' },
        h('div', { class: 'card-body p-4' },
          h('p', { class: 'text-body-secondary' }, 'Your password unlocks your keys in this browser. It is never sent to the server.'),
          form)),
      h('p', { class: 'mt-3 text-center' }, 'New here? ', h('a', { href: '/register', dataset: { link: '' } }, 'Create your account with an invitation')))));
  username.input.focus();
}
