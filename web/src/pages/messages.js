/**
 * messages.js: conversations (/messages, docs/API.md §16b, issue 12) through src/app/messages.js.
 * The threads the user is in, newest first, with unread counts; a thread's messages, each fetched,
 * decrypted and its signature checked against the sender's key in the directory in this page,
 * oldest first, received ones marked read once shown; a reply, and a new conversation with someone
 * the user may talk to (a doctor with doctors and technicians; a doctor and a patient while the
 * patient has appointed the doctor or approved their consent). The server stores sealed bytes
 * only; a new message arrives live (`message` event).
 */
import { h, replaceChildren } from '../app/dom.js';
import { subscribe } from '../app/events.js';
import { errorText, formatTime, loadDirectory, userLabel } from '../app/images.js';
import { TEXT_MAX, listMessages, markRead, openMessage, sendMessage } from '../app/messages.js';
import { session } from '../app/session.js';
import { announce, pageStart } from '../app/shell.js';

/** The other party of MESSAGE m. */
const otherOf = (m) => (m.direction === 'sent' ? m.to : m.from);

export async function render(main, { navigate }) {
  if (!session.user) {
    navigate('/login', { replace: true });
    return undefined;
  }
  const me = session.user;
  pageStart(main, 'Messages');
  if (!['doctor', 'patient', 'technician'].includes(me.role)) {
    main.append(h('div', { class: 'alert alert-warning', role: 'note' }, 'Messages are between doctors, patients and technicians.'));
    return undefined;
  }
  if (!session.identity) {
    main.append(h('div', { class: 'alert alert-info', role: 'note' },
      'Your keys are locked after a reload: messages are sealed and opened in this browser with them. ',
      h('a', { href: '/login', dataset: { link: '' } }, 'Sign in again'), ' to read them.'));
    return undefined;
  }
  let left = false;
  let users = [];
  let current = null; // {thread, other}
  const opened = new Map(); // message id -> {text} | {error}

  const status = h('div', { id: 'msg-status', class: 'small mb-2', role: 'status', 'aria-live': 'polite' });
  const say = (text, kind = '') => {
    status.className = `small mb-2 ${kind}`;
    status.textContent = text;
    announce(text);
  };
  const threads = h('div', { id: 'msg-threads', class: 'list-group' }, h('p', { class: 'text-body-secondary small' }, 'Loading…'));
  const to = h('select', { id: 'msg-to', class: 'form-select', required: true });
  const newText = h('textarea', { id: 'msg-new-text', class: 'form-control', rows: 3, required: true, 'aria-label': 'Message' });
  const newForm = h('form', { id: 'msg-new', class: 'card card-body mb-3', novalidate: true, 'aria-labelledby': 'msg-new-title' },
    h('h2', { id: 'msg-new-title', class: 'h6' }, 'New conversation'),
    h('label', { for: 'msg-to', class: 'form-label small' }, 'To'), to,
    h('label', { for: 'msg-new-text', class: 'form-label small mt-2' }, 'Message'), newText,
    h('button', { type: 'submit', class: 'btn btn-primary btn-sm mt-2' }, 'Seal and send'));
  const conversation = h('section', { id: 'msg-conversation', class: 'card', 'aria-labelledby': 'msg-conversation-title' },
    h('div', { class: 'card-body text-body-secondary' }, 'Choose a conversation, or start one.'));

  main.append(
    h('p', { class: 'text-body-secondary' }, 'Messages are encrypted in this browser for the two of you and signed; the server keeps only ciphertext.'),
    status,
    h('div', { class: 'row g-4' },
      h('div', { class: 'col-lg-4' }, newForm, h('h2', { class: 'h6' }, 'Conversations'), threads),
      h('div', { class: 'col-lg-8' }, conversation)));

  /** Who the user may start a conversation with (the server decides; this only narrows the list). */
  async function talkable() {
    const roles = { technician: ['doctor'], doctor: ['doctor', 'technician', 'patient'], patient: ['doctor'] }[me.role];
    let linked = null; // patients of a doctor, doctors of a patient
    if (me.role !== 'technician') {
      linked = new Set();
      const [appts, consents] = await Promise.all([
        session.connection.request('GET', '/api/v1/appointments').then((r) => r.body?.appointments ?? [], () => []),
        session.connection.request('GET', '/api/v1/consents?status=approved').then((r) => r.body?.consents ?? [], () => []),
      ]);
      for (const a of appts) linked.add(a.username);
      for (const c of consents) linked.add(me.role === 'doctor' ? c.patient : c.doctor);
    }
    return users.filter((u) => u.username !== me.username && roles.includes(u.role) &&
      (u.role === 'patient' || me.role === 'patient' ? linked?.has(u.username) : true));
  }

  async function loadThreads() {
    let list;
    try {
      [list, users] = await Promise.all([listMessages(), loadDirectory({ fresh: true })]);
    } catch (e) {
      replaceChildren(threads, h('div', { class: 'alert alert-danger', role: 'alert' }, `Could not list your messages: ${errorText(e)}`));
      return;
    }
    if (left) return;
    const byThread = new Map();
    for (const m of list) {
      const t = byThread.get(m.thread) ?? { thread: m.thread, other: otherOf(m), last: 0, unread: 0, count: 0 };
      t.last = Math.max(t.last, m.created);
      t.count++;
      if (m.direction === 'received' && !m.read_at) t.unread++;
      byThread.set(m.thread, t);
    }
    const sorted = [...byThread.values()].sort((a, b) => b.last - a.last);
    const can = await talkable().catch(() => []);
    const chosen = to.value;
    replaceChildren(to, h('option', { value: '' }, can.length ? 'Choose someone…' : 'No one you may write to yet'),
      can.map((u) => h('option', { value: u.username }, `${userLabel(u.username, users)} · ${u.role}`)));
    to.value = chosen;
    if (sorted.length === 0) {
      replaceChildren(threads, h('p', { class: 'text-body-secondary small mc-empty' }, 'No conversations yet.'));
      return;
    }
    replaceChildren(threads, sorted.map((t) => h('button', {
      type: 'button',
      class: `list-group-item list-group-item-action d-flex justify-content-between align-items-center${current?.thread === t.thread ? ' active' : ''}`,
      dataset: { thread: t.thread, user: t.other },
      'aria-current': current?.thread === t.thread ? 'true' : null,
      on: { click: () => openThread(t.thread, t.other) },
    },
    h('span', {}, h('span', { class: 'fw-semibold d-block' }, userLabel(t.other, users)),
      h('span', { class: `small${current?.thread === t.thread ? '' : ' text-body-secondary'}` }, `${t.count} message${t.count === 1 ? '' : 's'} · ${formatTime(t.last)}`)),
    t.unread > 0 && h('span', { class: 'badge text-bg-primary rounded-pill mc-unread' }, `${t.unread} new`))));
  }

  async function openThread(thread, other) {
    current = { thread, other };
    let list;
    try {
      list = (await listMessages({ thread })).reverse();
    } catch (e) {
      say(`Could not read the conversation: ${errorText(e)}`, 'text-danger-emphasis');
      return;
    }
    if (left || current?.thread !== thread) return;
    const party = users.find((u) => u.username === other);
    for (const m of list) {
      if (opened.has(m.id)) continue;
      const from = m.direction === 'sent' ? users.find((u) => u.username === me.username) : party;
      try {
        if (!from) throw new Error(`${m.from} is not in the directory: the signature cannot be checked`);
        opened.set(m.id, await openMessage(m.id, from));
      } catch (e) {
        opened.set(m.id, { error: errorText(e) });
      }
    }
    if (left || current?.thread !== thread) return;
    // A draft survives a re-render (a message arriving meanwhile redraws the conversation).
    const previous = conversation.querySelector('#msg-reply-text');
    const draft = previous && conversation.dataset.thread === thread ? previous.value : '';
    conversation.dataset.thread = thread;
    const replyText = h('textarea', { id: 'msg-reply-text', class: 'form-control', rows: 3, required: true, 'aria-label': `Reply to ${userLabel(other, users)}` });
    replyText.value = draft;
    const reply = h('form', { id: 'msg-reply', class: 'mt-3', novalidate: true },
      replyText, h('button', { type: 'submit', class: 'btn btn-primary btn-sm mt-2' }, 'Seal and send'));
    reply.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!party) return;
      await send(party, replyText.value, list[list.length - 1]?.id ?? null, () => {
        replyText.value = '';
      });
    });
    replaceChildren(conversation, h('div', { class: 'card-body' },
      h('h2', { id: 'msg-conversation-title', class: 'h5' }, 'With ', userLabel(other, users)),
      h('ol', { class: 'list-unstyled mb-0 mc-messages', id: 'msg-list' }, list.map((m) => {
        const o = opened.get(m.id);
        const mine = m.direction === 'sent';
        return h('li', { class: `mc-message p-2 mb-2 rounded border ${mine ? 'ms-5 bg-body-tertiary' : 'me-5'}`, dataset: { id: m.id, direction: m.direction } },
          h('div', { class: 'small text-body-secondary' }, mine ? 'You' : userLabel(m.from, users), ' · ', formatTime(m.created),
            mine ? (m.read_at ? ' · read' : ' · not read yet') : ''),
          o?.error
            ? h('div', { class: 'text-danger-emphasis small mc-message-error' }, `Does not open: ${o.error}`)
            : h('div', { class: 'mc-message-text' }, o?.text ?? ''));
      })),
      reply));
    for (const m of list) {
      if (m.direction === 'received' && !m.read_at && !opened.get(m.id)?.error) await markRead(m.id).catch(() => {});
    }
    await loadThreads();
  }

  async function send(user, text, replyTo, done) {
    say('Sealing and sending…');
    try {
      const sent = await sendMessage(user, text, { replyTo });
      done();
      say(`Sent to ${userLabel(user.username, users)}.`, 'text-success-emphasis');
      await openThread(sent.thread, user.username);
    } catch (e) {
      const code = e?.body?.error;
      say(code === 'may_not_message'
        ? `You and ${userLabel(user.username, users)} may not exchange messages: a doctor and a patient talk only while the patient has appointed the doctor or approved their consent.`
        : `Not sent: ${errorText(e)}`, 'text-danger-emphasis');
    }
  }

  newForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const user = users.find((u) => u.username === to.value);
    if (!user) {
      say('Choose whom to write to.', 'text-danger-emphasis');
      to.focus();
      return;
    }
    if (new TextEncoder().encode(newText.value).length > TEXT_MAX) {
      say(`At most ${TEXT_MAX} bytes.`, 'text-danger-emphasis');
      return;
    }
    await send(user, newText.value, null, () => {
      newText.value = '';
    });
  });

  const unsubscribe = subscribe((type) => {
    if (left || type !== 'message') return;
    if (current) openThread(current.thread, current.other);
    else loadThreads();
  });
  await loadThreads();
  return () => {
    left = true;
    unsubscribe();
    opened.clear();
  };
}
