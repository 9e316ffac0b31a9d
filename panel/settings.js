// An integration's settings (spec 8.3.1, 8.3.2): a form drawn from the connector's JSON Schema
// (GET /plugins), to create an integration for a business or change one. Secrets are write-only:
// a stored one shows as "set" and is sent only when typed. Errors of a 422 appear next to their
// fields. "Test Connection" runs the connector's health check on the saved settings.
import {call} from './api.js';
import {
  action_button, clear_field_errors, field, flash, h, integration_tabs, screen, segment,
  set_status, show_field_errors, status_line,
} from './ui.js';

// Whether a connector is configured through this form: the CSV connector takes uploads
// ("Загрузить транзакции") instead.
const has_settings_form = (plugin) => plugin.id !== 'csv';

// A schema property's main JSON type.
function type_of(property) {
  const type = Array.isArray(property.type) ? property.type.find((t) => t !== 'null') : property.type;
  return type || (property.properties ? 'object' : 'string');
}

// The control of one setting and how to read its value back.
// read() → {value} to send, {unset: true} when left empty, or {error} when it cannot be read.
function control_for(name, property, secret) {
  const type = type_of(property);
  if (secret) {
    const input = h('input', {type: 'password', name, autocomplete: 'new-password'});
    return {input, read: () => (input.value ? {value: input.value} : {unset: true})};
  }
  if (Array.isArray(property.enum)) {
    const select = h('select', {name}, h('option', {value: ''}, '—'),
      property.enum.map((option) => h('option', {value: JSON.stringify(option)}, String(option))));
    return {input: select, read: () => (select.value ? {value: JSON.parse(select.value)} : {unset: true}),
            fill: (v) => { select.value = JSON.stringify(v); }};
  }
  if (type === 'boolean') {
    const input = h('input', {type: 'checkbox', name});
    return {input, boolean: true, read: () => ({value: input.checked}),
            fill: (v) => { input.checked = v === true; }};
  }
  if (type === 'object' || type === 'array') {
    const area = h('textarea', {name, rows: 4, spellcheck: 'false'});
    return {input: area, fill: (v) => { area.value = JSON.stringify(v, null, 2); },
            read: () => {
              if (!area.value.trim()) return {unset: true};
              try {
                return {value: JSON.parse(area.value)};
              } catch (e) {
                return {error: `не JSON: ${e.message}`};
              }
            }};
  }
  const numeric = type === 'integer' || type === 'number';
  const input = h('input', {type: 'text', name, inputmode: numeric ? 'numeric' : false,
    placeholder: property.default !== undefined ? String(property.default) : false});
  // A number that does not parse is sent as typed, so that the schema's own message explains it.
  return {input, fill: (v) => { input.value = String(v); },
          read: () => {
            const text = input.value.trim();
            if (!text) return {unset: true};
            if (numeric && text !== '' && Number.isFinite(Number(text))) return {value: Number(text)};
            return {value: text};
          }};
}

// The form's settings fields for a connector, filled from an integration when there is one.
function settings_fields(plugin, integration) {
  const schema = plugin.config_schema || {};
  const required = new Set(schema.required || []);
  const secrets = new Set(plugin.secret_fields || []);
  const stored = integration ? integration.settings : {};
  const stored_secrets = integration ? integration.secrets : {};
  const fields = [];
  // Required settings first, then the rest by name (the schema's own order does not survive
  // the API's JSON).
  const entries = Object.entries(schema.properties || {}).sort(([a], [b]) =>
    Number(required.has(b)) - Number(required.has(a)) || a.localeCompare(b));
  for (const [name, property] of entries) {
    const secret = secrets.has(name) || property['x-secret'] === true;
    const control = control_for(name, property, secret);
    let hint = property.description || '';
    if (secret && stored_secrets[name]) {
      control.input.placeholder = 'set';
      hint = `${hint}${hint ? '. ' : ''}Задан (set): введите новое значение, чтобы заменить.`;
    }
    if (!secret && stored[name] !== undefined && control.fill) control.fill(stored[name]);
    const initial = secret ? undefined : stored[name];
    fields.push({name, secret, control, initial,
      default_value: property.default,
      element: field({label: property.title || name, control: control.input, name, hint,
        required: required.has(name), inline: control.boolean})});
  }
  return fields;
}

// The settings to send: everything filled in for a new integration; for an existing one only
// what changed (null removes a setting), secrets only when typed. errors lists unreadable fields.
function collect(fields, existing) {
  const settings = {};
  const errors = [];
  for (const f of fields) {
    const read = f.control.read();
    if (read.error) {
      errors.push({field: f.name, message: read.error});
      continue;
    }
    if (f.secret) {
      if (!read.unset) settings[f.name] = read.value;
      continue;
    }
    const before = existing ? f.initial : undefined;
    if (f.control.boolean) {
      const was = before ?? f.default_value ?? false;
      if (read.value !== was) settings[f.name] = read.value;
    } else if (read.unset) {
      if (before !== undefined) settings[f.name] = null;
    } else if (JSON.stringify(read.value) !== JSON.stringify(before)) {
      settings[f.name] = read.value;
    }
  }
  return {settings, errors};
}

