// Entry point of the dispatch centre's dashboard: sign-in, the live map, KPIs, the manual queue,
// the overdue list and the case view, all kept current from the ticket stream.

import * as api from './api.js';
import { t, applyI18n, toggleLang, onLangChange, getLang } from './i18n.js';
import { errorText, loadingState, errorState, emptyState, fmtClock, isTyping } from './dom.js';
import { SignIn, showApp, showPrincipal, boot } from './signin.js';
import { TicketStore, OPEN_STATES, observeEngineTime } from './store.js';
import { CityMap } from './map.js';
import { KpiPanel } from './kpi.js';
import { AssessmentView } from './assessment.js';
import { SquadDirectory, Locator, ManualQueue, OverdueList, VerifyQueue } from './lists.js';
import { CaseView } from './caseview.js';
import { CellPanel } from './cellpanel.js';
import { TicketStream } from './stream.js';

const $ = (id) => document.getElementById(id);
// A role without the ticket stream (a grid supervisor) sees the open cases listed again this often.
const POLL_MS = 10000;

const state = {
  running: false,
  generation: 0,
  ticketsLoaded: false,
  ticketsError: null,
  mapDone: false,
  statsDone: false,
  lastEventAt: 0,
  firstRenderMs: null,
  streamUp: false,
  streamWasDown: false,
  resyncQueued: false,
  polling: false,
  lastPollAt: 0,
};

const gridd = {
  ready: false,
  lastRenderMs: null,
  openTickets: () => store.list(),
  cellColour: (code) => store.cellColour(code),
  streamConnected: () => state.streamUp,
  squads: () => squads.sorted().map(([id, name]) => ({ id, name })),
  lang: () => getLang(),
  /** The 考核 shown (the Assessment of its month), or null. */
  assessment: () => (assess && assess.data ? JSON.parse(JSON.stringify(assess.data)) : null),
};
window.__gridd = gridd;

const store = new TicketStore();
const squads = new SquadDirectory();
const locator = new Locator(squads);

// ---- wall mode ------------------------------------------------------------------------------

function wallWanted() {
  const q = new URLSearchParams(location.search).get('wall');
  if (q === '1' || q === 'true') return true;
  if (q === '0' || q === 'false') return false;
  try { return localStorage.getItem('gridd.wall') === '1'; } catch { return false; }
}

function setWall(on, remember) {
  document.body.classList.toggle('wall', on);
  const b = $('wall-toggle');
  b.setAttribute('aria-pressed', String(on));
  b.dataset.i18n = on ? 'wall.toggle.off' : 'wall.toggle';
  b.textContent = t(b.dataset.i18n);
  if (remember) { try { localStorage.setItem('gridd.wall', on ? '1' : '0'); } catch { /* ignore */ } }
  if (map) map.setTheme(on);
  if (caseView && caseView.isOpen() && caseView.data) caseView.render();
}

const isDark = () => document.body.classList.contains('wall');

// ---- components -----------------------------------------------------------------------------

let map = null;
let caseView = null;
let cellPanel = null;
let kpi = null;
let manual = null;
let overdue = null;
let verifyQueue = null;
let assess = null;
let stream = null;
let pollTimer = 0;
let signin = null;

function openCase(id) {
  if (caseView) caseView.open(id);
}

