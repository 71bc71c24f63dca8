// Police console: login, live alarm list over Server-Sent Events, acknowledge / dispatch,
// line-lost banners, an alarm sound while anything is unacknowledged. Plain browser JS, no
// build step. Every value from the server goes into the page as text (never as HTML), and
// only http(s) links become links.
import { applyStatic, getLang, setLang, t } from './i18n.js';

const $ = (id) => document.getElementById(id);

const state = {
  user: null,
  alarms: new Map(), // id -> alarm
  lines: new Map(), // account -> latest line event
  accounts: new Map(), // account -> name
  /** server clock minus browser clock, so counters agree with the station's time */
  offsetMs: 0,
  events: null,
  muted: false,
  audio: null,
};

// ---------- small DOM helpers ----------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function safeUrl(url) {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.toString() : undefined;
  } catch {
    return undefined;
  }
}

const pad = (n) => String(n).padStart(2, '0');

function clock(ms) {
  if (ms === undefined) return '';
  const d = new Date(ms);
  const today = new Date();
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return d.toDateString() === today.toDateString() ? time : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

export function formatElapsed(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d > 0) return `${d}d ${pad(h)}:${pad(m)}:${pad(sec)}`;
  if (h > 0) return `${h}:${pad(m)}:${pad(sec)}`;
  return `${pad(m)}:${pad(sec)}`;
}

const serverNow = () => Date.now() + state.offsetMs;

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  if (res.status !== 204) data = await res.json().catch(() => null);
  return { status: res.status, ok: res.ok, data, headers: res.headers };
}

// ---------- views ----------

function show(view) {
  document.body.dataset.view = view;
  $('login-view').hidden = view !== 'login';
  $('board-view').hidden = view !== 'board';
  $('logout').hidden = view !== 'board';
  $('mute').hidden = view !== 'board';
  $('conn').hidden = view !== 'board';
}

function showLogin(message) {
  stopEvents();
  state.user = null;
  state.alarms.clear();
  state.lines.clear();
  $('who').textContent = '';
  $('login-password').value = '';
  const err = $('login-error');
  err.hidden = !message;
  err.textContent = message ?? '';
  updateSound();
  show('login');
  $('login-username').focus();
}

function showBoard(user) {
  state.user = user;
  $('who').textContent = `${user.username} · ${t(`role${user.role[0].toUpperCase()}${user.role.slice(1)}`)}`;
  $('users').hidden = user.role !== 'admin';
  $('first-admin').hidden = true;
  show('board');
  if (user.role === 'admin') void loadUsers();
  startEvents();
}

// ---------- login ----------

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  // The click that logs in is the user gesture browsers want before they let a page make sound.
  unlockAudio();
  const username = $('login-username').value.trim();
  const password = $('login-password').value;
  $('login-submit').disabled = true;
  try {
    const r = await api('POST', '/api/auth/login', { username, password });
    if (r.ok && r.data.user.role !== 'police' && r.data.user.role !== 'admin') {
      await api('POST', '/api/auth/logout').catch(() => undefined);
      showLogin(t('roleNotAllowed'));
      return;
    }
    if (r.ok) {
      showBoard(r.data.user);
      if (r.data.user.username === 'admin') $('first-admin').hidden = false;
      return;
    }
    const code = r.data?.error?.code;
    if (code === 'SW_ERR_LOGIN_FAILED') showLogin(t('loginFailed'));
    else if (code === 'SW_ERR_RATE_LIMITED') showLogin(t('loginLimited', { s: r.headers.get('retry-after') ?? '60' }));
    else showLogin(t('loginError', { msg: r.data?.error?.message ?? r.status }));
  } catch (err) {
    showLogin(t('loginError', { msg: err.message }));
  } finally {
    $('login-submit').disabled = false;
  }
});

$('logout').addEventListener('click', async () => {
  await api('POST', '/api/auth/logout').catch(() => undefined);
  showLogin();
});

$('lang').addEventListener('click', () => {
  setLang(getLang() === 'zh' ? 'en' : 'zh');
  applyStatic();
  document.title = t('title');
  if (state.user) {
    $('who').textContent = `${state.user.username} · ${t(`role${state.user.role[0].toUpperCase()}${state.user.role.slice(1)}`)}`;
    renderAll();
  }
  updateSound();
});

