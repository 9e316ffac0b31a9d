// The custom connector's sandbox (spec 8.1.7): settings as YAML or JSON and an optional sample
// response body, tried by POST /connectors/{connector}/test; the answer is a report per record.
// Nothing is stored.
import {call} from './api.js';
import {load as load_yaml} from './js-yaml.mjs';
import {field, h, screen, segment, set_status, show_field_errors, status_line} from './ui.js';

const EXAMPLE = `name: In-house
request:
  url: https://crm.example.com/api/orders?since={{ since }}
auth: {type: none}
mapping:
  external_id: $.id
  amount: $.total
  occurred_at: $.created_at
  customer_phone: $.client.phone
`;

// The per-record report as a table (cards on a phone).
function report_table(records) {
  const columns = [['external_id', 'ID'], ['status', 'Статус'], ['amount_minor', 'Сумма'],
    ['occurred_at', 'Время'], ['phone_e164', 'Телефон'], ['reason', 'Причина']];
  const cell = (record, key) => {
    if (key === 'amount_minor' && record.amount_minor !== undefined) {
      return `${(record.amount_minor / 100).toFixed(2)} ${record.currency || ''}`.trim();
    }
    return record[key] ?? '';
  };
  return h('div', {class: 'table-box'}, h('table', {class: 'stack'},
    h('caption', {class: 'visually-hidden'}, 'Записи пробного запуска'),
    h('thead', {}, h('tr', {}, columns.map(([, title]) => h('th', {scope: 'col'}, title)))),
    h('tbody', {}, records.map((record) => h('tr', {class: record.status},
      columns.map(([key, title]) => h('td', {'data-label': title}, String(cell(record, key)))))))));
}

// The sandbox screen.
export async function show() {
  const [{plugins}, {businesses}] = await Promise.all([call('GET', '/plugins'), call('GET', '/businesses')]);
  const connector = h('select', {name: 'connector'},
    plugins.filter((p) => p.id !== 'csv').map((p) => h('option', {value: p.id, selected: p.id === 'custom'}, p.name)));
  const business = h('select', {name: 'business_id'},
    businesses.map((b) => h('option', {value: b.id}, b.name)));
  const settings = h('textarea', {name: 'settings', rows: 12, spellcheck: 'false'});
  settings.value = EXAMPLE;
  const sample = h('textarea', {name: 'sample', rows: 8, spellcheck: 'false'});
  const line = status_line();
  const result = h('div', {});
  const form = h('form', {class: 'card', novalidate: true},
    field({label: 'Коннектор', control: connector, name: 'connector'}),
    field({label: 'Бизнес', control: business, name: 'business_id',
      hint: 'Его часовой пояс, регион и валюта применяются к записям.'}),
    field({label: 'Настройки (YAML или JSON)', control: settings, name: 'settings', required: true}),
    field({label: 'Пример ответа CRM', control: sample, name: 'sample',
      hint: 'Тело ответа (JSON или XML). Пусто — прочитать одну страницу из CRM.'}),
    h('button', {type: 'submit'}, 'Проверить'), line);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    result.replaceChildren();
    let parsed;
    try {
      parsed = load_yaml(settings.value);
    } catch (error) {
      show_field_errors(form, [{field: 'settings', message: `не YAML/JSON: ${error.reason || error.message}`}]);
      return;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      show_field_errors(form, [{field: 'settings', message: 'настройки должны быть объектом (ключ: значение)'}]);
      return;
    }
    show_field_errors(form, []);
    set_status(line, 'Проверка…', {busy: true});
    try {
      const report = await call('POST', `/connectors/${segment(connector.value)}/test`,
        {business_id: business.value, settings: parsed, sample: sample.value});
      if (report.error) {
        set_status(line, `❌ ${report.error}`, {tone: 'bad'});
        return;
      }
      const counts = `записей: ${report.ok} без ошибок, ${report.skipped} пропущено, ${report.errors} с ошибками`;
      set_status(line, report.passed ? `✅ Проверка пройдена, ${counts}` : `❌ Проверка не пройдена, ${counts}`,
        {tone: report.passed ? 'ok' : 'bad'});
      result.replaceChildren(report_table(report.records));
    } catch (error) {
      set_status(line, `❌ ${error.message}`, {tone: 'bad'});
      // Violations inside the settings are shown at the settings field, named by their path.
      if (error.fields.length) {
        show_field_errors(form, error.fields.map((f) => ({field: 'settings', message: `${f.field || 'settings'}: ${f.message}`})));
      }
    }
  });
  return screen('Песочница коннектора', form, result);
}
