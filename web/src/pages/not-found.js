/** not-found.js: a path that is none of the client's routes. */
import { h } from '../app/dom.js';
import { pageStart } from '../app/shell.js';

export async function render(main) {
  pageStart(main, 'Page not found');
  main.append(h('p', {}, 'There is no page here. ', h('a', { href: '/', dataset: { link: '' } }, 'Go to the start page'), '.'));
}
