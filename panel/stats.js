// "Статистика интеграции" (spec 8.3.5): the five figures, and a chart of synced transactions and
// failed runs per day over 30 days drawn by hand as inline SVG (a chart library would be the
// largest file of the panel for two rows of bars).
import {call} from './api.js';
import {format_count, h, integration_tabs, relative_time, screen, segment, time_element} from './ui.js';

const SVG = 'http://www.w3.org/2000/svg';

// An SVG element with attributes and children.
function s(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  element.append(...children);
  return element;
}

// "17.11" for "2025-11-17".
function short_date(date) {
  const [, month, day] = date.split('-');
  return `${day}.${month}`;
}

// Two rows of bars over the same days: synced transactions (tall) and failed runs (short), each
// scaled to its own maximum and titled; every bar has a tooltip, and a table gives the numbers.
function chart(daily) {
  const width = 600;
  const left = 36;
  const step = (width - left) / daily.length;
  const top = {y: 22, height: 120};
  const bottom = {y: 182, height: 40};
  const max_synced = Math.max(1, ...daily.map((d) => d.synced));
  const max_failed = Math.max(1, ...daily.map((d) => d.failed_runs));
  const svg = s('svg', {viewBox: `0 0 ${width} 250`, class: 'chart', role: 'img',
    'aria-label': `Синхронизировано за 30 дней: ${format_count(daily.reduce((n, d) => n + d.synced, 0))}` +
      ` транзакций, неудачных запусков: ${daily.reduce((n, d) => n + d.failed_runs, 0)}`});
  svg.append(
    s('text', {x: left, y: top.y - 8, class: 'row-title'}, 'Синхронизировано транзакций'),
    s('text', {x: left, y: bottom.y - 8, class: 'row-title'}, 'Неудачные запуски'),
    s('text', {x: 0, y: top.y + 10, class: 'axis'}, String(max_synced)),
    s('text', {x: 0, y: bottom.y + 10, class: 'axis'}, String(max_failed)),
    s('line', {x1: left, x2: width, y1: top.y + top.height, y2: top.y + top.height, class: 'base'}),
    s('line', {x1: left, x2: width, y1: bottom.y + bottom.height, y2: bottom.y + bottom.height, class: 'base'}));
  daily.forEach((day, i) => {
    const x = left + i * step + 1;
    const tip = `${day.date}: ${day.synced} транзакций, неудачных запусков: ${day.failed_runs}`;
    const synced_height = (day.synced / max_synced) * top.height;
    const failed_height = (day.failed_runs / max_failed) * bottom.height;
    svg.append(
      s('rect', {x, y: top.y + top.height - synced_height, width: step - 2, height: synced_height,
        class: 'bar synced'}, s('title', {}, tip)),
      s('rect', {x, y: bottom.y + bottom.height - failed_height, width: step - 2,
        height: failed_height, class: 'bar failed'}, s('title', {}, tip)));
    // Every fifth day is labelled; the last one is right-aligned so that it stays inside.
    const last = i === daily.length - 1;
    if (i % 5 === 0 || last) {
      svg.append(s('text', {x: last ? width : x + step / 2, y: 246, class: 'axis',
        'text-anchor': last ? 'end' : 'middle'}, short_date(day.date)));
    }
  });
  const table = h('table', {class: 'compact'},
    h('thead', {}, h('tr', {}, ['День', 'Транзакций', 'Неудачных запусков'].map((t) => h('th', {scope: 'col'}, t)))),
    h('tbody', {}, daily.map((d) => h('tr', {}, h('td', {}, d.date), h('td', {}, d.synced), h('td', {}, d.failed_runs)))));
  return h('figure', {class: 'card'},
    h('figcaption', {}, 'По дням за 30 дней (UTC)'),
    svg,
    h('details', {}, h('summary', {}, 'Таблица по дням'), h('div', {class: 'table-box'}, table)));
}

// One figure of the list.
function figure(label, value) {
  return h('div', {class: 'figure'}, h('dt', {}, label), h('dd', {}, value));
}

// The statistics screen of an integration.
export async function show(id) {
  const [integration, stats] = await Promise.all([
    call('GET', `/integrations/${segment(id)}`), call('GET', `/integrations/${segment(id)}/stats`)]);
  const last = stats.last_successful_sync
    ? [relative_time(stats.last_successful_sync), ' (', time_element(stats.last_successful_sync), ')']
    : 'ещё не было';
  const figures = h('dl', {class: 'figures'},
    figure('Всего синхронизировано транзакций', format_count(stats.total_transactions)),
    figure('Последняя успешная синхронизация', last),
    figure('Успешность (30 дней)', stats.runs_30d > 0
      ? `${(stats.success_rate * 100).toFixed(1).replace('.', ',')}%` : 'запусков не было'),
    figure('Неудачных синхронизаций (30 дней)', format_count(stats.failed_syncs_30d)),
    figure('Среднее время синхронизации', stats.average_sync_ms === null
      ? '—' : `${(stats.average_sync_ms / 1000).toFixed(1).replace('.', ',')} с`));
  return screen(`Статистика интеграции: ${integration.id}`,
    integration_tabs(integration.id, '/stats'), figures, chart(stats.daily));
}
