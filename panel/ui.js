// Small DOM helpers shared by the screens: element building (text only, never HTML), labelled
// form fields with hints and errors tied by aria-describedby, status lines, times and numbers.

// An element: h('p', {class: 'x', for: 'id'}, 'text', child). Attributes starting with "on" are
// event listeners; false or null attributes and children are left out.
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on')) {
      element.addEventListener(name.slice(2), value);
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(element, children);
  return element;
}

// Appends children (strings, nodes, nested arrays; null and false skipped).
export function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === false || child === undefined) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

let next_id = 0;
// An id unique in the page, for label and aria-describedby links.
export function unique_id(prefix) {
  next_id += 1;
  return `${prefix}-${next_id}`;
}

// A labelled field: the label, the control, an optional hint and a hidden error line, both tied
// to the control through aria-describedby. name (data-field) is what field errors refer to.
export function field({label, control, hint = '', name = '', required = false, inline = false}) {
  const id = control.id || unique_id('field');
  control.id = id;
  const hint_id = `${id}-hint`;
  const error_id = `${id}-error`;
  control.setAttribute('aria-describedby', hint ? `${hint_id} ${error_id}` : error_id);
  if (required) control.setAttribute('required', '');
  const label_element = h('label', {for: id}, label);
  // The required mark is drawn by the stylesheet; the control's required attribute says it.
  const classes = ['field', inline ? 'inline' : '', required ? 'required' : ''].filter(Boolean);
  return h('div', {class: classes.join(' '), 'data-field': name},
    inline ? [control, label_element] : [label_element, control],
    hint ? h('p', {class: 'hint', id: hint_id}, hint) : null,
    h('p', {class: 'field-error', id: error_id, hidden: true}));
}

// Clears every field error of a form.
export function clear_field_errors(form) {
  for (const error of form.querySelectorAll('.field-error')) {
    error.textContent = '';
    error.hidden = true;
  }
  for (const control of form.querySelectorAll('[aria-invalid]')) control.removeAttribute('aria-invalid');
}

// Shows each {field, message} next to the field it names ("request.url" belongs to "request");
// returns the errors no field of the form claims. Focuses the first field in error.
export function show_field_errors(form, errors) {
  clear_field_errors(form);
  const unclaimed = [];
  let first = null;
  for (const {field: name = '', message = ''} of errors) {
    const top = name.split(/[.[]/)[0];
    const box = [...form.querySelectorAll('[data-field]')].find(
      (element) => element.dataset.field === name || element.dataset.field === top);
    if (!box) {
      unclaimed.push(name ? `${name}: ${message}` : message);
      continue;
    }
    const error = box.querySelector('.field-error');
    const text = name === box.dataset.field ? message : `${name}: ${message}`;
    error.textContent = error.textContent ? `${error.textContent}; ${text}` : text;
    error.hidden = false;
    const control = box.querySelector('input, select, textarea');
    control.setAttribute('aria-invalid', 'true');
    first = first || control;
  }
  if (first) first.focus();
  return unclaimed;
}

// A status line read out by screen readers when it changes (spinner while busy).
export function status_line() {
  return h('p', {class: 'status', role: 'status', 'aria-live': 'polite'});
}

// Sets a status line's text; busy shows the spinner, tone colours it ("ok" or "bad").
export function set_status(line, text, {busy = false, tone = ''} = {}) {
  line.replaceChildren(busy ? h('span', {class: 'spinner', 'aria-hidden': 'true'}) : '', text);
  line.className = `status ${tone}`.trim();
  line.setAttribute('aria-busy', busy ? 'true' : 'false');
}

// A button that ignores presses while its action runs (aria-disabled keeps it focusable, so a
// keyboard user does not lose their place).
export function action_button(label, action, attributes = {}) {
  const button = h('button', {type: 'button', ...attributes}, label);
  button.addEventListener('click', async () => {
    if (button.getAttribute('aria-disabled') === 'true') return;
    button.setAttribute('aria-disabled', 'true');
    try {
      await action(button);
    } finally {
      button.removeAttribute('aria-disabled');
    }
  });
  return button;
}

// "2025-11-17 14:10" in the browser's time zone, as the spec's log lines read.
export function format_time(iso) {
  if (!iso) return '';
  const t = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ` +
         `${pad(t.getHours())}:${pad(t.getMinutes())}`;
}

// A <time> element showing format_time.
export function time_element(iso) {
  return h('time', {datetime: iso}, format_time(iso));
}

// "5 минут назад".
export function relative_time(iso, now = Date.now()) {
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  const format = new Intl.RelativeTimeFormat('ru', {numeric: 'auto'});
  const units = [['day', 86400], ['hour', 3600], ['minute', 60]];
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size) return format.format(Math.trunc(seconds / size), unit);
  }
  return format.format(seconds, 'second');
}

// "1 245".
export function format_count(n) {
  return Number(n).toLocaleString('ru-RU');
}

// A URL path segment.
export function segment(text) {
  return encodeURIComponent(text);
}

// The screen's frame: its heading (focused on arrival, so screen readers start there) and body.
export function screen(title, ...children) {
  document.title = `${title} — crmsync`;
  return h('section', {class: 'screen'}, h('h1', {tabindex: '-1'}, title), children);
}

// Says text through the page's live region.
export function announce(text) {
  const region = document.getElementById('announce');
  region.textContent = '';
  region.textContent = text;
}

// A message for the next screen (after a navigation), shown once.
let pending_flash = '';
export function flash(text) {
  pending_flash = text;
}
export function take_flash() {
  const text = pending_flash;
  pending_flash = '';
  return text;
}

// An integration's tabs: settings, logs, statistics.
export function integration_tabs(id, current) {
  const tabs = [['', 'Настройки'], ['/logs', 'Логи'], ['/stats', 'Статистика интеграции']];
  return h('nav', {class: 'tabs', 'aria-label': 'Интеграция'},
    tabs.map(([suffix, label]) => h('a', {href: `#/i/${segment(id)}${suffix}`,
      'aria-current': suffix === current ? 'page' : false}, label)));
}
