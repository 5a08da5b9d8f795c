/**
 * session.js: the one signed-in state of the page, kept in memory only. `user` is USER of
 * docs/API.md §13; `identity` the user's private keys as non-extractable CryptoKeys (from
 * src/account's login or register), present only after the password was typed in this page:
 * after a reload the session cookie may still be valid (`user` comes back from /me) but the keys
 * are gone until the user signs in again. The connection keeps the CSRF token.
 */
import { Connection } from '../account/index.js';

export const session = {
  connection: new Connection(),
  user: null,
  identity: null,
  listeners: new Set(),
  /** Sets user and identity (null for both: signed out) and tells the listeners. */
  set(user, identity = null) {
    this.user = user;
    this.identity = identity;
    for (const fn of this.listeners) fn(this);
  },
};

/**
 * Where the client remembers each account's KDF parameters (src/account/memory.js), so a
 * server cannot quietly weaken them: localStorage, which holds no secret (salts and Argon2id
 * parameters are public on the server too).
 */
export const kdfMemory = {
  get: (key) => globalThis.localStorage?.getItem(key) ?? null,
  set: (key, value) => globalThis.localStorage?.setItem(key, value),
};
