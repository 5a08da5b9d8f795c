/**
 * events.js: the signed-in user's notices (GET /api/v1/events, docs/API.md §17a) through one
 * EventSource for the whole page, opened while someone is signed in and subscribed, closed at
 * sign-out. A notice carries only a type ("image", "revoked", "consent", "message"), an id and a time: no protected
 * health information, so a page re-reads what it shows from the API when one arrives. The
 * browser reconnects by itself after a dropped stream (with Last-Event-ID); subscribers also
 * hear "open" so they can re-read their lists after a gap.
 */
import { session } from './session.js';

const subscribers = new Set();
let source = null;

function dispatch(type, event) {
  let data = null;
  try {
    data = event?.data ? JSON.parse(event.data) : null;
  } catch {
    return; // not the shape of §17a: ignored
  }
  for (const fn of subscribers) fn(type, data);
}

function open() {
  if (source || !session.user || subscribers.size === 0 || typeof EventSource === 'undefined') return;
  source = new EventSource('/api/v1/events');
  source.addEventListener('open', () => dispatch('open', null));
  for (const type of ['image', 'revoked', 'consent', 'message']) source.addEventListener(type, (e) => dispatch(type, e));
  source.addEventListener('error', () => {
    // CLOSED: the server refused (401 after the session ended, 503 when busy); try again only
    // while still signed in, a little later.
    if (source?.readyState === EventSource.CLOSED) {
      source = null;
      setTimeout(open, 10000);
    }
  });
}

function close() {
  source?.close();
  source = null;
}

session.listeners.add((s) => (s.user ? open() : close()));

/**
 * Calls fn(type, data) for every notice ("image", "revoked", "consent", "message" with data {id, at}) and on every
 * (re)connection ("open", data null) while signed in. Returns the function that unsubscribes;
 * the stream closes when nobody listens.
 */
export function subscribe(fn) {
  subscribers.add(fn);
  open();
  return () => {
    subscribers.delete(fn);
    if (subscribers.size === 0) close();
  };
}