// ---------- live events ----------

function setConn(up) {
  const c = $('conn');
  c.textContent = up ? t('live') : t('reconnecting');
  c.classList.toggle('down', !up);
  document.body.dataset.live = up ? 'true' : 'false';
}

function stopEvents() {
  if (state.events) state.events.close();
  state.events = null;
}

function startEvents() {
  stopEvents();
  const es = new EventSource('/api/events');
  state.events = es;
  es.addEventListener('open', () => setConn(true));
  es.addEventListener('snapshot', (e) => {
    const d = JSON.parse(e.data);
    state.offsetMs = d.now - Date.now();
    state.alarms = new Map(d.alarms.map((a) => [a.id, a]));
    state.accounts = new Map(d.accounts.map((a) => [a.account, a.name]));
    state.lines = new Map(d.lines.map((l) => [l.account, l]));
    renderAll();
  });
  es.addEventListener('alarm', (e) => {
    const d = JSON.parse(e.data);
    state.offsetMs = d.now - Date.now();
    state.alarms.set(d.alarm.id, d.alarm);
    renderAll();
  });
  es.addEventListener('line', (e) => {
    const d = JSON.parse(e.data);
    state.lines.set(d.line.account, d.line);
    renderLines();
  });
  es.addEventListener('logout', () => showLogin());
  es.addEventListener('error', async () => {
    setConn(false);
    if (es.readyState !== EventSource.CLOSED) return; // the browser is already retrying
    // Closed for good: a 401 (session over) or the server is gone. Ask which.
    const me = await api('GET', '/api/auth/me').catch(() => ({ status: 0 }));
    if (state.events !== es) return;
    if (me.status === 401) showLogin();
    else setTimeout(() => state.events === es && startEvents(), 2000);
  });
}

// ---------- rendering ----------

function renderAll() {
  renderLines();
  renderAlarms();
  updateSound();
}

function renderLines() {
  const box = $('lines');
  box.replaceChildren();
  for (const line of [...state.lines.values()].sort((a, b) => a.account.localeCompare(b.account))) {
    if (line.event !== 'lost') continue;
    const name = state.accounts.get(line.account);
    box.append(
      el('div', { class: 'line-lost', role: 'alert', dataset: { account: line.account } }, `⚠ ${t('lineLost', { account: line.account, name: name ? `（${name}）` : '', time: clock(line.at) })}`),
    );
  }
}

const sorted = () => [...state.alarms.values()].sort((a, b) => b.id - a.id);

function renderAlarms() {
  const list = sorted();
  $('empty').hidden = list.length > 0;
  $('alarms').replaceChildren(...list.map(card));
  const open = list.filter(needsOfficer).length;
  document.title = open > 0 ? `(${open}) ${t('title')}` : t('title');
  tick();
}

const needsOfficer = (a) => a.state === 'new' && a.kind === 'alarm' && a.severity === 'alarm';

function stateText(a) {
  if (a.state === 'dispatched') return t('stateDispatched', { by: a.dispatchedBy, time: clock(a.dispatchedAt) });
  if (a.state === 'acknowledged') return t('stateAcknowledged', { by: a.ackBy, time: clock(a.ackAt) });
  return t('stateNew');
}

function deliveryText(a) {
  if (!a.deliveries || a.deliveries.length === 0) return undefined;
  const last = a.deliveries[a.deliveries.length - 1];
  if (a.deliveries.every((d) => d.status === 'delivered')) return t('deliveryDelivered');
  if (last.status === 'expired') return t('deliveryExpired', { err: last.lastError ?? '' });
  return t('deliveryPending', { n: Math.max(...a.deliveries.map((d) => d.attempts)) });
}

