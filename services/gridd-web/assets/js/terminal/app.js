// Entry point of the squad terminal (城管通): sign-in, the squad's task list kept live from the
// task feed, the task view with its actions, the queue of actions waiting for the network and
// the list of refused ones. Installed as an app (manifest + service worker), it opens without a
// network and shows what the device kept.

import './strings.js';
import * as api from '../api.js';
import { t, applyI18n, toggleLang, onLangChange, getLang } from '../i18n.js';
import { h, clear, fmtTime } from '../dom.js';
import { TicketStream } from '../stream.js';
import { SignIn, showApp, showPrincipal, boot } from '../signin.js';
import { openDb } from './db.js';
import { TaskStore } from './tasks.js';
import { Outbox } from './outbox.js';
import { TaskList } from './listview.js';
import { TaskView, conflictWording } from './taskview.js';
import { updateCountdown } from './common.js';
import { cityShapes } from './minimap.js';
import { alertNewTask, toast } from './notify.js';

const $ = (id) => document.getElementById(id);

const LIST_STATES = ['TICKET_STATE_DISPATCHED', 'TICKET_STATE_ACCEPTED', 'TICKET_STATE_IN_PROGRESS', 'TICKET_STATE_REWORK', 'TICKET_STATE_SUSPENDED'];
const RESYNC_MS = 5 * 60 * 1000;
const FRESH_MS = 2 * 60 * 1000; // a feed entry younger than this is news (older ones are catch-up)
const DOWN_GRACE_MS = 2500; // a reconnect shorter than this is not worth a banner
const OPERATIONS = { AcceptTask: 'accept', StartTask: 'start', ResolveTask: 'resolve', ReturnTask: 'return' };

const state = {
  generation: 0,
  running: false,
  db: null,
  streamUp: false,
  downSince: 0,
  synced: false,
  syncedAt: 0,
  feedRefused: null,
  shapes: null,
  squadName: '',
  openedFromList: false,
};

const store = new TaskStore();
const outbox = new Outbox({
  onApplied: (ticket) => { if (ticket && ticket.id) store.put(ticket); },
  onRefused: (item, err) => afterRefusal(item, err),
  onChange: () => outboxChanged(),
  onAuthLost: () => signin.ended(),
});
let signin = null;
let stream = null;
let list = null;
let view = null;
let ticker = 0;
let resyncTimer = 0;

// Hooks for the browser tests: what the member sees, as data.
const terminal = {
  ready: false,
  alerts: [],
  sw: 'none',
  tasks: () => store.list().map((tk) => ({ id: tk.id, version: String(tk.version || ''), state: tk.state, squadId: tk.squadId, stageDeadline: tk.stageDeadline || '' })),
  pending: () => outbox.items.map((i) => ({ actionId: i.actionId, ticketId: i.ticketId, action: i.action, expectedVersion: i.expectedVersion, photos: i.photos.length })),
  conflicts: () => outbox.conflicts.map((c) => ({ ...c })),
  seq: () => store.seq,
  streamUp: () => state.streamUp,
  lang: () => getLang(),
};
window.__terminal = terminal;

// ---- the app --------------------------------------------------------------------------------

async function startApp() {
  const gen = ++state.generation;
  const p = api.principal() || {};
  Object.assign(state, { running: true, streamUp: false, downSince: Date.now(), synced: false, syncedAt: 0, feedRefused: null, shapes: null, squadName: '' });
  terminal.ready = false;
  view.permitted = permittedActions();
  showApp();
  showUser();
  if (!p.squadId) {
    // Only squad members and leaders have a task feed.
    $('list-screen').hidden = false;
    $('task-screen').hidden = true;
    clear($('list-state')).append(h('div.panel-state.error', { role: 'alert', testid: 'not-squad' }, t('term.notSquad')));
    $('task-list').hidden = true;
    return;
  }
  const db = await openDb(p.subject || 'member');
  if (gen !== state.generation) return;
  state.db = db;
  state.squadName = (await db.get('kv', 'squadName').catch(() => '')) || '';
  showUser();
  await store.load(db, p.squadId);
  await outbox.load(db);
  if (gen !== state.generation) return;

  stream = new TicketStream({
    path: '/v1/watch/tasks',
    eventName: 'task',
    lastId: store.seq || null,
    startQuery: '?after=0', // a device with nothing kept wants the whole feed
    onTicketEvent: onTaskEvent,
    onStatus: (up) => { if (gen === state.generation) setStreamStatus(up); },
    onRefused: (err) => { state.feedRefused = err; renderBanners(); },
    onAuthLost: () => signin.ended(),
  });
  stream.start();
  outbox.start();
  loadShapes(gen);
  resync(gen);
  clearInterval(ticker);
  ticker = setInterval(tick, 1000);
  renderAll();
  route();
  terminal.ready = true;
}

