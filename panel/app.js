// The panel's entry: a router on location.hash that draws one screen at a time, sends to the
// sign-in screen without a key (or when the key is refused), and shows "not found" for what the
// API does not let this key see.
import {api_key, sign_out} from './api.js';
import {h, screen, take_flash} from './ui.js';
import * as businesses from './businesses.js';
import * as integrations from './integrations.js';
import * as login from './login.js';
import * as logs from './logs.js';
import * as sandbox from './sandbox.js';
import * as settings from './settings.js';
import * as stats from './stats.js';
import * as upload from './upload.js';

// Hash pattern → screen; captures are URL-decoded and passed in order.
const routes = [
  [/^#\/login$/, login.show],
  [/^(?:#\/?)?$/, businesses.show],
  [/^#\/b\/([^/]+)$/, integrations.show],
  [/^#\/b\/([^/]+)\/new$/, settings.show_new],
  [/^#\/b\/([^/]+)\/upload$/, upload.show],
  [/^#\/i\/([^/]+)$/, settings.show_existing],
  [/^#\/i\/([^/]+)\/logs$/, logs.show],
  [/^#\/i\/([^/]+)\/stats$/, stats.show],
  [/^#\/sandbox$/, sandbox.show],
];

const main = document.getElementById('main');
const nav = document.getElementById('nav');
let generation = 0;  // the latest navigation; an older one that finishes late draws nothing
let last_business = '';  // the business last on screen, where the header's upload link goes

// What to draw when a screen failed.
function failure_view(error) {
  if (error.status === 404) {
    return screen('Не найдено', h('p', {class: 'error'}, `Не найдено (not found): ${error.message}`),
      h('p', {}, h('a', {href: '#/'}, 'К списку интеграций')));
  }
  return screen('Ошибка', h('p', {class: 'error', role: 'alert'}, error.message));
}

// The upload link of the header points at the business on screen, when there is one.
function update_nav(hash) {
  nav.hidden = !api_key();
  const business = /^#\/b\/([^/]+)/.exec(hash);
  if (business) last_business = business[1];
  const link = document.getElementById('nav-upload');
  link.href = last_business ? `#/b/${last_business}/upload` : '#/';
  for (const a of nav.querySelectorAll('a')) {
    const current = a.getAttribute('href') === hash || (a.id === 'nav-upload' && /\/upload$/.test(hash));
    if (current) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
}

// Draws the screen of location.hash.
async function route() {
  const token = ++generation;
  let hash = location.hash;
  if (!api_key() && hash !== '#/login') {
    location.replace('#/login');
    return;
  }
  update_nav(hash);
  const match = routes.map(([pattern, show]) => [pattern.exec(hash), show]).find(([m]) => m);
  let view;
  try {
    if (!match) throw Object.assign(new Error(`страница ${hash}`), {status: 404});
    const [captures, show] = match;
    view = await show(...captures.slice(1).map(decodeURIComponent));
  } catch (error) {
    if (error.status === 401) {
      sign_out();
      location.replace('#/login');
      return;
    }
    view = failure_view(error);
  }
  if (token !== generation || !view) return;
  const message = take_flash();
  if (message) view.querySelector('h1').after(h('p', {class: 'status ok', role: 'status'}, message));
  main.replaceChildren(view);
  view.querySelector('h1').focus();
}

document.getElementById('sign-out').addEventListener('click', () => {
  sign_out();
  last_business = '';
  location.hash = '#/login';
});
window.addEventListener('hashchange', route);
route();