function card(a) {
  const zh = getLang() === 'zh';
  const name = zh ? a.name.zh : a.name.en;
  const loc = a.location ?? {};
  const code = [a.code.cid !== undefined ? `CID ${String(a.code.cid).padStart(3, '0')}` : null, a.code.sia ? `SIA ${a.code.sia}` : null].filter(Boolean).join(' / ');
  const place = [loc.building && `${t('building')} ${loc.building}`, loc.floor && `${t('floor')} ${loc.floor}`, loc.room && `${t('room')} ${loc.room}`].filter(Boolean).join(' · ');
  const accountName = a.accountName ?? state.accounts.get(a.account);
  const facts = [];
  const fact = (label, value) => value !== undefined && value !== '' && facts.push(el('dt', {}, label), el('dd', {}, value));
  fact(t('address'), loc.address);
  fact(t('device'), loc.device);
  fact(t('account'), `${a.account}${accountName ? `（${accountName}）` : ''}${a.zone !== undefined ? ` · ${t('zone')} ${String(a.zone).padStart(3, '0')}` : ''}${a.group !== undefined ? ` · ${t('group')} ${a.group}` : ''}`);
  if (loc.lat !== undefined && loc.lon !== undefined) {
    const map = safeUrl(`https://www.openstreetmap.org/?mlat=${loc.lat}&mlon=${loc.lon}#map=18/${loc.lat}/${loc.lon}`);
    fact(t('coordinates'), el('span', { class: 'coords' }, `${loc.lat.toFixed(6)}, ${loc.lon.toFixed(6)} `, map ? el('a', { href: map, target: '_blank', rel: 'noopener noreferrer' }, t('map')) : null));
  }
  const camera = a.cameraUrl ? safeUrl(a.cameraUrl) : undefined;
  if (camera) fact(t('camera'), el('a', { class: 'camera', href: camera, target: '_blank', rel: 'noopener noreferrer' }, camera));
  fact(t('pressedAt'), clock(a.pressedAt));
  fact(t('receivedAt'), clock(a.firstSeen));
  fact(t('via'), `${a.intakes.map((i) => (i === 'dc09' ? 'DC-09' : i.toUpperCase())).join(' + ')}${a.copies > 1 ? ` · ${t('copies', { n: a.copies })}` : ''}`);

  const delivery = deliveryText(a);
  const actions = el(
    'div',
    { class: 'actions' },
    a.state === 'new' ? el('button', { type: 'button', class: 'ack', onclick: () => act(a.id, 'acknowledged') }, t('ack')) : null,
    a.state !== 'dispatched' ? el('button', { type: 'button', class: 'dispatch', onclick: () => act(a.id, 'dispatched') }, t('dispatch')) : null,
    el('span', { class: 'state' }, stateText(a)),
    delivery ? el('span', { class: 'delivery' }, delivery) : null,
    el('span', { class: 'act-error error', hidden: true }),
  );

  return el(
    'article',
    { class: `card alarm sev-${a.severity} state-${a.state} kind-${a.kind}`, dataset: { id: String(a.id), state: a.state } },
    el(
      'div',
      { class: 'alarm-head' },
      el(
        'h2',
        { class: 'alarm-name' },
        name,
        el('span', { class: 'badge' }, code),
        a.kind === 'restore' ? el('span', { class: 'badge' }, t('restore')) : null,
        a.silent ? el('span', { class: 'badge' }, t('silent')) : null,
      ),
      el('span', { class: 'elapsed-box' }, `${t('elapsed')} `, el('span', { class: 'elapsed', dataset: { pressed: String(a.pressedAt) } }, formatElapsed(serverNow() - a.pressedAt))),
    ),
    place ? el('p', { class: 'where' }, place) : null,
    el('dl', { class: 'facts' }, facts),
    actions,
  );
}

async function act(id, action) {
  unlockAudio();
  const node = document.querySelector(`article[data-id="${id}"]`);
  for (const b of node?.querySelectorAll('button') ?? []) b.disabled = true;
  const r = await api('POST', `/api/alarms/${id}/ack`, { action }).catch((err) => ({ ok: false, data: { error: { message: err.message } } }));
  if (r.status === 401) return showLogin();
  if (r.ok) {
    state.alarms.set(r.data.alarm.id, r.data.alarm);
    renderAll();
    return;
  }
  const msg = r.data?.error?.message ?? String(r.status);
  const current = document.querySelector(`article[data-id="${id}"] .act-error`);
  if (current) {
    current.hidden = false;
    current.textContent = t('ackFailed', { msg });
  }
  for (const b of node?.querySelectorAll('button') ?? []) b.disabled = false;
}

