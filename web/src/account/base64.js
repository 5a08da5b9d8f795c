/**
 * base64.js: standard base64 with padding (RFC 4648 §4), as docs/API.md §12 puts binary values
 * in JSON. Decoding is strict like the CLI's b64_decode: only the canonical encoding (no
 * whitespace, no stray bits in the last character) is accepted, so one value has one spelling.
 */

/** The base64 of bytes. */
export function b64encode(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** The bytes of a canonical base64 string, or null when it is not one. */
export function b64decode(text) {
  if (typeof text !== 'string' || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  let bin;
  try {
    bin = atob(text);
  } catch {
    return null;
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return b64encode(out) === text ? out : null;
}
