/**
 * shell.js: the parts of the page every route shares: the navbar (product name, the links the
 * signed-in user's role can use, their name and role, sign-out) and the polite live region that
 * announces progress to screen readers. Pages render into the <main> landmark of index.html.
 * Patients get "My doctors" (appointments) and "Consents" (consent requests); doctors "Patients"
 * and "Requests" (their access requests), and everyone but the admin and researchers "Messages" (issue 12). The admin gets no Inbox link: no image is ever sent to an admin (docs/API.md §14), and the
 * admin's start page is /admin (login.js homeOf).
 */
import { logout } from '../account/index.js';
import { h, replaceChildren } from './dom.js';
import { session } from './session.js';

/** Renders the navbar into header; navigate(path) follows a link. Re-renders on sign-in/out. */
export function mountShell(header, navigate) {
  const draw = () => {
    const user = session.user;
    const signOut = async () => {
      try {
        await logout(session.connection);
      } catch {
        // the server forgets the session anyway when it expires; the page forgets it now
      }
      session.set(null);
      navigate('/login');
    };
    replaceChildren(header,
      h('nav', { class: 'navbar navbar-expand bg-body-tertiary border-bottom', 'aria-label': 'Main' },
        h('div', { class: 'container' },
          h('a', { class: 'navbar-brand fw-semibold', href: '/', dataset: { link: '' } }, 'medcrypt'),
          user
            ? h('div', { class: 'navbar-nav ms-auto align-items-center gap-2 gap-xl-3' },
              user.role !== 'admin' && h('a', { class: 'nav-link text-nowrap', href: '/inbox', dataset: { link: '' } }, 'Inbox'),
              (user.role === 'technician' || user.role === 'doctor') && h('a', { class: 'nav-link text-nowrap', href: '/send', dataset: { link: '' } }, 'Send'),
              user.role === 'patient' && h('a', { class: 'nav-link text-nowrap', href: '/doctors', dataset: { link: '' } }, 'My doctors'),
              user.role === 'doctor' && h('a', { class: 'nav-link text-nowrap', href: '/doctors', dataset: { link: '' } }, 'Patients'),
              (user.role === 'patient' || user.role === 'doctor') && h('a', { class: 'nav-link text-nowrap', href: '/consents', dataset: { link: '' } },
                user.role === 'patient' ? 'Consents' : 'Requests'),
              ['technician', 'doctor', 'patient'].includes(user.role) && h('a', { class: 'nav-link text-nowrap', href: '/messages', dataset: { link: '' } }, 'Messages'),
              h('a', { class: 'nav-link text-nowrap', href: '/users', dataset: { link: '' } }, 'Directory'),
              user.role === 'admin' && h('a', { class: 'nav-link text-nowrap', href: '/admin', dataset: { link: '' } }, 'Admin'),
              h('a', { class: 'nav-link text-nowrap', href: '/account', dataset: { link: '' } }, 'My account'),
              h('span', { class: 'navbar-text text-nowrap' },
                h('span', { class: 'visually-hidden' }, 'Signed in as '), user.display_name || user.username, ' ',
                h('span', { class: 'badge text-bg-secondary', title: 'Your role' }, user.role)),
              h('button', { type: 'button', class: 'btn btn-outline-light btn-sm text-nowrap', on: { click: signOut } }, 'Sign out'))
            : h('div', { class: 'navbar-nav ms-auto' },
              h('a', { class: 'nav-link text-nowrap', href: '/login', dataset: { link: '' } }, 'Sign in'),
              h('a', { class: 'nav-link text-nowrap', href: '/register', dataset: { link: '' } }, 'Create account')))));
  };
  session.listeners.add(draw);
  draw();
}

/** Announces text to assistive technology (the page's role="status" region). */
export function announce(text) {
  const region = document.getElementById('app-status');
  if (region) region.textContent = text;
}

/** A page heading and focus moved to <main>, so a route change is noticed like a page load. */
export function pageStart(main, title) {
  document.title = `${title} · medcrypt`;
  replaceChildren(main, h('h1', { class: 'h3 mb-4' }, title));
  main.focus({ preventScroll: true });
}

/** The words a progress phase of src/account shows ({phase, state}). */
export function progressText({ phase, state }) {
  if (state === 'end') return '';
  return {
    prelogin: 'Contacting the server…',
    argon2id: 'Deriving keys from your password (Argon2id)…',
    pow: 'Solving the server’s proof of work…',
    login: 'Signing in…',
    unwrap: 'Unlocking your keys…',
    keygen: 'Generating your key pairs…',
    register: 'Creating the account…',
    reauth: 'Confirming your password…',
  }[phase] ?? '';
}
