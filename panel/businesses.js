// The businesses this key may see; a key that sees one (a business owner) goes straight to it.
import {call} from './api.js';
import {h, screen, segment} from './ui.js';

// The list of businesses, or straight to the only one.
export async function show() {
  const {businesses} = await call('GET', '/businesses');
  if (businesses.length === 1) {
    location.replace(`#/b/${segment(businesses[0].id)}`);
    return null;
  }
  const items = businesses.map((b) => h('li', {class: 'card'},
    h('h2', {}, h('a', {href: `#/b/${segment(b.id)}`}, b.name)),
    h('p', {class: 'muted'}, `${b.id} · ${b.timezone} · ${b.currency}`),
    h('p', {}, h('a', {href: `#/b/${segment(b.id)}/upload`}, 'Загрузить транзакции'))));
  return screen('Бизнесы',
    items.length ? h('ul', {class: 'cards'}, items) : h('p', {}, 'Бизнесов пока нет.'));
}
