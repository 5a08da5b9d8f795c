/**
 * dom.js: builds DOM nodes without HTML strings, so nothing a server or a user typed is ever
 * parsed as markup (and no inline style or handler can slip into a page the CSP would refuse).
 */

/**
 * h(tag, attrs, ...children): an element. `attrs` are set with setAttribute, except `class`
 * (className), `dataset` (an object) and `on` (an object of event listeners). Children are
 * nodes or strings (as text); null, undefined and false are skipped; arrays are flattened.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'class') el.className = value;
    else if (name === 'dataset') Object.assign(el.dataset, value);
    else if (name === 'on') for (const [event, fn] of Object.entries(value)) el.addEventListener(event, fn);
    else if (name === 'style') throw new Error('dom: no inline style (the CSP refuses it); use a class');
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces every child of el with the given children. */
export function replaceChildren(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/**
 * A labelled form field (Bootstrap `form-floating` would need a placeholder; a plain label
 * reads better with screen readers): returns {group, input}. `hint` becomes the field's
 * description (aria-describedby).
 */
export function field({ id, label, type = 'text', autocomplete, required = true, hint, ...rest }) {
  const hintId = hint ? `${id}-hint` : null;
  const input = h('input', { id, name: id, type, class: 'form-control', autocomplete, required, 'aria-describedby': hintId, ...rest });
  const group = h('div', { class: 'mb-3' },
    h('label', { for: id, class: 'form-label' }, label),
    input,
    hint && h('div', { id: hintId, class: 'form-text' }, hint));
  return { group, input };
}
