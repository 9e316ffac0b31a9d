// "Логи" (spec 8.3.3): an integration's last 100 log lines, newest first, filtered by type, each
// with its raw data on demand, and older pages through next_before.
import {call} from './api.js';
import {action_button, field, h, integration_tabs, screen, segment, set_status, status_line,
  time_element, unique_id} from './ui.js';

const TYPES = [['', 'Все'], ['success', 'Успешные'], ['error', 'Ошибки'], ['warning', 'Предупреждения']];

// One log line: time, TYPE, message and, when there is one, a button showing the raw data.
function line_row(line) {
  let raw = null;
  if (line.raw_data !== null && line.raw_data !== undefined) {
    const id = unique_id('raw');
    const data = h('pre', {id, class: 'raw', hidden: true},
      typeof line.raw_data === 'string' ? line.raw_data : JSON.stringify(line.raw_data, null, 2));
    const toggle = h('button', {type: 'button', class: 'link', 'aria-expanded': 'false',
      'aria-controls': id}, 'Показать данные');
    toggle.addEventListener('click', () => {
      const open = data.hidden;
      data.hidden = !open;
      toggle.setAttribute('aria-expanded', String(open));
      toggle.textContent = open ? 'Скрыть данные' : 'Показать данные';
    });
    raw = [toggle, data];
  }
  return h('li', {class: `log ${line.type}`},
    h('span', {class: 'log-time'}, time_element(line.created_at)),
    h('span', {class: `log-type ${line.type}`}, line.type.toUpperCase()),
    h('span', {class: 'log-message'}, line.message,
      line.error_type ? h('span', {class: 'muted'}, ` (${line.error_type})`) : null),
    raw);
}

// The logs screen of an integration.
export async function show(id) {
  const integration = await call('GET', `/integrations/${segment(id)}`);
  const filter = h('select', {name: 'type'}, TYPES.map(([value, label]) => h('option', {value}, label)));
  const list = h('ol', {class: 'logs', 'aria-label': 'Записи журнала'});
  const line = status_line();
  let next_before = null;
  const more = action_button('Более старые', () => load(true), {class: 'secondary', hidden: true});

  // Loads the first page (or, with older, the page after the last one shown).
  async function load(older) {
    const query = new URLSearchParams({limit: '100'});
    if (filter.value) query.set('type', filter.value);
    if (older && next_before !== null) query.set('before', String(next_before));
    set_status(line, 'Загрузка…', {busy: true});
    try {
      const page = await call('GET', `/integrations/${segment(id)}/logs?${query}`);
      if (!older) list.replaceChildren();
      list.append(...page.logs.map(line_row));
      next_before = page.next_before;
      more.hidden = next_before === null;
      const shown = list.children.length;
      set_status(line, shown ? `Показано записей: ${shown}` : 'Записей нет');
    } catch (error) {
      set_status(line, `❌ ${error.message}`, {tone: 'bad'});
    }
  }
  filter.addEventListener('change', () => load(false));
  await load(false);
  return screen(`Логи: ${integration.id}`,
    integration_tabs(integration.id, '/logs'),
    h('div', {class: 'toolbar'}, field({label: 'Тип записей', control: filter, name: 'type'})),
    line, list, more);
}
