// Entry point of the hotline console (12345/12319 受理台): sign-in, the call form with its live
// routing preview and duplicate hint, the map to pick the location on, the reference to read
// out, and looking cases up by reference or by the caller's phone.

import * as api from '../api.js';
import { t, applyI18n, toggleLang, onLangChange, getLang } from '../i18n.js';
import { h, clear, errorText, fmtTime, isTyping } from '../dom.js';
import { SignIn, showApp, showPrincipal, boot } from '../signin.js';
import './strings.js';
import { Catalogue, className } from './catalogue.js';
import { CallForm } from './callform.js';
import { RoutePreview, SimilarCases } from './preview.js';
import { PickMap } from './pickmap.js';
import { Lookup, maskPhone } from './lookup.js';
import { Replies } from './replies.js';

const $ = (id) => document.getElementById(id);
// Roles that may log a call (the others can still look cases up).
const LOGGING_ROLES = new Set(['hotline_operator', 'shift_leader', 'administrator']);
// The duplicate hint is asked again this often while a call goes on (other calls come in).
const SIMILAR_REFRESH_MS = 20000;
// The replies owed are listed again this often (cases close, other operators record calls).
const REPLIES_REFRESH_MS = 30000;

const state = { running: false, generation: 0, receipt: null, catalogueError: null, view: 'call', repliesAllowed: false };
const catalogue = new Catalogue();
let form = null;
let route = null;
let similar = null;
let pickMap = null;
let lookup = null;
let replies = null;

// What tests (and a curious operator) can ask the page.
const gridd = {
  ready: false,
  screenOf: (lon, lat) => pickMap.screenOf(lon, lat),
  idempotencyKey: () => form && form.key,
  lang: () => getLang(),
  view: () => state.view,
};
window.__console = gridd;

// ---- components ---------------------------------------------------------------------------

function buildComponents() {
  pickMap = new PickMap({
    canvas: $('map-canvas'),
    stateBox: $('map-state'),
    statusEl: $('map-status'),
    onPick: (p) => form.setPoint(p),
  });
  route = new RoutePreview({ body: $('preview-body'), onCell: (code) => pickMap.setCell(code) });
  form = new CallForm({
    catalogue,
    onContext: ({ point, category }) => {
      pickMap.setPoint(point, false);
      route.set(point, category);
      similar.set(point, category);
    },
    onPointTyped: (p) => pickMap.setPoint(p, true),
    onAttach: (id) => {
      pickMap.setAttached(id);
      similar.render();
    },
    onSubmitted: showReceipt,
  });
  similar = new SimilarCases({
    body: $('similar-body'),
    countEl: $('similar-count'),
    noteEl: $('similar-note'),
    form,
    onCases: (cases, mergeRadiusM) => pickMap.setSimilar(cases, mergeRadiusM),
    onOpen: (id) => lookup.byRef(id),
  });
  lookup = new Lookup({ body: $('lookup-body'), callerPhone: () => $('caller-phone').value.trim() });
  replies = new Replies({
    listBody: $('replies-body'),
    detailBody: $('reply-body'),
    totalEl: $('replies-total'),
    countEl: $('replies-count'),
    refreshButton: $('replies-refresh'),
  });
  $('tab-call').addEventListener('click', () => showView('call', true));
  $('tab-replies').addEventListener('click', () => showView('replies', true));
  for (const tab of [$('tab-call'), $('tab-replies')]) {
    tab.addEventListener('keydown', (e) => {
      if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
      e.preventDefault();
      const next = state.view === 'call' && state.repliesAllowed ? 'replies' : 'call';
      showView(next, false);
      $(next === 'call' ? 'tab-call' : 'tab-replies').focus();
    });
  }
  $('replies-view').addEventListener('keydown', (e) => {
    if (!e.defaultPrevented && replies.onKey(e)) e.stopPropagation();
  });

  $('map-zoom-in').addEventListener('click', () => pickMap.map.zoomAt(1.5, pickMap.map.width / 2, pickMap.map.height / 2));
  $('map-zoom-out').addEventListener('click', () => pickMap.map.zoomAt(1 / 1.5, pickMap.map.width / 2, pickMap.map.height / 2));
  $('map-reset').addEventListener('click', () => pickMap.map.fit());
  $('receipt-copy').addEventListener('click', copyReference);
  $('receipt-status').addEventListener('click', () => {
    if (state.receipt) lookup.byRef(state.receipt.reference);
  });
  $('new-call').addEventListener('click', newCall);
  setInterval(() => { if (state.running && !state.receipt) similar.refresh(); }, SIMILAR_REFRESH_MS);
  setInterval(() => { if (state.running && state.repliesAllowed && !replies.busy) replies.load(); }, REPLIES_REFRESH_MS);
}

