/**
 * progress.js: what the sign-in and sign-up pages show while src/account works: Argon2id takes
 * about a second per derivation, a proof of work (asked after failed sign-ins) a few more, key
 * generation a moment. A spinner, the step in words and a bar of the steps done; each step is
 * also announced to screen readers (shell.js announce). The bar's width is set through the
 * CSSOM, which the page CSP allows (it refuses style attributes, not element.style).
 */
import { h } from './dom.js';
import { announce, progressText } from './shell.js';

/**
 * createProgress(steps): steps are the phases expected, in order (['prelogin', 'argon2id', ...]);
 * an unexpected phase (a proof of work) is shown without moving the bar back. Returns
 * {element, update(p), reset()}: update takes src/account's onProgress events.
 */
export function createProgress(steps) {
  const text = h('span', {}, '');
  const detail = h('div', { class: 'small text-body-secondary mt-1' });
  const fill = h('div', { class: 'progress-bar progress-bar-striped progress-bar-animated' });
  const bar = h('div', { class: 'progress mt-2', role: 'progressbar', 'aria-label': 'Progress', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0' }, fill);
  const element = h('div', { class: 'mc-progress card card-body bg-body-tertiary mt-3 d-none', 'data-testid': 'progress' },
    h('div', { class: 'd-flex align-items-center gap-2' },
      h('span', { class: 'spinner-border spinner-border-sm text-info', 'aria-hidden': 'true' }), text),
    bar, detail);
  let done = 0;
  const setBar = (fraction) => {
    const pct = Math.round(Math.min(1, Math.max(0, fraction)) * 100);
    fill.style.width = `${pct}%`;
    bar.setAttribute('aria-valuenow', String(pct));
  };
  return {
    element,
    update(p) {
      element.classList.remove('d-none');
      if (p.phase === 'pow') {
        if (p.state === 'start') {
          text.textContent = 'Solving a proof of work…';
          detail.textContent = `After recent failed sign-ins the server asks this browser to prove some work first (about 2^${p.bits} hashes). ` +
            'It slows down password guessing and usually takes a few seconds.';
          announce('The server asks for a proof of work after recent failed sign-ins. Solving it…');
        } else if (p.state === 'progress') {
          detail.textContent = `After recent failed sign-ins the server asks this browser to prove some work first (about 2^${p.bits} hashes): ${p.tries.toLocaleString('en')} tried.`;
        } else {
          detail.textContent = 'Proof of work solved.';
        }
        return;
      }
      if (p.state === 'start') {
        let words = progressText(p);
        if (p.phase === 'argon2id' && p.purpose === 'recovery') words = 'Protecting your keys with the recovery code (Argon2id)…';
        text.textContent = words;
        if (words) announce(words);
        if (p.phase !== 'argon2id' || p.purpose !== 'recovery') detail.textContent = p.phase === 'argon2id' ? 'This takes a second or two on purpose: it makes guessing passwords slow.' : '';
      } else if (p.state === 'end') {
        const i = steps.indexOf(p.phase);
        if (i >= 0) done = Math.max(done, i + 1);
        setBar(done / steps.length);
      }
    },
    reset() {
      done = 0;
      setBar(0);
      text.textContent = '';
      detail.textContent = '';
      element.classList.add('d-none');
    },
  };
}
