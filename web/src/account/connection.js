/**
 * connection.js: one client's link to a medcryptd (docs/API.md §12) over a `fetch`-like function
 * the caller passes in, so the browser (its own fetch, which keeps the HttpOnly session cookie)
 * and node tests (a pinned-certificate HTTPS wrapper with a cookie jar) share the protocol code.
 * It keeps the session's CSRF token and sends it as `X-CSRF-Token` on every POST, PATCH and
 * DELETE that has a session, turns an unexpected answer into an McError of an account kind
 * (errors.js) and never follows a redirect.
 *
 * The fetch function is called as fetch(url, {method, headers, body, credentials, redirect,
 * cache}) and must resolve to a Response-like object: `status`, `headers.get(name)`, `text()`
 * and `arrayBuffer()`.
 */
import { McError, Kind } from '../container/errors.js';
import { AccountKind, accountError, httpError } from './errors.js';

const STATE_CHANGING = new Set(['POST', 'PATCH', 'DELETE']);

/** A connection to one server. */
export class Connection {
  #fetch;
  #base;
  #credentials;

  /**
   * @param {object} options
   * @param {Function} [options.fetch] the fetch-like function (default: globalThis.fetch)
   * @param {string} [options.baseUrl] the server's URL, "https://host:port" ('' for the page's own origin)
   * @param {string} [options.credentials] fetch's credentials mode (default 'same-origin')
   * @param {Function} [options.sleep] waits ms milliseconds (for the busy retries; tests shorten it)
   */
  constructor({ fetch = globalThis.fetch?.bind(globalThis), baseUrl = '', credentials = 'same-origin', sleep } = {}) {
    if (typeof fetch !== 'function') throw new McError(Kind.MISUSE, 'a Connection needs a fetch function');
    this.#fetch = fetch;
    this.#base = baseUrl.replace(/\/+$/, '');
    this.#credentials = credentials;
    this.sleep = sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    /** The session's CSRF token (from login, registration or /me), or null without a session. */
    this.csrfToken = null;
  }

  /** The server's origin ("https://host:port"), the key under which KDF parameters are remembered. */
  get origin() {
    try {
      return new URL(this.#base || '/', globalThis.location?.href).origin;
    } catch {
      throw new McError(Kind.MISUSE, 'the Connection has no absolute baseUrl and there is no page origin');
    }
  }

  /**
   * One request. `json` is sent as the JSON body; `body` (bytes) as application/octet-stream.
   * The answer must have a status in `expect` (default [200]), else McError from httpError().
   * `as` is 'json' (default: the parsed body, null for 204), 'bytes' (a Uint8Array) or 'none'.
   * `csrf: false` leaves out the CSRF token (pre-login, login and registration have no session).
   * Resolves to `{status, body, headers}`. `what` names the request in error messages.
   */
  async request(method, path, { json, body, expect = [200], as = 'json', csrf = true, what = `${method} ${path}`, headers = {} } = {}) {
    const h = { Accept: as === 'bytes' ? 'application/octet-stream' : 'application/json', ...headers };
    let payload = body;
    if (json !== undefined) {
      h['Content-Type'] = 'application/json';
      payload = JSON.stringify(json);
    } else if (body !== undefined) {
      h['Content-Type'] = 'application/octet-stream';
    }
    if (csrf && this.csrfToken && STATE_CHANGING.has(method)) h['X-CSRF-Token'] = this.csrfToken;
    let res;
    try {
      res = await this.#fetch(this.#base + path, {
        method,
        headers: h,
        body: payload,
        credentials: this.#credentials,
        redirect: 'error',
        cache: 'no-store',
      });
    } catch (e) {
      throw accountError(AccountKind.NETWORK, `${what}: no answer from the server`, {}, { cause: e });
    }
    const status = res.status;
    if (!expect.includes(status)) {
      let errBody = null;
      try {
        errBody = JSON.parse(await res.text());
      } catch {
        // not JSON: the status alone decides
      }
      const header = Number.parseInt(res.headers.get('Retry-After') ?? '', 10);
      const retryAfter = Number.isFinite(header) ? header : Number.isSafeInteger(errBody?.retry_after) ? errBody.retry_after : undefined;
      const err = httpError(what, status, errBody, retryAfter);
      err.body = errBody;
      throw err;
    }
    if (as === 'bytes') return { status, body: new Uint8Array(await res.arrayBuffer()), headers: res.headers };
    if (as === 'none' || status === 204) return { status, body: null, headers: res.headers };
    const text = await res.text();
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw accountError(AccountKind.SERVER, `${what}: malformed answer from the server`, { status });
    }
    return { status, body: parsed, headers: res.headers };
  }
}
