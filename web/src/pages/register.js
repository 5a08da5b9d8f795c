/**
 * register.js: creating an account with an invitation. src/account's register() makes the key
 * pairs in the browser, wraps them under the password and under a new recovery code, and sends
 * only public keys, wrapped keys and the derived authentication key. The recovery code is shown
 * once, here, with Print and Download, and the user confirms having saved it before going on.
 *
 * Invitation links carry the code in the URL fragment, /register#code=CODE (the admin page makes
 * them so): a browser never sends a fragment to the server, so the code is in no request line,
 * proxy or server log. /register?code=CODE is accepted too (older links, typed URLs). Either way
 * the page drops the code from the address bar and the history as soon as it has read it.
 *
 * The password policy (12 characters, zxcvbn score 3 or more, PRODUCT.md) is shown live as the
 * user types, and a password under it is refused here before anything is sent.
 */
import { AccountKind, MIN_PASSWORD_CHARS, MIN_PASSWORD_SCORE, passwordStrength, register } from '../account/index.js';
import { field, h, replaceChildren } from '../app/dom.js';
import { createProgress } from '../app/progress.js';
import { kdfMemory, session } from '../app/session.js';
import { announce, pageStart } from '../app/shell.js';
import { homeOf } from './login.js';

const SCORE_WORDS = ['Very weak', 'Weak', 'Fair', 'Strong', 'Very strong'];
const SCORE_CLASS = ['bg-danger', 'bg-danger', 'bg-warning', 'bg-success', 'bg-success'];

