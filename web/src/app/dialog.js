/**
 * dialog.js: a confirmation asked in a modal <dialog> (the browser's own: it traps focus, closes
 * on Escape and gives focus back to the button that opened it), styled as a Bootstrap modal.
 * Used before an action that changes someone's access: a role change, disabling a user,
 * ending every session.
 */
import { h } from './dom.js';

let serial = 0;

/**
 * confirmDialog({title, body, confirm, dismiss, danger}): resolves to true when the user chose
 * `confirm` (the button's words), false on `dismiss` (default "Cancel") or Escape. `body` is text or nodes. The dialog is
 * removed from the page when it closes; Cancel has the focus first, so Enter does not confirm by
 * accident.
 */
export function confirmDialog({ title, body, confirm = 'Confirm', dismiss = 'Cancel', danger = false }) {
  const id = `mc-dialog-${++serial}`;
  return new Promise((resolve) => {
    const cancelButton = h('button', { type: 'button', class: 'btn btn-secondary', value: 'cancel' }, dismiss);
    const okButton = h('button', { type: 'button', class: `btn ${danger ? 'btn-danger' : 'btn-primary'}`, value: 'ok' }, confirm);
    const dialog = h('dialog', { class: 'mc-dialog p-0 border-0 rounded-3', 'aria-labelledby': `${id}-title`, 'aria-describedby': `${id}-body` },
      h('div', { class: 'modal-content bg-body-tertiary border rounded-3' },
        h('div', { class: 'modal-header px-4 pt-3 pb-2' }, h('h2', { id: `${id}-title`, class: 'modal-title h5' }, title)),
        h('div', { id: `${id}-body`, class: 'modal-body px-4 py-2' }, body),
        h('div', { class: 'modal-footer px-4 pb-3 pt-2 gap-2' }, cancelButton, okButton)));
    const close = (result) => {
      dialog.close();
      dialog.remove();
      resolve(result);
    };
    cancelButton.addEventListener('click', () => close(false));
    okButton.addEventListener('click', () => close(true));
    dialog.addEventListener('cancel', (event) => {
      event.preventDefault();
      close(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancelButton.focus();
  });
}