// ---- the two views: calls, and the replies owed to callers -------------------------------------

/**
 * Shows the call form ('call') or the reply list ('replies'). `focus`: put the focus in the
 * view (the caller on the list, or back where the call form was left).
 */
function showView(view, focus) {
  if (view === 'replies' && !state.repliesAllowed) view = 'call';
  const changed = state.view !== view;
  if (changed && state.view === 'call') state.callFocus = document.activeElement;
  state.view = view;
  const replyView = view === 'replies';
  $('call-view').hidden = replyView;
  $('replies-view').hidden = !replyView;
  $('key-hints').hidden = replyView;
  $('tab-call').setAttribute('aria-selected', String(!replyView));
  $('tab-replies').setAttribute('aria-selected', String(replyView));
  $('tab-call').tabIndex = replyView ? -1 : 0;
  $('tab-replies').tabIndex = replyView ? 0 : -1;
  if (replyView && changed) replies.load();
  if (!focus) return;
  if (replyView) {
    replies.focusList();
    if (!$('replies-view').contains(document.activeElement)) $('replies-refresh').focus();
  } else {
    const back = state.callFocus;
    if (back && back.isConnected && $('call-view').contains(back)) back.focus();
    else if (!$('call-form').hidden) form.focusFirst();
  }
}

// ---- the receipt ----------------------------------------------------------------------------

function showReceipt(receipt, request) {
  state.receipt = { ...receipt, request };
  similar.lock(true);
  $('call-form').hidden = true;
  $('receipt').hidden = false;
  renderReceipt();
  $('receipt-copy').focus();
}

function renderReceipt() {
  const r = state.receipt;
  if (!r) return;
  $('receipt-reference').textContent = r.reference || '';
  $('receipt-copied').textContent = '';
  const req = r.request;
  const notes = clear($('receipt-notes'));
  if (r.replayed) notes.append(h('p.notice', { testid: 'receipt-replayed' }, t('receipt.replayed')));
  if (req.attachTo) notes.append(h('p.notice', { testid: 'receipt-attached' }, t('receipt.attached', { id: req.attachTo })));
  const c = catalogue.get(req.category);
  clear($('receipt-fields')).append(
    h('dt', t('call.hotline')), h('dd', t(req.hotline === 'HOTLINE_12319' ? 'call.hotline.12319' : 'call.hotline.12345')),
    h('dt', t('call.caller')), h('dd', { testid: 'receipt-caller' }, callerLine(req.caller)),
    h('dt', t('call.category')), h('dd', c ? `${c.code} ${className(c)}` : req.category),
    h('dt', t('call.address')), h('dd', req.address || '—'),
    h('dt', t('receipt.receivedAt')), h('dd', fmtTime(r.receivedAt, true)));
}

/** The caller as the receipt shows them: name, masked number, and the flags that were set. */
function callerLine(caller) {
  const parts = [caller.name, caller.phone ? maskPhone(caller.phone) : ''];
  if (caller.confidential) parts.push(t('call.confidential'));
  if (caller.replyRequired) parts.push(t('call.reply'));
  return parts.filter(Boolean).join(' · ') || '—';
}

/** Copies the reference: the clipboard API where the page may use it, else a selection copy. */
async function copyReference() {
  const text = state.receipt ? state.receipt.reference : '';
  const ok = await copyText(text);
  $('receipt-copied').textContent = t(ok ? 'receipt.copied' : 'receipt.copyFailed');
  if (!ok) selectText($('receipt-reference'));
}

async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch { /* not allowed here: fall back */ }
  const area = h('textarea.copy-buffer', { readonly: true, 'aria-hidden': 'true' });
  area.value = text;
  document.body.append(area);
  const back = document.activeElement;
  area.select();
  let ok = false;
  try { ok = document.execCommand('copy'); } catch { ok = false; }
  area.remove();
  if (back && back.focus) back.focus();
  return ok;
}

function selectText(el) {
  const range = document.createRange();
  range.selectNodeContents(el);
  const sel = window.getSelection();
  sel.removeAllRanges();
  sel.addRange(range);
}