/** The invitation code of the current URL (fragment first, then query), or ''. */
function invitationFromUrl() {
  const hash = new URLSearchParams(location.hash.slice(1));
  const fromHash = hash.get('code') ?? (/^#[A-Za-z2-7 -]{16,}$/.test(location.hash) ? location.hash.slice(1) : null);
  const fromQuery = new URLSearchParams(location.search).get('code');
  return { code: (fromHash ?? fromQuery ?? '').trim(), where: fromHash ? 'fragment' : fromQuery ? 'query' : null };
}

/** The live strength meter under the password field: {element, check(password, username)}. */
function strengthMeter(id) {
  const fill = h('div', { class: 'progress-bar' });
  const bar = h('div', { class: 'progress mc-strength', role: 'progressbar', 'aria-label': 'Password strength', 'aria-valuemin': '0', 'aria-valuemax': '4', 'aria-valuenow': '0' }, fill);
  const summary = h('div', { id: `${id}-summary`, class: 'small fw-semibold mt-1', 'aria-live': 'polite' }, 'Strength: type a password');
  const lengthRule = h('li', {}, '');
  const scoreRule = h('li', {}, '');
  const feedback = h('div', { class: 'small text-body-secondary' });
  const element = h('div', { id, class: 'mc-meter mb-3', 'data-testid': 'strength' }, bar, summary,
    h('ul', { class: 'list-unstyled small mb-1 mt-1' }, lengthRule, scoreRule), feedback);
  const rule = (li, ok, text) => {
    li.className = ok ? 'text-success-emphasis' : 'text-body-secondary';
    li.replaceChildren(h('span', { 'aria-hidden': 'true' }, ok ? '✓ ' : '✗ '), h('span', { class: 'visually-hidden' }, ok ? 'Met: ' : 'Not yet: '), text);
  };
  let serial = 0;
  let last = { ok: false };
  const draw = (s) => {
    const shown = s.chars === 0 ? 0 : s.score + 1;
    fill.style.width = `${shown * 20}%`;
    fill.className = `progress-bar ${SCORE_CLASS[s.score]}`;
    bar.setAttribute('aria-valuenow', String(s.score));
    bar.setAttribute('aria-valuetext', s.chars === 0 ? 'empty' : SCORE_WORDS[s.score]);
    summary.textContent = s.chars === 0 ? 'Strength: type a password'
      : `Strength: ${SCORE_WORDS[s.score]} (${s.score} of 4). ${s.ok ? 'Good enough.' : 'Not accepted yet.'}`;
    summary.className = `small fw-semibold mt-1 ${s.chars === 0 ? '' : s.ok ? 'text-success-emphasis' : 'text-warning-emphasis'}`;
    rule(lengthRule, s.chars >= MIN_PASSWORD_CHARS, `At least ${MIN_PASSWORD_CHARS} characters (${s.chars} now)`);
    rule(scoreRule, s.chars > 0 && s.score >= MIN_PASSWORD_SCORE, `Hard to guess: strength ${MIN_PASSWORD_SCORE} of 4 or more`);
    feedback.replaceChildren(
      s.warning && h('div', { class: 'text-warning-emphasis' }, s.warning),
      ...(s.suggestions ?? []).map((t) => h('div', {}, t)));
  };
  draw({ ok: false, chars: 0, score: 0, suggestions: [] });
  return {
    element,
    /** Judges the password (zxcvbn, loaded on first use); resolves to {ok, chars, score, ...}. */
    async check(password, username) {
      const mine = ++serial;
      const s = await passwordStrength(password, { username });
      if (mine === serial) {
        draw(s);
        last = s;
      }
      return s;
    },
    get last() {
      return last;
    },
  };
}

export async function render(main, { navigate }) {
  pageStart(main, 'Create your account');
  main.querySelector('h1')?.classList.add('text-center');
  const link = invitationFromUrl();
  if (link.where) history.replaceState(null, '', '/register'); // the code leaves the address bar and history

  const invitation = field({ id: 'reg-invitation', label: 'Invitation code', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'characters',
    hint: link.where ? 'Filled in from your invitation link.' : 'The code in the invitation your administrator gave you.', required: false, value: link.code || undefined });
  const username = field({ id: 'reg-username', label: 'User name', autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false',
    hint: '1 to 64 of a–z, 0–9, ".", "_" and "-", starting with a letter or digit.', pattern: '[a-z0-9][a-z0-9._\\-]{0,63}' });
  const displayName = field({ id: 'reg-display', label: 'Your name as others see it', autocomplete: 'name', maxlength: 128, required: false });
  const password = field({ id: 'reg-password', label: 'Password', type: 'password', autocomplete: 'new-password',
    hint: `At least ${MIN_PASSWORD_CHARS} characters and hard to guess; a few unrelated words work well. No other rules.` });
  const meter = strengthMeter('reg-strength');
  password.input.setAttribute('aria-describedby', 'reg-password-hint reg-strength-summary');
  password.group.append(meter.element);
  const confirm = field({ id: 'reg-confirm', label: 'Password again', type: 'password', autocomplete: 'new-password' });
  const error = h('div', { id: 'reg-error', class: 'alert alert-danger d-none', role: 'alert' });
  const progress = createProgress(['keygen', 'argon2id', 'register']);
  const submit = h('button', { type: 'submit', class: 'btn btn-primary w-100' }, 'Create account');
  const form = h('form', { novalidate: true, 'aria-label': 'Create your account' },
    error, invitation.group,
    h('div', { class: 'row g-md-3' }, h('div', { class: 'col-md-6' }, username.group), h('div', { class: 'col-md-6' }, displayName.group)),
    password.group, confirm.group, submit, progress.element);
  for (const input of [invitation.input, username.input, password.input, confirm.input]) {
    input.addEventListener('input', () => error.classList.add('d-none')); // an error goes once its field is edited
  }

  let pending;
  const judge = () => {
    clearTimeout(pending);
    pending = setTimeout(() => meter.check(password.input.value, username.input.value.trim()).catch(() => {}), 120);
  };
  password.input.addEventListener('input', judge);
  username.input.addEventListener('change', () => password.input.value && judge());

  const fail = (text, focus) => {
    error.textContent = text;
    error.classList.remove('d-none');
    progress.reset();
    focus?.focus();
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.classList.add('d-none');
    const name = username.input.value.trim();
    if (!invitation.input.value.trim()) return fail('Enter the invitation code from your administrator.', invitation.input);
    if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(name)) return fail('Choose a user name of 1 to 64 of a–z, 0–9, ".", "_" and "-", starting with a letter or digit.', username.input);
    const strength = await meter.check(password.input.value, name);
    if (!strength.ok) {
      return fail(strength.chars < MIN_PASSWORD_CHARS
        ? `This password is too short: use at least ${MIN_PASSWORD_CHARS} characters. Nothing was sent.`
        : 'This password is too easy to guess. Add a few unrelated words and try again. Nothing was sent.', password.input);
    }
    if (password.input.value !== confirm.input.value) return fail('The two passwords differ.', confirm.input);
    submit.disabled = true;
    progress.reset();
    try {
      const result = await register(session.connection, {
        invitation: invitation.input.value.trim(),
        username: name,
        displayName: displayName.input.value.trim() || undefined,
        password: password.input.value,
        memory: kdfMemory,
        onProgress: (p) => progress.update(p),
      });
      password.input.value = confirm.input.value = '';
      session.set(result.user, result.identity);
      showRecoveryCode(main, result.user, result.recoveryCode, () => navigate(homeOf(result.user)));
    } catch (e) {
      const text = {
        [AccountKind.CONFLICT]: 'The server refused: the invitation code is unknown, already used or expired, or the user name is taken. Check both, or ask for a new invitation.',
        [AccountKind.FORBIDDEN]: 'An invitation code is needed to create an account here.',
        [AccountKind.BAD_REQUEST]: 'The server refused the registration as malformed. Check the fields and try again.',
        [AccountKind.NETWORK]: 'The server does not answer. Check your network connection and try again.',
        [AccountKind.BUSY]: 'The server is busy right now. Wait a moment and try again.',
      }[e?.kind] ?? e?.message ?? 'Registration failed.';
      fail(text, e?.kind === AccountKind.CONFLICT ? invitation.input : undefined);
    } finally {
      submit.disabled = false;
    }
  });

  main.append(h('div', { class: 'row justify-content-center' },
    h('div', { class: 'col-12 col-md-10 col-lg-7' },
      h('div', { class: 'card shadow-sm' },
        h('div', { class: 'card-body p-4' },
          h('p', { class: 'text-body-secondary' },
            'Your keys are made in this browser. The server gets only your public keys and copies of your private keys locked with your password; it never sees the password.'),
          form)),
      h('p', { class: 'mt-3 text-center' }, 'Already have an account? ', h('a', { href: '/login', dataset: { link: '' } }, 'Sign in')))));
  (link.code ? username.input : invitation.input).focus();
}