function stopApp() {
  state.running = false;
  state.generation++;
  if (stream) stream.stop();
  stream = null;
  outbox.stop();
  store.clear();
  if (view) view.close();
  clearInterval(ticker);
  clearTimeout(resyncTimer);
  state.db = null;
  terminal.ready = false;
}

function showUser() {
  const { p } = showPrincipal();
  $('user-squad').textContent = state.squadName || p.squadId || '';
  $('user-squad').hidden = !p.squadId;
}

/** Actions the role may take at all (from the permissions the server listed at sign-in). */
function permittedActions() {
  const perms = (api.principal() || {}).permissions || [];
  if (!perms.length) return null;
  const set = new Set();
  for (const p of perms) {
    const op = String(p).split(/[\s(]/)[0];
    if (OPERATIONS[op]) set.add(OPERATIONS[op]);
  }
  return set;
}

// ---- the feed -------------------------------------------------------------------------------

function onTaskEvent(ev) {
  const before = ev.ticket ? store.get(ev.ticket.id) : null;
  const change = store.fold(ev);
  const fresh = Date.now() - (Date.parse(ev.at || '') || 0) < FRESH_MS;
  const news = (ev.kind === 'TASK_EVENT_KIND_ASSIGNED' && change.added)
    || (ev.kind === 'TASK_EVENT_KIND_REWORK' && (change.added || (before && before.state !== 'TICKET_STATE_REWORK')));
  if (news && fresh) {
    const how = alertNewTask();
    const tk = ev.ticket;
    terminal.alerts.push({ id: tk.id, kind: ev.kind, how, at: Date.now() });
    toast(t(ev.kind === 'TASK_EVENT_KIND_REWORK' ? 'term.reworkTask' : 'term.newTask', { category: tk.categoryName || tk.category || tk.id }), 'news');
  }
  if (!state.synced && store.tasks.size) markSynced();
}

function setStreamStatus(up) {
  const wasDown = !state.streamUp;
  state.streamUp = up;
  if (up) {
    state.feedRefused = null;
    state.downSince = 0;
    if (!state.synced) markSynced();
    outbox.flush();
    // Back after an outage: whatever left the squad without a feed entry (another member's
    // resolve) is found by a listing.
    if (wasDown && state.syncedAt) resyncSoon();
  } else if (!state.downSince) {
    state.downSince = Date.now();
  }
  renderAll();
}

function markSynced() {
  state.synced = true;
  state.syncedAt = Date.now();
  renderAll();
}

/** Lists the squad's open cases and folds them in (tasks that left unseen are removed). */
async function resync(gen) {
  clearTimeout(resyncTimer);
  resyncTimer = setTimeout(() => resync(gen), RESYNC_MS);
  if (navigator.onLine === false) return;
  const askedAt = Date.now();
  const squadId = (api.principal() || {}).squadId;
  let listed;
  try {
    listed = await api.dispatchAll('ListTickets', { states: LIST_STATES, squadId }, 'tickets', { pageSize: 200, maxPages: 20, stale: () => gen !== state.generation });
  } catch {
    return; // the feed alone keeps the list; the next listing may work
  }
  if (!listed) return;
  if (listed.more) return; // too many to be sure what is missing: keep what the feed says
  store.reconcile(listed.items, askedAt, (id) => outbox.pendingFor(id).length > 0);
  markSynced();
}

function resyncSoon() {
  const gen = state.generation;
  clearTimeout(resyncTimer);
  resyncTimer = setTimeout(() => resync(gen), 200);
}

/** The city's shapes for the task map, kept on the device for offline use. */
function loadShapes(gen) {
  const kept = state.db.get('kv', 'layers').catch(() => null);
  state.shapes = (async () => {
    let layers = null;
    try {
      layers = await api.mapLayers();
      if (gen === state.generation && state.db) state.db.put('kv', layers, 'layers').catch(() => {});
    } catch {
      layers = await kept;
    }
    if (!layers) return null;
    const squadId = (api.principal() || {}).squadId;
    const squad = (layers.squads || []).find((s) => s.id === squadId);
    if (squad && gen === state.generation) {
      state.squadName = squad.name;
      if (state.db) state.db.put('kv', squad.name, 'squadName').catch(() => {});
      showUser();
    }
    const shapes = cityShapes(layers);
    return shapes && shapes.hasShapes ? shapes : null;
  })();
  state.shapes.catch(() => {});
}

function afterRefusal(item) {
  // The task changed or left the squad: its current picture (or its removal) comes from the
  // server; the view, if open on it, fetches it itself.
  if (view && view.isOpen() && view.id === item.ticketId) return;
  api.dispatch('GetTicket', { id: item.ticketId }).then((resp) => {
    if (resp && resp.ticket) store.put(resp.ticket);
  }, (err) => {
    const held = store.get(item.ticketId);
    if (held && err instanceof api.ApiError && (err.status === 403 || err.status === 404)) store.remove(item.ticketId, Number(held.version) + 1);
  });
}

// ---- rendering ------------------------------------------------------------------------------

function online() {
  return navigator.onLine !== false;
}

function renderAll() {
  if (!state.running || !list) return;
  list.render();
  renderBanners();
  renderConflicts();
}

function outboxChanged() {
  if (!state.running) return;
  renderAll();
  if (view) view.onOutboxChange();
}

function renderBanners() {
  const net = $('net-banner');
  const offline = !online();
  const down = !offline && !state.streamUp && state.downSince && Date.now() - state.downSince > DOWN_GRACE_MS;
  net.hidden = !(offline || down || state.feedRefused);
  net.dataset.state = offline ? 'offline' : state.feedRefused ? 'refused' : down ? 'reconnecting' : 'live';
  net.textContent = offline ? t('term.offline')
    : state.feedRefused ? t('term.feedRefused', { message: state.feedRefused.message || state.feedRefused.code })
      : down ? t('term.reconnecting') : '';
  $('live-dot').classList.toggle('up', state.streamUp && !offline);
  $('live-dot').title = state.streamUp && !offline ? t('term.live') : t('term.reconnecting');

  const n = outbox.count();
  const bar = $('outbox-banner');
  bar.hidden = n === 0;
  bar.dataset.count = String(n);
  $('outbox-text').textContent = outbox.flushing && outbox.sending ? t('term.outbox.sending', { n }) : t('term.outbox.waiting', { n });
  $('outbox-error').textContent = outbox.lastError ? t('term.outbox.lastError', { message: outbox.lastError }) : '';
  $('outbox-error').hidden = !outbox.lastError;
  $('outbox-send').disabled = offline;
}

function renderConflicts() {
  const box = $('conflicts');
  const items = outbox.conflicts;
  box.hidden = items.length === 0;
  const ul = clear($('conflict-list'));
  for (const c of items) {
    ul.append(h('li.conflict', { testid: 'conflict', dataset: { ticketId: c.ticketId, action: c.action, code: c.code } },
      h('div.conflict-head', h('strong', `${t(`term.action.${c.action}`)} · ${c.category || c.ticketId}`), h('span.mono.muted.small', c.ticketId)),
      h('p.conflict-why', { testid: 'conflict-why' }, c.blocked ? t('term.conflict.blocked') : conflictWording(c)),
      c.message && !c.blocked ? h('p.err-detail', { testid: 'conflict-message' }, c.message) : null,
      c.note ? h('p.muted.small', `“${c.note}”`) : null,
      h('p.muted.small', t('term.conflict.at', { time: fmtTime(new Date(c.queuedAt).toISOString(), true) })),
      h('div.conflict-buttons',
        h('a.btn.small.secondary', { href: `#/task/${encodeURIComponent(c.ticketId)}`, testid: 'conflict-open' }, t('term.conflicts.open')),
        h('button.btn.small.primary', { type: 'button', testid: 'conflict-dismiss', onclick: () => outbox.dismiss(c.n) }, t('term.conflicts.dismiss')))));
  }
}

/** Every second: the countdowns; every ten: the lights (a deadline may have passed). */
function tick() {
  const now = Date.now();
  for (const el of document.querySelectorAll('.countdown[data-deadline]')) updateCountdown(el, now);
  if (Math.floor(now / 1000) % 10 === 0) renderAll();
  else if (!state.streamUp) renderBanners();
}

// ---- routing --------------------------------------------------------------------------------

function route() {
  if (!state.running) return;
  const m = /^#\/task\/(.+)$/.exec(location.hash);
  if (m) {
    const id = decodeURIComponent(m[1]);
    $('list-screen').hidden = true;
    $('task-screen').hidden = false;
    $('back').hidden = false;
    document.body.classList.add('in-task');
    view.open(id);
    window.scrollTo(0, 0);
    const title = $('task-title');
    if (title) title.focus({ preventScroll: true });
  } else {
    const was = view.id;
    view.close();
    $('task-screen').hidden = true;
    $('list-screen').hidden = false;
    $('back').hidden = true;
    document.body.classList.remove('in-task');
    setTitle('');
    renderAll();
    const card = was && document.querySelector(`[data-testid="task-item"][data-ticket-id="${CSS.escape(was)}"]`);
    if (card) card.focus();
  }
}

function setTitle(text) {
  $('bar-title').textContent = text || t('app.title');
}

function goBack() {
  if (state.openedFromList) history.back();
  else location.hash = '#/';
}

// ---- service worker ---------------------------------------------------------------------------

function registerServiceWorker() {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.register('/terminal/sw.js', { scope: '/terminal/' }).then(() => {
    terminal.sw = 'registered';
    return navigator.serviceWorker.ready;
  }).then(() => { terminal.sw = 'ready'; }, (err) => { terminal.sw = `failed: ${err && err.message}`; });
}

// ---- start ----------------------------------------------------------------------------------

function wire() {
  signin = new SignIn({
    start: startApp,
    stop: stopApp,
    running: () => state.running,
    maySignOut: () => {
      const n = outbox.count();
      return !n || window.confirm(t('term.signOut.pending', { n }));
    },
    // Without a network the app starts from what the device kept; the session is still good for later.
    offline: true,
  });
  $('lang-switch').addEventListener('click', toggleLang);
  $('back').addEventListener('click', goBack);
  $('outbox-send').addEventListener('click', () => outbox.flush());
  window.addEventListener('online', () => { renderAll(); if (state.running) { outbox.flush(); resyncSoon(); } });
  window.addEventListener('offline', () => renderAll());
  window.addEventListener('hashchange', (e) => {
    state.openedFromList = /^#\/task\//.test(location.hash) && !/#\/task\//.test(e.oldURL || '');
    route();
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !$('task-screen').hidden && !e.defaultPrevented) goBack();
  });
  onLangChange(() => {
    $('lang-switch').textContent = t('lang.switch');
    showUser();
    renderAll();
    if (view && view.isOpen()) view.render();
    else setTitle('');
  });
  list = new TaskList({
    els: { list: $('task-list'), state: $('list-state'), count: $('task-count'), note: $('sync-note') },
    store,
    outbox,
    status: () => ({ online: online(), synced: state.synced, syncedAt: state.syncedAt }),
  });
  view = new TaskView({
    root: $('task-body'),
    store,
    outbox,
    shapes: () => state.shapes || Promise.resolve(null),
    permitted: permittedActions(),
    online,
    onTitle: setTitle,
  });
  store.onChange(() => { if (state.running) list.render(); });
}

async function init() {
  applyI18n(document);
  wire();
  registerServiceWorker();
  await signin.resume();
}

boot(init);
