/**
 * https.js: a fetch function for node tests against a real medcryptd: HTTPS through node:https
 * with the server's self-signed certificate as the only trusted CA (pinned; TLS verification
 * stays on, nothing is changed globally), TLS 1.3 only, a cookie jar standing in for the
 * browser's (the HttpOnly session cookie), and an optional local address, so that tests can log
 * in from 127.0.0.N and meet the server's per-address lockout separately.
 */
import https from 'node:https';

/**
 * A fetch(url, init) → Promise<Response> for one client: `ca` is the PEM certificate to trust,
 * `localAddress` the loopback address to connect from. URLs name the host the certificate names
 * (localhost); the connection goes to 127.0.0.1. `jar` is the cookie jar (a Map), exposed.
 */
export function pinnedFetch({ ca, localAddress }) {
  const jar = new Map();
  const agent = new https.Agent({ keepAlive: true, ca, minVersion: 'TLSv1.3', maxSockets: 4 });
  const fetch = (url, init = {}) => {
    const u = new URL(url);
    const headers = { ...(init.headers ?? {}), Host: u.host };
    if (jar.size) headers.Cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const body = init.body == null ? null : Buffer.from(init.body);
    if (body) headers['Content-Length'] = String(body.length);
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port: u.port,
          path: u.pathname + u.search,
          method: init.method ?? 'GET',
          headers,
          servername: u.hostname,
          ca,
          minVersion: 'TLSv1.3',
          agent,
          localAddress,
        },
        (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            for (const line of res.headers['set-cookie'] ?? []) {
              const [pair, ...attrs] = line.split(';');
              const eq = pair.indexOf('=');
              const name = pair.slice(0, eq).trim();
              const value = pair.slice(eq + 1).trim();
              if (!value || attrs.some((a) => /^\s*max-age=0\s*$/i.test(a))) jar.delete(name);
              else jar.set(name, value);
            }
            const h = new Headers();
            for (const [k, v] of Object.entries(res.headers)) if (k !== 'set-cookie') h.set(k, Array.isArray(v) ? v.join(', ') : v);
            const status = res.statusCode;
            resolve(new Response(status === 204 || status === 304 || init.method === 'HEAD' ? null : Buffer.concat(chunks), { status, headers: h }));
          });
        },
      );
      req.on('error', reject);
      req.end(body ?? undefined);
    });
  };
  fetch.jar = jar;
  fetch.close = () => agent.destroy();
  return fetch;
}