/** A .txt download of text, made in memory (a blob: URL revoked right after the click). */
function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/plain;charset=utf-8' }));
  const a = h('a', { href: url, download: name, class: 'd-none' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** The recovery code, once: print or download it, then confirm having kept it to go on. */
function showRecoveryCode(main, user, code, done) {
  const made = new Date().toLocaleString('en-GB', { dateStyle: 'long', timeStyle: 'short' });
  const text = [
    'medcrypt recovery code',
    '',
    `Account: ${user.username}`,
    `Server:  ${location.origin}`,
    `Made:    ${made}`,
    '',
    `    ${code}`,
    '',
    'If you forget your password, this code is the only way back to the images shared with you.',
    'Keep it somewhere safe and private, away from your password. Anyone holding both can open your account.',
    '',
  ].join('\n');
  const kept = h('input', { id: 'reg-kept', type: 'checkbox', class: 'form-check-input' });
  const next = h('button', { type: 'button', class: 'btn btn-primary', disabled: true }, 'Continue');
  const status = h('div', { class: 'small text-body-secondary mt-2', 'aria-live': 'polite' });
  kept.addEventListener('change', () => {
    next.disabled = !kept.checked;
  });
  next.addEventListener('click', () => {
    if (!kept.checked) return;
    replaceChildren(main); // the code leaves the page before anything else happens
    done();
  });
  const printButton = h('button', { type: 'button', class: 'btn btn-outline-light', on: { click: () => {
    status.textContent = 'The print dialog shows only the code and its instructions.';
    window.print();
  } } }, 'Print');
  const downloadButton = h('button', { type: 'button', class: 'btn btn-outline-light', on: { click: () => {
    download(`medcrypt-recovery-${user.username}.txt`, text);
    status.textContent = `Downloaded as medcrypt-recovery-${user.username}.txt. Move it somewhere safe, off this computer.`;
  } } }, 'Download (.txt)');

  document.title = 'Your recovery code · medcrypt';
  replaceChildren(main,
    h('div', { class: 'row justify-content-center' },
      h('div', { class: 'col-12 col-md-9 col-lg-7' },
        h('h1', { class: 'h3 mb-3 mc-no-print' }, 'Save your recovery code'),
        h('div', { class: 'alert alert-warning mc-no-print' },
          h('strong', {}, 'Shown only now. '),
          'Your account is ready. If you forget your password, this code is the only way back to the images shared with you: nobody, not even the administrator, can restore it.'),
        h('section', { class: 'mc-print-area card card-body mb-3', 'aria-labelledby': 'recovery-title' },
          h('h2', { id: 'recovery-title', class: 'h5' }, 'medcrypt recovery code'),
          h('dl', { class: 'row small mb-2' },
            h('dt', { class: 'col-4 col-sm-3' }, 'Account'), h('dd', { class: 'col-8 col-sm-9 mb-1' }, user.username),
            h('dt', { class: 'col-4 col-sm-3' }, 'Server'), h('dd', { class: 'col-8 col-sm-9 mb-1' }, location.origin),
            h('dt', { class: 'col-4 col-sm-3' }, 'Made'), h('dd', { class: 'col-8 col-sm-9 mb-1' }, made)),
          h('p', { class: 'mc-recovery-code border rounded p-3 text-center mb-2', 'data-testid': 'recovery-code' }, code),
          h('p', { class: 'small mb-0' }, 'Keep it somewhere safe and private, away from your password: anyone holding both can open your account.')),
        h('div', { class: 'd-flex flex-wrap gap-2 mc-no-print' }, printButton, downloadButton),
        status,
        h('div', { class: 'form-check my-4 mc-no-print' }, kept,
          h('label', { for: 'reg-kept', class: 'form-check-label' }, 'I have saved my recovery code somewhere safe')),
        h('div', { class: 'mc-no-print' }, next))));
  announce('Your account is ready. Save your recovery code: it is shown only now.');
  main.focus({ preventScroll: true });
}
