/**
 * main.js: the web client's entry point (bundled by web/build.mjs into app-HASH.js). It mounts
 * the shell (navbar), asks the server whether the browser still holds a session (/me), starts
 * the Web Worker and hands the location to the router. Each route is a page module of
 * src/pages/, loaded on first use (its own chunk).
 */
import './app.css';
import { me } from '../account/index.js';
import { createRouter } from './router.js';
import { session } from './session.js';
import { mountShell } from './shell.js';
import { startWorker } from './worker-client.js';

const main = document.getElementById('main');
const header = document.getElementById('app-header');

let leave = null; // what the page shown asked to run before another one renders (its render's result)

/** A route: loads its page module and renders it into <main> unless a newer route began. A
 *  render that resolves to a function gets it called when the next page renders (to drop
 *  decrypted data, stop a viewer). `params` are the route pattern's (/images/:id). */
const page = (load) => async (path, stillCurrent, params = {}) => {
  const module = await load();
  if (!stillCurrent()) return;
  const previous = leave;
  leave = null;
  try {
    previous?.();
  } catch {
    // a page that fails to clean up must not keep the next one from rendering
  }
  const result = await module.render(main, { navigate: router.navigate, path, params });
  if (typeof result === 'function') leave = result;
};

const router = createRouter({
  routes: {
    '/': async () => router.navigate(session.user ? (session.user.role === 'admin' ? '/admin' : '/inbox') : '/login', { replace: true }),
    '/login': page(() => import('../pages/login.js')),
    '/register': page(() => import('../pages/register.js')),
    '/inbox': page(() => import('../pages/inbox.js')),
    '/send': page(() => import('../pages/send.js')),
    '/images/:id': page(() => import('../pages/view.js')),
    '/users': page(() => import('../pages/users.js')),
    '/doctors': page(() => import('../pages/doctors.js')),
    '/consents': page(() => import('../pages/consents.js')),
    '/messages': page(() => import('../pages/messages.js')),
    '/account': page(() => import('../pages/account.js')),
    '/admin': page(() => import('../pages/admin.js')),
    '/admin/users': page(() => import('../pages/admin.js')),
    '/admin/invitations': page(() => import('../pages/admin.js')),
    '/admin/audit': page(() => import('../pages/admin.js')),
  },
  notFound: page(() => import('../pages/not-found.js')),
});

async function start() {
  mountShell(header, router.navigate);
  try {
    const { user } = await me(session.connection);
    session.set(user); // a session without keys: they come back with the password (session.js)
  } catch {
    session.set(null); // no session (401), or no server: the login page says which on submit
  }
  startWorker();
  await router.start();
}

start();
