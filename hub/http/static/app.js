// Hash routes: #/login, #/ (overview and centre list, its state in the query
// part), #/centre/<matricule>. The hub serves only this page and its JSON API.
import { api, setUnauthorizedHandler } from './api.js';
import { centreListView } from './centre-list-view.js';
import { centreView } from './centre-view.js';
import { h, replace } from './dom.js';
import { loginView } from './login-view.js';
import { overviewView } from './overview-view.js';

const main = document.getElementById('main');
const userBox = document.getElementById('user');
let user = null;
let home = null; // the overview page, kept while only its list's query changes
let returnTo = '#/';

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = raw.split('?');
  return { path, params: Object.fromEntries(new URLSearchParams(query)) };
}

/** Changes the list's query; `replaceHistory` for typing in the search box, so Back is not one step per letter. */
function navigate(changes, replaceHistory = false) {
  const { params } = parseHash();
  const next = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...params, ...changes })) if (v !== '' && v !== undefined && v !== null) next.set(k, v);
  const hash = `#/${next.toString() ? `?${next}` : ''}`;
  if (replaceHistory) {
    history.replaceState(null, '', hash);
    route();
  } else {
    location.hash = hash;
  }
}

function renderUser() {
  if (!user) return replace(userBox);
  replace(userBox,
    h('span', { class: 'who' }, user.username, h('span', { class: 'role' }, user.role === 'admin' ? 'Administrator' : user.cities ? `Viewer · ${user.cities.join(', ')}` : 'Viewer')),
    h('button', { type: 'button', class: 'ghost', id: 'logout', onclick: logout }, 'Log out'));
}

async function logout() {
  try {
    await api('/api/logout', { method: 'POST', body: {} });
  } catch {
    // The session may have ended already; the log-in page is where we go anyway.
  }
  user = null;
  home = null;
  renderUser();
  location.hash = '#/login';
}

setUnauthorizedHandler(() => {
  user = null;
  home = null;
  renderUser();
  const { path } = parseHash();
  if (path !== '/login') {
    returnTo = location.hash || '#/';
    location.hash = '#/login';
  }
});

async function route() {
  const { path, params } = parseHash();
  if (path === '/login') {
    home = null;
    document.title = 'Log in · Tamtam hub';
    replace(main, loginView((u) => {
      user = u;
      renderUser();
      location.hash = returnTo === '#/login' ? '#/' : returnTo;
      returnTo = '#/';
    }));
    return;
  }
  if (!user) {
    try {
      user = (await api('/api/me')).user;
      renderUser();
    } catch {
      return; // 401: the handler went to the log-in page
    }
  }
  const centre = /^\/centre\/(.+)$/.exec(path);
  if (centre) {
    home = null;
    const matricule = decodeURIComponent(centre[1]);
    document.title = `${matricule} · Tamtam hub`;
    const view = centreView(matricule, user);
    replace(main, view.element);
    window.scrollTo(0, 0);
    await view.load();
    return;
  }
  document.title = 'Centres · Tamtam hub';
  if (!home) {
    const overview = overviewView();
    const list = centreListView(navigate);
    home = { list };
    replace(main, overview.element, list.element);
    overview.load();
  }
  await home.list.update(params);
}

window.addEventListener('hashchange', route);
route();
