// "Загрузить транзакции" (spec 8.1.6): a CSV upload with the upload's progress, then the import
// job's progress (polled), its summary ("Imported 25 transactions, 2 errors") and the row error
// report.
import {call, poll, upload} from './api.js';
import {field, h, screen, segment, set_status, show_field_errors, status_line} from './ui.js';

// A labelled progress bar with its percentage read out as it changes.
function progress_bar(label) {
  const bar = h('progress', {max: '1', value: '0'});
  const text = h('span', {class: 'muted'}, '0%');
  const box = h('div', {class: 'progress', hidden: true}, field({label, control: bar}), text);
  return {box, set(share) {
    box.hidden = false;
    bar.value = share;
    text.textContent = `${Math.round(share * 100)}%`;
  }};
}

// The finished job: summary and the rows that were not imported.
function report(job) {
  if (job.status === 'failed') return h('p', {class: 'error', role: 'alert'}, `❌ ${job.error}`);
  const rows = job.error_report.map((e) => h('li', {}, `${e.row}: ${e.reason}`));
  return h('div', {},
    h('p', {class: job.errors ? 'status bad' : 'status ok'}, job.summary),
    rows.length ? h('section', {class: 'card'}, h('h2', {}, 'Ошибки в строках'), h('ul', {class: 'errors'}, rows)) : null);
}

// The upload screen of a business.
export async function show(business_id) {
  const business = await call('GET', `/businesses/${segment(business_id)}`);
  const file = h('input', {type: 'file', name: 'file', accept: '.csv,text/csv'});
  const sending = progress_bar('Загрузка файла');
  const importing = progress_bar('Обработка');
  const line = status_line();
  const result = h('div', {});
  const button = h('button', {type: 'submit'}, 'Загрузить');
  const form = h('form', {class: 'card', novalidate: true},
    field({label: 'CSV-файл', control: file, name: 'file', required: true,
      hint: 'Колонки date (YYYY-MM-DD HH:MM:SS), customer_phone (+7XXXXXXXXXX), amount, ' +
            'description (необязательно); до 10 МБ.'}),
    button, sending.box, importing.box, line);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!file.files.length) {
      show_field_errors(form, [{field: 'file', message: 'Выберите CSV-файл'}]);
      return;
    }
    show_field_errors(form, []);
    if (button.getAttribute('aria-disabled') === 'true') return;
    button.setAttribute('aria-disabled', 'true');
    result.replaceChildren();
    set_status(line, 'Загрузка файла…', {busy: true});
    try {
      const started = await upload(`/businesses/${segment(business.id)}/csv`, file.files[0], sending.set);
      set_status(line, 'Обработка…', {busy: true});
      const job = await poll(`/imports/${segment(started.id)}`, (j) => j.status !== 'running',
        (j) => importing.set(j.progress));
      set_status(line, job.status === 'done' ? 'Готово' : 'Импорт не удался', {tone: job.status === 'done' ? 'ok' : 'bad'});
      result.replaceChildren(report(job));
    } catch (error) {
      set_status(line, `❌ ${error.message}`, {tone: 'bad'});
    } finally {
      button.removeAttribute('aria-disabled');
    }
  });
  return screen(`Загрузить транзакции — ${business.name}`,
    h('p', {}, h('a', {href: `#/b/${segment(business.id)}`}, '← Интеграции')), form, result);
}