function newCall() {
  state.receipt = null;
  similar.lock(false);
  $('receipt').hidden = true;
  $('call-form').hidden = false;
  form.reset();
  form.focusFirst();
}

// ---- loading ----------------------------------------------------------------------------------

async function loadCatalogue() {
  const gen = state.generation;
  try {
    await catalogue.load();
    state.catalogueError = null;
  } catch (err) {
    if (gen !== state.generation) return;
    state.catalogueError = err;
  }
  renderCatalogueState();
}

/** Without the catalogue no call can be logged: say so in the category field, with a retry. */
function renderCatalogueState() {
  const box = $('err-category');
  if (!state.catalogueError) {
    if (box.dataset.catalogue) { box.hidden = true; clear(box); delete box.dataset.catalogue; }
    return;
  }
  box.hidden = false;
  box.dataset.catalogue = '1';
  clear(box).append(h('span.err-main', t('state.error', { message: errorText(state.catalogueError) })),
    h('button.btn.small', { type: 'button', testid: 'catalogue-retry', onclick: loadCatalogue }, t('state.retry')));
}

async function startApp() {
  const gen = ++state.generation;
  state.running = true;
  gridd.ready = false;
  delete document.body.dataset.ready;
  showApp();
  showUser();
  pickMap.reset();
  newCall();
  lookup.reset();
  state.repliesAllowed = api.can('ListReplyTasks');
  $('tab-replies').hidden = !state.repliesAllowed;
  replies.reset();
  showView('call', false);
  if (state.repliesAllowed) replies.load();
  await Promise.all([loadCatalogue(), pickMap.load()]);
  if (gen !== state.generation) return;
  gridd.ready = true;
  document.body.dataset.ready = '1';
}

function showUser() {
  const { p, label } = showPrincipal();
  $('user-role').hidden = !label;
  $('role-banner').hidden = !p.role || LOGGING_ROLES.has(p.role);
}

function stopApp() {
  state.running = false;
  state.generation++;
  if (replies) replies.reset();
  gridd.ready = false;
  delete document.body.dataset.ready;
}

// ---- keyboard -----------------------------------------------------------------------------------

/**
 * F2 (or / outside a text box): category search. F3: look up by reference. Ctrl+Enter: submit
 * from anywhere in the form. Alt+N: the next call once the reference is shown. Esc: close the
 * category list (the input handles it), else leave the lookup result.
 */
function onKey(e) {
  if (e.defaultPrevented || !state.running) return;
  if (e.key === 'F4') {
    e.preventDefault();
    if (state.repliesAllowed) showView(state.view === 'replies' ? 'call' : 'replies', true);
    return;
  }
  if (e.key === 'F3' && state.view !== 'call') showView('call', false);
  // The call form's keys work while it is on screen, not behind the reply list.
  const formShown = state.view === 'call' && !$('call-form').hidden;
  if ((e.key === 'F2' || (e.key === '/' && !isTyping(document.activeElement) && !e.ctrlKey && !e.metaKey)) && formShown) {
    e.preventDefault();
    form.focusCategory();
    return;
  }
  if (e.key === 'F3') {
    e.preventDefault();
    $('lookup-ref').focus();
    $('lookup-ref').select();
    return;
  }
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && formShown) {
    e.preventDefault();
    form.closeList();
    form.submit();
    return;
  }
  if ((e.key === 'n' || e.key === 'N') && e.altKey && !e.ctrlKey && state.receipt && state.view === 'call') {
    e.preventDefault();
    newCall();
    return;
  }
  if (e.key === 'Escape' && (document.activeElement === $('lookup-ref') || document.activeElement === $('lookup-phone'))) {
    e.preventDefault();
    lookup.reset();
  }
}

// ---- language -----------------------------------------------------------------------------------

function relabel() {
  document.title = t('console.title');
  if (!state.running) return;
  showUser();
  form.relabel();
  route.render();
  similar.render();
  lookup.render();
  renderReceipt();
  renderCatalogueState();
  replies.relabel();
}

// ---- start --------------------------------------------------------------------------------------

async function init() {
  applyI18n(document);
  document.title = t('console.title');
  buildComponents();
  $('lang-switch').addEventListener('click', toggleLang);
  onLangChange(relabel);
  const signin = new SignIn({ start: () => { startApp(); }, stop: stopApp });
  document.addEventListener('keydown', onKey);
  await signin.resume();
}

boot(init);