// The settings form for plugin; integration is null for a new one of business_id.
function settings_form(plugin, integration, business_id, extra_fields = []) {
  const fields = settings_fields(plugin, integration);
  const active = h('input', {type: 'checkbox', name: 'active'});
  active.checked = integration ? integration.active : true;
  const line = status_line();
  let dirty = false;
  const form = h('form', {class: 'card', novalidate: true},
    extra_fields,
    h('fieldset', {}, h('legend', {}, `Настройки ${plugin.name}`), fields.map((f) => f.element)),
    field({label: 'Активна (синхронизируется по расписанию)', control: active, name: 'active', inline: true}),
    h('p', {class: 'form-error', role: 'alert', hidden: true}),
    h('div', {class: 'toolbar'},
      action_button('Test Connection', async () => {
        if (!integration) {
          set_status(line, 'Сначала сохраните настройки: проверяется сохранённое подключение.', {tone: 'bad'});
          return;
        }
        if (dirty) {
          set_status(line, 'Сохраните изменения: проверяются сохранённые настройки.', {tone: 'bad'});
          return;
        }
        set_status(line, 'Проверка подключения…', {busy: true});
        try {
          const answer = await call('POST', `/integrations/${segment(integration.id)}/test`);
          set_status(line, answer.message, {tone: answer.ok ? 'ok' : 'bad'});
        } catch (error) {
          set_status(line, `❌ ${error.message}`, {tone: 'bad'});
        }
      }, {class: 'secondary'}),
      h('button', {type: 'submit'}, 'Save Settings')),
    line);
  form.addEventListener('input', () => { dirty = true; });
  const form_error = form.querySelector('.form-error');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clear_field_errors(form);
    form_error.hidden = true;
    const {settings, errors} = collect(fields, integration);
    if (errors.length) {
      show_field_errors(form, errors);
      return;
    }
    set_status(line, 'Сохранение…', {busy: true});
    try {
      if (integration) {
        const body = {settings};
        if (active.checked !== integration.active) body.active = active.checked;
        await call('PATCH', `/integrations/${segment(integration.id)}`, body);
        flash('✅ Настройки сохранены');
        // Redrawn from the stored state (secrets typed are cleared, "set" shown).
        window.dispatchEvent(new HashChangeEvent('hashchange'));
      } else {
        const id = form.querySelector('[name="id"]').value.trim();
        const body = {crm_type: plugin.id, settings, active: active.checked};
        if (id) body.id = id;
        const created = await call('POST', `/businesses/${segment(business_id)}/integrations`, body);
        flash('✅ Настройки сохранены');
        location.hash = `#/i/${segment(created.id)}`;
      }
    } catch (error) {
      set_status(line, '');
      const unclaimed = error.fields && error.fields.length ? show_field_errors(form, error.fields) : [];
      // A custom connector refused by its live trial: the trial's counts (the sandbox has more).
      const trial = error.body && error.body.sandbox;
      const details = trial
        ? ` (пробный запуск: ${trial.ok} без ошибок, ${trial.skipped} пропущено, ${trial.errors} с ошибками)`
        : '';
      form_error.textContent = [`❌ ${error.message}${details}`, ...unclaimed].join('; ');
      form_error.hidden = false;
    }
  });
  return form;
}

// A new integration for a business: pick the CRM, then fill its settings.
export async function show_new(business_id) {
  const [business, {plugins}] = await Promise.all([
    call('GET', `/businesses/${segment(business_id)}`), call('GET', '/plugins')]);
  const choices = plugins.filter(has_settings_form);
  const picker = h('select', {name: 'crm_type'},
    choices.map((p) => h('option', {value: p.id}, p.name)));
  const holder = h('div', {});
  const draw = () => {
    const plugin = choices.find((p) => p.id === picker.value);
    const id = h('input', {type: 'text', name: 'id', placeholder: `${business.id}-${plugin.id}`});
    holder.replaceChildren(settings_form(plugin, null, business.id,
      [field({label: 'Идентификатор интеграции', control: id, name: 'id',
              hint: 'Необязательно: по умолчанию бизнес и CRM через дефис.'})]));
  };
  picker.addEventListener('change', draw);
  if (choices.length) draw();
  return screen(`Новая интеграция — ${business.name}`,
    h('p', {}, h('a', {href: `#/b/${segment(business.id)}`}, '← Интеграции')),
    field({label: 'CRM', control: picker, name: 'crm_type'}), holder);
}

// An existing integration's settings.
export async function show_existing(id) {
  const [integration, {plugins}] = await Promise.all([
    call('GET', `/integrations/${segment(id)}`), call('GET', '/plugins')]);
  const plugin = plugins.find((p) => p.id === integration.crm_type);
  const body = plugin
    ? settings_form(plugin, integration, integration.business_id)
    : h('p', {class: 'error'}, `Коннектор ${integration.crm_type} не загружен.`);
  return screen(`${plugin ? plugin.name : integration.crm_type}: ${integration.id}`,
    h('p', {}, h('a', {href: `#/b/${segment(integration.business_id)}`}, '← Интеграции')),
    integration_tabs(integration.id, ''), body);
}
