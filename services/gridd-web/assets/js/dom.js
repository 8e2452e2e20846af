// Small DOM helpers: element creation, the loading / empty / error states of panels and of form
// fields, keyed lists, and formatting of times, durations and rates.

import { t, getLang } from './i18n.js';
import { ApiError } from './api.js';

/**
 * h('div.class1.class2', {attrs}, ...children). Attribute keys: `on*` are listeners, `dataset`
 * an object, `testid` sets data-testid, booleans set or drop the attribute, `text` sets text.
 */
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'testid') el.dataset.testid = v;
      else if (k === 'text') el.textContent = v;
      else if (k === 'class') el.className += (el.className ? ' ' : '') + v;
      else if (k === 'value') el.value = v;
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** The text a user sees for an error: the server's message as is, else a generic one. */
export function errorText(err) {
  if (err instanceof ApiError) {
    if (err.serverMessage) return err.message;
    if (err.status === 0) return t('error.network');
    return t('error.http', { status: err.status });
  }
  return (err && err.message) || String(err);
}

/**
 * A refusal as { text, detail }. `wording` maps an error code (e.g. 'permission_denied') to an
 * i18n key, or to a function (err) => text; for those codes the text is ours and the server's own
 * message becomes the detail. Any other error keeps errorText() and has no detail.
 */
export function refusal(err, wording) {
  const code = err instanceof ApiError ? err.code : '';
  const w = code && Object.prototype.hasOwnProperty.call(wording, code) ? wording[code] : null;
  if (!w) return { text: errorText(err), detail: '' };
  return { text: typeof w === 'function' ? w(err) : t(w), detail: err.serverMessage ? err.message : '' };
}

/** Fills el with a refusal: the text, then the detail (if any) in smaller type. */
export function showRefusal(el, r) {
  clear(el).append(h('span.err-main', r.text));
  if (r.detail) el.append(h('span.err-detail', { testid: 'error-detail' }, r.detail));
  return el;
}

export function loadingState(el, text) {
  clear(el).append(h('div.panel-state.loading', { role: 'status', testid: 'state-loading' }, h('span.spinner', { 'aria-hidden': 'true' }), text || t('state.loading')));
}

export function emptyState(el, text) {
  clear(el).append(h('div.panel-state.empty', { testid: 'state-empty' }, text));
}

export function errorState(el, err, retry) {
  clear(el).append(
    h('div.panel-state.error', { role: 'alert', testid: 'state-error' },
      h('span', t('state.error', { message: errorText(err) })),
      retry ? h('button.btn.small', { type: 'button', testid: 'retry', onclick: retry }, t('state.retry')) : null),
  );
}

/**
 * Marks the field `name` of a form (the element with data-field="<name>") as refused: its
 * .field-error box shows `text` and its control takes the focus, marked aria-invalid unless it
 * is one of a group of choices (the group carries the description).
 */
export function showFieldError(form, name, text) {
  const wrap = form.querySelector(`[data-field="${name}"]`);
  if (!wrap) return;
  const box = wrap.querySelector('.field-error');
  box.textContent = text;
  box.hidden = false;
  wrap.classList.add('invalid');
  const control = wrap.querySelector('input, select, textarea');
  if (control) {
    if (control.type !== 'radio' && control.type !== 'checkbox') control.setAttribute('aria-invalid', 'true');
    control.focus();
  }
}

/** Undoes showFieldError for the field `name` (nothing when it is not marked). */
export function clearFieldError(form, name) {
  const wrap = form.querySelector(`[data-field="${name}"]`);
  if (!wrap || !wrap.classList.contains('invalid')) return;
  wrap.classList.remove('invalid');
  const box = wrap.querySelector('.field-error');
  box.hidden = true;
  box.textContent = '';
  const control = wrap.querySelector('input, select, textarea');
  if (control) control.removeAttribute('aria-invalid');
}

