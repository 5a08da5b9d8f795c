/**
 * router.js: a small history-API router. Paths are the client's routes (/login, /inbox, ...);
 * medcryptd answers a reload of any of them with index.html (docs/API.md §20), so they are
 * real URLs. Links marked `data-link` are followed without a page load.
 */

/**
 * The route whose pattern matches path, `/images/:id` style (a `:name` segment matches one
 * non-empty segment, given decoded as params.name): [route, params], or null.
 */
function matchPattern(routes, path) {
  const segments = path.split('/');
  for (const [pattern, route] of Object.entries(routes)) {
    if (!pattern.includes(':')) continue;
    const parts = pattern.split('/');
    if (parts.length !== segments.length) continue;
    const params = {};
    let ok = true;
    for (let i = 0; ok && i < parts.length; i++) {
      if (parts[i].startsWith(':') && segments[i]) {
        try {
          params[parts[i].slice(1)] = decodeURIComponent(segments[i]);
        } catch {
          ok = false;
        }
      } else ok = parts[i] === segments[i];
    }
    if (ok) return [route, params];
  }
  return null;
}

/**
 * createRouter({routes, notFound, onNavigate}): routes maps a path (or a pattern with `:name`
 * segments, whose values come as the third argument) to an async function
 * `(path) => void` that renders it. Returns {start, navigate}: start() renders the current
 * location and listens to back/forward and to clicks on same-origin `a[data-link]`;
 * navigate(path, {replace}) changes the URL and renders.
 */
export function createRouter({ routes, notFound }) {
  let current = 0; // the render in progress; an older one that finishes late is ignored

  async function render() {
    const token = ++current;
    const path = location.pathname;
    let page = Object.hasOwn(routes, path) ? routes[path] : null;
    let params = {};
    if (!page) [page, params] = matchPattern(routes, path) ?? [notFound, {}];
    await page(path, () => token === current, params);
  }

  function navigate(path, { replace = false } = {}) {
    if (replace) history.replaceState(null, '', path);
    else if (path !== location.pathname) history.pushState(null, '', path);
    return render();
  }

  function start() {
    addEventListener('popstate', () => render());
    document.addEventListener('click', (event) => {
      const a = event.target instanceof Element ? event.target.closest('a[data-link]') : null;
      if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
      const url = new URL(a.href, location.href);
      if (url.origin !== location.origin) return;
      event.preventDefault();
      navigate(url.pathname);
    });
    return render();
  }

  return { start, navigate };
}
