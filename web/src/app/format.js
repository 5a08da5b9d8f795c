/*
 * format.js: numbers as the pages show them, one way everywhere (the send page, the worker's
 * messages, the inbox and the view page). No DOM, so the Web Worker imports it too.
 */

/** A byte count as people read it, in binary units: "512 B", "1.5 KiB", "23 MiB". */
export function formatSize(n) {
  if (!Number.isFinite(n)) return '';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = -1;
  do {
    v /= 1024;
    u++;
  } while (v >= 1024 && u < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}