/** Once a second: the "time since press" counters. */
function tick() {
  const now = serverNow();
  for (const span of document.querySelectorAll('.elapsed')) span.textContent = formatElapsed(now - Number(span.dataset.pressed));
}
setInterval(tick, 1000);

// ---------- sound ----------

function unlockAudio() {
  try {
    if (!state.audio) state.audio = new AudioContext();
    if (state.audio.state === 'suspended') void state.audio.resume().then(updateSound);
  } catch {
    // No WebAudio: the visual alarm remains.
  }
  updateSound();
}

function beep() {
  const ctx = state.audio;
  if (!ctx || ctx.state !== 'running') return;
  const t0 = ctx.currentTime;
  for (const [offset, freq] of [[0, 880], [0.25, 660]]) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = 'square';
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, t0 + offset);
    gain.gain.exponentialRampToValueAtTime(0.25, t0 + offset + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t0 + offset + 0.2);
    osc.connect(gain).connect(ctx.destination);
    osc.start(t0 + offset);
    osc.stop(t0 + offset + 0.22);
  }
}

let beepTimer = null;

function updateSound() {
  const pending = state.user !== null && [...state.alarms.values()].some(needsOfficer);
  const running = state.audio?.state === 'running';
  const sounding = pending && !state.muted;
  document.body.dataset.sounding = String(sounding);
  document.body.dataset.audio = state.muted ? 'muted' : running ? 'running' : 'off';
  $('enable-sound').hidden = !(sounding && !running);
  $('mute').textContent = state.muted ? t('unmute') : t('mute');
  if (sounding && !beepTimer) {
    beep();
    beepTimer = setInterval(beep, 1200);
  } else if (!sounding && beepTimer) {
    clearInterval(beepTimer);
    beepTimer = null;
  }
}

$('mute').addEventListener('click', () => {
  state.muted = !state.muted;
  unlockAudio();
});
$('enable-sound').addEventListener('click', () => unlockAudio());

// ---------- settings: own password, users (admin) ----------

$('password-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const r = await api('POST', '/api/auth/password', { current: $('pw-current').value, next: $('pw-next').value });
  $('pw-result').textContent = r.ok ? t('saved') : (r.data?.error?.message ?? String(r.status));
  if (r.ok) {
    $('pw-current').value = '';
    $('pw-next').value = '';
    $('first-admin').hidden = true;
  }
});

async function loadUsers() {
  const r = await api('GET', '/api/users');
  if (!r.ok) return;
  $('user-list').replaceChildren(
    ...r.data.users.map((u) =>
      el(
        'li',
        {},
        el('span', {}, u.username),
        el('span', { class: 'result' }, t(`role${u.role[0].toUpperCase()}${u.role.slice(1)}`)),
        u.username.toLowerCase() === state.user?.username.toLowerCase()
          ? null
          : el('button', {
              type: 'button',
              onclick: async () => {
                const d = await api('DELETE', `/api/users/${encodeURIComponent(u.username)}`);
                $('user-result').textContent = d.ok ? t('saved') : (d.data?.error?.message ?? String(d.status));
                void loadUsers();
              },
            }, t('delete')),
      ),
    ),
  );
}

$('user-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const r = await api('POST', '/api/users', { username: $('user-name').value.trim(), password: $('user-password').value, role: $('user-role').value });
  $('user-result').textContent = r.ok ? t('saved') : (r.data?.error?.message ?? String(r.status));
  if (r.ok) {
    $('user-name').value = '';
    $('user-password').value = '';
    void loadUsers();
  }
});

// ---------- start ----------

setLang(getLang());
applyStatic();
document.title = t('title');
const me = await api('GET', '/api/auth/me').catch(() => ({ ok: false }));
if (me.ok && (me.data.user.role === 'police' || me.data.user.role === 'admin')) showBoard(me.data.user);
else showLogin();
