// Sign-in: an API key (csk_…), checked against the API and kept in sessionStorage.
import {call, sign_in, sign_out} from './api.js';
import {h, field, screen, show_field_errors} from './ui.js';

// The sign-in form; a refused key is reported at its field.
export async function show() {
  const input = h('input', {type: 'password', name: 'key', autocomplete: 'off', spellcheck: 'false'});
  const form = h('form', {class: 'card narrow', novalidate: true},
    field({label: 'API-ключ', control: input, name: 'key', required: true,
           hint: 'Ключ вида csk_…, выданный командой crmsync api-key create.'}),
    h('button', {type: 'submit'}, 'Войти'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) {
      show_field_errors(form, [{field: 'key', message: 'Введите API-ключ'}]);
      return;
    }
    sign_in(key);
    try {
      await call('GET', '/businesses');
    } catch (error) {
      sign_out();
      const message = error.status === 401 ? 'Ключ не принят' : error.message;
      show_field_errors(form, [{field: 'key', message}]);
      return;
    }
    location.hash = '#/';
  });
  return screen('Вход', form);
}
