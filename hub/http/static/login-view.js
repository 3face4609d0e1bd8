import { api } from './api.js';
import { h } from './dom.js';

/** The log-in form; `onDone(user)` once the hub set the session cookie. */
export function loginView(onDone) {
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const username = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true, maxlength: 64 });
  const password = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true, maxlength: 1024 });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Log in');
  const form = h('form', { class: 'login-card', novalidate: true },
    h('div', { class: 'login-brand' }, h('span', { class: 'logo' }, 'T'), h('div', null, h('h1', null, 'Tamtam'), h('p', null, 'Central hub dashboard'))),
    h('label', { for: 'username' }, 'Name'), username,
    h('label', { for: 'password' }, 'Password'), password,
    error, submit,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    if (!username.value || !password.value) {
      error.textContent = 'Enter your name and password.';
      error.hidden = false;
      return;
    }
    submit.disabled = true;
    try {
      const { user } = await api('/api/login', { method: 'POST', body: { username: username.value, password: password.value } });
      onDone(user);
    } catch (e) {
      error.textContent = e.code === 'E_AUTH' && e.status === 401 ? 'Wrong name or password.' : e.message;
      error.hidden = false;
      password.value = '';
      password.focus();
    } finally {
      submit.disabled = false;
    }
  });
  queueMicrotask(() => username.focus());
  return h('div', { class: 'login-page' }, form);
}