function buildComponents() {
  map = new CityMap($('map-canvas'), {
    store,
    onMarkerClick: (tk) => openCase(tk.id),
    onCellClick: (info) => cellPanel.show(info),
    onCellsState: showCellsState,
    onFirstFullRender: (ms, count) => {
      state.firstRenderMs = ms;
      gridd.lastRenderMs = ms;
      gridd.firstRenderCells = count;
      state.mapDone = true;
      maybeReady();
    },
  });
  map.setTheme(isDark());
  caseView = new CaseView({
    root: $('case-view'), body: $('case-body'), idLabel: $('case-id'), closeButton: $('case-close'),
    store, squads, locator, map, isDark,
  });
  cellPanel = new CellPanel({ root: $('cell-panel'), store, locator, map, openCase });
  kpi = new KpiPanel({
    body: $('kpi-body'), boardBody: $('board-body'), boardSelect: $('board-kpi'), form: $('period-form'),
    fromInput: $('period-from'), toInput: $('period-to'), monthButton: $('period-month'),
    onStats: (period, today) => {
      const city = (period && period.city) || (today && today.city) || {};
      if (city.name) $('city-name').textContent = city.name;
      // Without the KPIs (a role that may not read them) the city's name is unknown: the
      // centre's short title stands in for it.
      document.querySelector('.brand-sub').hidden = Boolean(!city.name && !period && !today);
      if (!city.name && !period && !today) $('city-name').textContent = t('app.short');
      squads.addMany(((period && period.bySquad) || []).concat((today && today.bySquad) || []).map((k) => [k.key, k.name]));
      if (!state.statsDone) { state.statsDone = true; maybeReady(); }
    },
  });
  manual = new ManualQueue({ body: $('manual-body'), count: $('manual-count'), store, squads, locator, openCase });
  overdue = new OverdueList({ body: $('overdue-body'), count: $('overdue-count'), store, openCase });
  verifyQueue = new VerifyQueue({ body: $('verify-body'), count: $('verify-count'), store, openCase });
  assess = new AssessmentView({
    root: $('assess-view'),
    opener: $('assess-open'),
    cover: document.querySelector('main.layout'),
    els: {
      title: $('assess-title'), month: $('assess-month'), prev: $('assess-prev'), next: $('assess-next'), current: $('assess-current'),
      status: $('assess-status'), kindGroup: $('assess-kinds'),
      kinds: { squad: $('assess-kind-squad'), street: $('assess-kind-street'), supervisor: $('assess-kind-supervisor'), dispatcher: $('assess-kind-dispatcher') },
      exportFigures: $('assess-export-figures'), exportCases: $('assess-export-cases'), refresh: $('assess-refresh'),
      freeze: $('assess-freeze'), close: $('assess-close'),
      confirm: $('assess-confirm'), confirmText: $('assess-confirm-text'), confirmYes: $('assess-confirm-yes'), confirmNo: $('assess-confirm-no'),
      msg: $('assess-msg'), body: $('assess-body'),
    },
  });

  $('map-zoom-in').addEventListener('click', () => map.zoomAt(1.5, map.width / 2, map.height / 2));
  $('map-zoom-out').addEventListener('click', () => map.zoomAt(1 / 1.5, map.width / 2, map.height / 2));
  $('map-reset').addEventListener('click', () => map.fit());

  store.onChange(scheduleListRender);
}

let listFrame = 0;
function scheduleListRender() {
  if (listFrame) return;
  listFrame = requestAnimationFrame(() => {
    listFrame = 0;
    renderLists();
    map.requestRender();
  });
}

function renderLists() {
  if (!state.running) return;
  if (state.ticketsError && !state.ticketsLoaded) {
    errorState($('manual-body'), state.ticketsError, loadTickets);
    errorState($('overdue-body'), state.ticketsError, loadTickets);
    errorState($('verify-body'), state.ticketsError, loadTickets);
    return;
  }
  if (!state.ticketsLoaded) return;
  manual.render();
  overdue.render();
  verifyQueue.render();
}

function showCellsState(s) {
  const el = $('map-status');
  if (s.loading) {
    el.textContent = t('map.cellsLoading');
    return;
  }
  if (s.error) {
    el.textContent = '';
    errorState($('map-state'), s.error, () => { $('map-state').textContent = ''; s.retry(); });
    if (!state.mapDone) { state.mapDone = true; maybeReady(); }
    return;
  }
  $('map-state').textContent = '';
  if (map.isEmpty()) emptyState($('map-state'), t('map.empty'));
  el.textContent = `${t('map.cellsCount', { shown: s.shown, total: s.total })}${s.simplified ? ` · ${t('map.simplified')}` : ''}`;
  state.lastCells = s;
}

// ---- loading --------------------------------------------------------------------------------

async function loadLayers() {
  const gen = state.generation;
  const box = $('map-state');
  loadingState(box, t('map.loading'));
  try {
    const layers = await api.mapLayers();
    if (gen !== state.generation) return;
    box.textContent = '';
    map.setLayers(layers || {});
    map.loadCellsSoon.cancel();
    discoverSquads(layers || {});
    await map.loadCells();
  } catch (err) {
    if (gen !== state.generation) return;
    errorState(box, err, loadLayers);
    if (!state.mapDone) { state.mapDone = true; maybeReady(); }
  }
}

/** The city's squads for the dispatch choices, as the map layers list them (so a fresh
 * system with no statistics and no cases yet still offers every squad). */
function discoverSquads(layers) {
  squads.addMany((layers.squads || []).map((s) => [s.id, s.name]));
}

