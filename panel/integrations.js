// "Интеграции": a business's integrations with their status and last sync, and "Синхронизировать
// сейчас" (spec 8.2.2): the run is started, then polled until its summary says how many
// transactions it synced. A table on wide screens, stacked cards on a phone.
import {call, poll} from './api.js';
import {action_button, h, screen, segment, set_status, status_line, time_element} from './ui.js';

// Starts a sync of the integration and reports it on line until the run ends.
async function sync_now(integration, line, last_sync_cell) {
  set_status(line, 'Синхронизация…', {busy: true});
  try {
    const started = await call('POST', `/integrations/${segment(integration.id)}/sync`);
    const run = await poll(`/runs/${started.run_id}`, (r) => r.status !== 'running');
    set_status(line, run.summary, {tone: run.status === 'success' ? 'ok' : 'bad'});
    if (run.status === 'success' && run.finished_at) {
      last_sync_cell.replaceChildren(time_element(run.finished_at));
    }
  } catch (error) {
    const text = error.status === 409 ? 'Синхронизация уже идёт' : `❌ ${error.message}`;
    set_status(line, text, {tone: 'bad'});
  }
}

// One integration as a table row (a card on a phone: each cell carries its column's label).
function row(integration, names) {
  const href = `#/i/${segment(integration.id)}`;
  const line = status_line();
  const last_sync = h('td', {'data-label': 'Последняя синхронизация'},
    integration.last_sync_at ? time_element(integration.last_sync_at) : 'ещё не было');
  const failures = integration.consecutive_failures > 0
    ? h('span', {class: 'bad'}, ` · ошибок подряд: ${integration.consecutive_failures}`) : null;
  return h('tr', {},
    h('th', {scope: 'row', 'data-label': 'Интеграция'},
      h('a', {href}, names.get(integration.crm_type) || integration.crm_type),
      h('span', {class: 'muted block'}, integration.id)),
    h('td', {'data-label': 'Статус'},
      h('span', {class: integration.active ? 'badge ok' : 'badge'},
        integration.active ? 'Активна' : 'Отключена'), failures),
    last_sync,
    h('td', {'data-label': 'Действия', class: 'actions'},
      // The CSV connector reads nothing by itself: its sales arrive as uploads.
      integration.crm_type === 'csv'
        ? h('a', {class: 'button secondary', href: `#/b/${segment(integration.business_id)}/upload`},
          'Загрузить транзакции')
        : action_button('Синхронизировать сейчас', () => sync_now(integration, line, last_sync),
          {class: 'sync', 'data-integration': integration.id}),
      line,
      h('span', {class: 'links'},
        h('a', {href}, 'Настройки'), ' ',
        h('a', {href: `${href}/logs`}, 'Логи'), ' ',
        h('a', {href: `${href}/stats`}, 'Статистика'))));
}

// The integrations screen of a business.
export async function show(business_id) {
  const path = `/businesses/${segment(business_id)}`;
  const [business, {integrations}, {plugins}] = await Promise.all([
    call('GET', path), call('GET', `${path}/integrations`), call('GET', '/plugins')]);
  const names = new Map(plugins.map((p) => [p.id, p.name]));
  const actions = h('p', {class: 'toolbar'},
    h('a', {class: 'button', href: `#/b/${segment(business.id)}/new`}, 'Добавить интеграцию'),
    h('a', {class: 'button secondary', href: `#/b/${segment(business.id)}/upload`},
      'Загрузить транзакции'));
  const list = integrations.length === 0
    ? h('p', {}, 'Интеграций пока нет: добавьте первую.')
    : h('div', {class: 'table-box'}, h('table', {class: 'stack'},
      h('caption', {class: 'visually-hidden'}, `Интеграции: ${business.name}`),
      h('thead', {}, h('tr', {},
        ['Интеграция', 'Статус', 'Последняя синхронизация', 'Действия'].map(
          (title) => h('th', {scope: 'col'}, title)))),
      h('tbody', {}, integrations.map((i) => row(i, names)))));
  return screen(`Интеграции — ${business.name}`, actions, list);
}