/**
 * One load of a panel that keeps { seq, loading, error } (the caller sets `loading` and bumps
 * `seq` for it): `keep(await ask())` on success, `error` on failure. A later load, or a reset
 * that bumps `seq`, wins: the older answer or error is dropped. Answers whether this load was
 * still the latest (then the caller renders).
 */
export async function latestLoad(panel, seq, ask, keep) {
  try {
    const value = await ask();
    if (seq !== panel.seq) return false;
    keep(value);
    panel.error = null;
  } catch (err) {
    if (seq !== panel.seq) return false;
    panel.error = err;
  } finally {
    if (seq === panel.seq) panel.loading = false;
  }
  return true;
}

/**
 * Keeps container's children in the order of items, reusing the element of each key:
 * create(item) makes one, update(el, item) refreshes it (called for new and kept ones).
 */
export function reconcile(container, items, key, create, update) {
  const old = new Map();
  for (const child of container.children) if (child.dataset.key !== undefined) old.set(child.dataset.key, child);
  for (const child of [...container.children]) if (child.dataset.key === undefined) child.remove();
  let prev = null;
  const seen = new Set();
  for (const item of items) {
    const k = key(item);
    seen.add(k);
    let el = old.get(k);
    if (!el) {
      el = create(item);
      el.dataset.key = k;
    }
    update(el, item);
    const next = prev ? prev.nextSibling : container.firstChild;
    if (next !== el) container.insertBefore(el, next);
    prev = el;
  }
  for (const [k, el] of old) if (!seen.has(k)) el.remove();
}

const pad = (n) => String(n).padStart(2, '0');

/** Local date-time, e.g. 2026-12-01 14:05. */
export function fmtTime(iso, withSeconds) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const s = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return withSeconds ? `${s}:${pad(d.getSeconds())}` : s;
}

export function fmtClock(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDuration(ms) {
  const m = Math.floor(Math.abs(ms) / 60000);
  if (m < 1) return t('dur.lessMinute');
  const d = Math.floor(m / 1440);
  const hh = Math.floor((m % 1440) / 60);
  const mm = m % 60;
  const parts = [];
  if (d) parts.push(t('dur.d', { n: d }));
  if (hh) parts.push(t('dur.h', { n: hh }));
  if (mm && !d) parts.push(t('dur.m', { n: mm }));
  return parts.join(getLang() === 'zh' ? '' : ' ');
}

export function fmtRate(v) {
  const n = Number(v) || 0;
  return `${(n * 100).toFixed(1)}%`;
}

export function fmtCount(v) {
  const n = Number(v) || 0;
  return n.toLocaleString(getLang() === 'zh' ? 'zh-CN' : 'en-US');
}

export function fmtSeconds(v) {
  const s = Number(v) || 0;
  if (!s) return '—';
  return fmtDuration(s * 1000);
}

/** yyyy-mm-dd of a local date (for <input type=date>). */
export function dateInputValue(d) {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** Local midnight of a yyyy-mm-dd value, as a Date. */
export function dateFromInput(value) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value || '');
  if (!m) return null;
  return new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
}

/** Whether keys typed now go into `el` (a text box, a list box, an editable element). */
export function isTyping(el) {
  if (!el) return false;
  const tag = el.tagName;
  return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || el.isContentEditable;
}

/** Runs fn at most once per `wait` ms after the last call, and at least every `maxWait` ms. */
export function debounce(fn, wait, maxWait) {
  let timer = 0;
  let first = 0;
  const run = () => {
    timer = 0;
    first = 0;
    fn();
  };
  const d = () => {
    const now = Date.now();
    if (!first) first = now;
    clearTimeout(timer);
    if (maxWait && now - first >= maxWait) run();
    else timer = setTimeout(run, wait);
  };
  d.cancel = () => { clearTimeout(timer); timer = 0; first = 0; };
  d.flush = () => { if (timer) { clearTimeout(timer); run(); } };
  return d;
}