async function loadTickets() {
  const gen = state.generation;
  if (!state.ticketsLoaded) {
    loadingState($('manual-body'));
    loadingState($('overdue-body'));
    loadingState($('verify-body'));
  }
  try {
    const listed = await api.dispatchAll('ListTickets', { states: OPEN_STATES }, 'tickets', { pageSize: 500, maxPages: 40, stale: () => gen !== state.generation });
    if (!listed) return;
    const all = listed.items;
    let newest = '';
    for (const tk of all) {
      if (tk.createdAt && tk.createdAt > newest) newest = tk.createdAt;
      if (tk.squadId) squads.add(tk.squadId, tk.squadName);
    }
    if (newest) observeEngineTime(newest);
    state.ticketsLoaded = true;
    state.ticketsError = null;
    store.replaceAll(all);
    if (state.polling) {
      state.lastPollAt = Date.now();
      updateLive();
      // No stream tells this role of changes: the open 考核 follows the listing instead.
      assess.refreshSoon();
    }
    renderLists();
  } catch (err) {
    if (gen !== state.generation) return;
    state.ticketsError = err;
    if (state.ticketsLoaded) {
      // keep showing what we have; the stream keeps it current
    } else {
      renderLists();
    }
  } finally {
    if (gen === state.generation && !state.ticketsSettled) {
      state.ticketsSettled = true;
      maybeReady();
    }
  }
}

function maybeReady() {
  if (gridd.ready || !state.running) return;
  if (!state.mapDone || !state.ticketsSettled || !state.statsDone) return;
  map.renderNow();
  gridd.ready = true;
  document.body.dataset.ready = '1';
}

function onTicketEvent(ev) {
  if (ev.at) observeEngineTime(ev.at);
  state.lastEventAt = Date.now();
  if (ev.ticket && ev.ticket.squadId) squads.add(ev.ticket.squadId, ev.ticket.squadName);
  store.applyEvent(ev);
  kpi.refreshSoon();
  assess.refreshSoon();
  updateLive();
}

function updateLive() {
  const dot = $('live-dot');
  if (state.polling) {
    // No stream for this role: the lists are fetched again every few seconds.
    dot.classList.remove('up', 'down');
    dot.classList.add('polling');
    const parts = [t('header.polling')];
    if (state.lastPollAt) parts.push(t('header.updated', { time: fmtClock(state.lastPollAt) }));
    $('live-text').textContent = parts.join(' · ');
    return;
  }
  dot.classList.remove('polling');
  dot.classList.toggle('up', state.streamUp);
  dot.classList.toggle('down', !state.streamUp);
  const parts = [t('header.live')];
  if (state.lastEventAt) parts.push(t('header.updated', { time: fmtClock(state.lastEventAt) }));
  $('live-text').textContent = parts.join(' · ');
}

function setStreamStatus(up) {
  state.streamUp = up;
  $('conn-banner').hidden = up;
  if (caseView) caseView.place();
  updateLive();
  if (!up) {
    state.streamWasDown = true;
  } else if (state.streamWasDown) {
    // Back after an outage: the KPIs and the listing may have failed (or gone stale) meanwhile.
    state.streamWasDown = false;
    resyncSoon();
  }
}

/** Re-fetches the open cases and the KPIs (today and the period) once, however many of the
 * stream's signals (reconnected, resync) arrive in the same turn. */
function resyncSoon() {
  if (state.resyncQueued) return;
  state.resyncQueued = true;
  const gen = state.generation;
  queueMicrotask(() => {
    state.resyncQueued = false;
    if (gen !== state.generation || !state.running) return;
    loadTickets();
    kpi.load();
    if (assess.isOpen()) assess.load({ quiet: true });
  });
}

// ---- the app --------------------------------------------------------------------------------

function startApp() {
  const gen = ++state.generation;
  // The ticket stream is for the centre's roles; a grid supervisor may list cases but not watch
  // them, so the page lists them again now and then instead.
  const polling = !api.can('WatchTickets');
  Object.assign(state, { running: true, ticketsLoaded: false, ticketsSettled: false, ticketsError: null, mapDone: false, statsDone: false, lastEventAt: 0, streamUp: false, streamWasDown: false, resyncQueued: false, polling, lastPollAt: 0 });
  gridd.ready = false;
  delete document.body.dataset.ready;
  map.reset();
  showApp();
  $('conn-banner').hidden = true;
  showUser();
  updateLive();

  if (polling) {
    clearInterval(pollTimer);
    pollTimer = setInterval(() => { if (gen === state.generation && state.running) loadTickets(); }, POLL_MS);
  } else {
    stream = new TicketStream({
      onTicketEvent,
      onStatus: setStreamStatus,
      onResync: () => { if (gen === state.generation) resyncSoon(); },
      onAuthLost: () => signin.ended(),
    });
    stream.start();
  }
  loadLayers();
  loadTickets();
  kpi.setAllowed(api.can('GetStats'));
  kpi.load();
  assess.setAllowed(api.can('GetAssessment'));
  return gen;
}

