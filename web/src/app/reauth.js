/**
 * reauth.js: an action that the server may answer with 401 reauth_required (a share, a revocation,
 * a dismissal, a consent approval: docs/API.md §13 "re-authenticated") run again after the user
 * typed their password in a modal <dialog>: src/account's reauth() proves it (Argon2id in this
 * page; the password never leaves it in clear), then the action runs once more. The password
 * field is emptied as soon as it was used.
 */
import { reauth } from '../account/index.js';
import { h } from './dom.js';
import { errorText, needsReauth } from './images.js';
import { kdfMemory, session } from './session.js';
import { progressText } from './shell.js';

let serial = 0;

/** Asks for the password and re-authenticates; resolves true, or false when the user cancelled. */
export function askReauth(why = 'This asks for your password again (valid 5 minutes).') {
  const id = `mc-reauth-${++serial}`;
  return new Promise((resolve) => {
    const input = h('input', { id: `${id}-password`, type: 'password', class: 'form-control', autocomplete: 'current-password', required: true, 'aria-describedby': `${id}-why` });
    const status = h('p', { class: 'small mt-2 mb-0', role: 'status', 'aria-live': 'polite', id: `${id}-status` });
    const cancel = h('button', { type: 'button', class: 'btn btn-secondary' }, 'Cancel');
    const ok = h('button', { type: 'submit', class: 'btn btn-warning' }, 'Confirm');
    const form = h('form', { class: 'modal-content bg-body-tertiary border rounded-3', novalidate: true },
      h('div', { class: 'modal-header px-4 pt-3 pb-2' }, h('h2', { id: `${id}-title`, class: 'modal-title h5' }, 'Confirm it is you')),
      h('div', { class: 'modal-body px-4 py-2' },
        h('p', { id: `${id}-why`, class: 'small' }, why),
        h('label', { for: `${id}-password`, class: 'form-label' }, 'Your password'), input, status),
      h('div', { class: 'modal-footer px-4 pb-3 pt-2 gap-2' }, cancel, ok));
    const dialog = h('dialog', { class: 'mc-dialog mc-reauth-dialog p-0 border-0 rounded-3', 'aria-labelledby': `${id}-title` }, form);
    const close = (result) => {
      input.value = '';
      dialog.close();
      dialog.remove();
      resolve(result);
    };
    cancel.addEventListener('click', () => close(false));
    dialog.addEventListener('cancel', (event) => {
      event.preventDefault();
      close(false);
    });
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!input.value) {
        input.focus();
        return;
      }
      ok.disabled = true;
      status.className = 'small mt-2 mb-0';
      try {
        await reauth(session.connection, {
          username: session.user.username,
          password: input.value,
          memory: kdfMemory,
          onProgress: (p) => {
            const t = progressText(p);
            if (t) status.textContent = t;
          },
        });
        close(true);
      } catch (e) {
        input.value = '';
        status.className = 'small mt-2 mb-0 text-danger';
        status.textContent = errorText(e);
        input.focus();
      } finally {
        ok.disabled = false;
      }
    });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}

/**
 * Runs action(); when the server wants a fresh password, asks for it and runs action() again.
 * Rejects with the action's error, or with an Error whose `cancelled` is true when the user
 * cancelled the password dialog.
 */
export async function withReauth(action, why) {
  try {
    return await action();
  } catch (e) {
    if (!needsReauth(e)) throw e;
    if (!(await askReauth(why))) throw Object.assign(new Error('Cancelled: nothing was changed.'), { cancelled: true });
    return action();
  }
}