function showUser() {
  const { label } = showPrincipal();
  $('user-role').hidden = !label;
}

function stopApp() {
  state.running = false;
  state.generation++;
  if (stream) stream.stop();
  stream = null;
  clearInterval(pollTimer);
  pollTimer = 0;
  if (caseView) caseView.close();
  if (cellPanel) cellPanel.close();
  if (assess) assess.reset();
  store.clear();
  gridd.ready = false;
  delete document.body.dataset.ready;
  $('conn-banner').hidden = true;
}

// ---- search ---------------------------------------------------------------------------------

async function onSearch(e) {
  e.preventDefault();
  const input = $('search-input');
  const msg = $('search-msg');
  const id = input.value.trim();
  msg.hidden = true;
  if (!id) return;
  try {
    const resp = await api.dispatch('GetTicket', { id });
    if (resp && resp.ticket) {
      openCase(resp.ticket.id);
    } else {
      msg.textContent = t('header.search.pending');
      msg.hidden = false;
    }
  } catch (err) {
    msg.textContent = errorText(err);
    msg.hidden = false;
  }
}

function onKey(e) {
  if (e.defaultPrevented) return;
  const inSearch = document.activeElement === $('search-input');
  // Case numbers and references never contain "/", so it always means "go to the search box".
  if (e.key === '/' && (inSearch || !isTyping(document.activeElement)) && !$('app').hidden && !e.ctrlKey && !e.metaKey && !e.altKey) {
    e.preventDefault();
    $('search-input').focus();
    $('search-input').select();
    return;
  }
  if (e.key === 'Escape') {
    if (caseView && caseView.isOpen()) { e.preventDefault(); caseView.close(); return; }
    if (assess && assess.onEscape()) { e.preventDefault(); return; }
    if (cellPanel && cellPanel.isOpen()) { e.preventDefault(); cellPanel.close(); $('map-canvas').focus(); return; }
    if (document.activeElement === $('search-input')) { $('search-msg').hidden = true; $('search-input').blur(); }
  }
}

// ---- language -------------------------------------------------------------------------------

function relabel() {
  const wall = $('wall-toggle');
  wall.textContent = t(wall.dataset.i18n || 'wall.toggle');
  if (!state.running) return;
  showUser();
  updateLive();
  if (kpi && !kpi.allowed) $('city-name').textContent = t('app.short');
  if (kpi) kpi.render();
  if (assess) assess.render();
  if (manual && state.ticketsLoaded) manual.relabel();
  if (overdue && state.ticketsLoaded) overdue.relabel();
  if (verifyQueue && state.ticketsLoaded) verifyQueue.relabel();
  if (!state.ticketsLoaded) renderLists();
  if (caseView && caseView.isOpen() && caseView.data) { caseView.formEl = null; caseView.render(); }
  if (cellPanel && cellPanel.isOpen()) cellPanel.render();
  if (state.lastCells) showCellsState(state.lastCells);
}

// ---- start ----------------------------------------------------------------------------------

async function init() {
  applyI18n(document);
  buildComponents();
  setWall(wallWanted(), false);
  $('wall-toggle').addEventListener('click', () => setWall(!isDark(), true));
  $('lang-switch').addEventListener('click', toggleLang);
  onLangChange(relabel);
  signin = new SignIn({
    start: () => { startApp(); },
    // Signed in with Enter, the focus would stay in the hidden password box, where "/" is typing.
    afterSignIn: () => { if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur(); },
    stop: stopApp,
  });
  $('search-form').addEventListener('submit', onSearch);
  $('search-input').addEventListener('input', () => { $('search-msg').hidden = true; });
  document.addEventListener('keydown', onKey);
  // Lists show "x late" relative to now: refresh them now and then.
  setInterval(() => {
    if (state.running && state.ticketsLoaded) {
      overdue.render();
      verifyQueue.render();
    }
  }, 30000);
  await signin.resume();
}

boot(init);

