// The manual queue (人工派遣) and the overdue/pressed list (超期/督办), kept in step with the
// open-ticket store, plus the squad directory and Locate look-ups they share with the case view.

import * as api from './api.js';
import { t, tEnum, escalationLevelLabel, getLang } from './i18n.js';
import { h, clear, emptyState, reconcile, errorText, fmtTime, fmtDuration } from './dom.js';
import { engineNow, num, ts, RANK_NAME, lightRank } from './store.js';

const MAX_OVERDUE_SHOWN = 150;
const MAX_VERIFYING_SHOWN = 150;

/** Every squad the page has heard of (GetStats bySquad, Locate answers, tickets). */
export class SquadDirectory {
  constructor() {
    this.names = new Map();
    this.listeners = new Set();
  }

  add(id, name) {
    if (!id) return;
    const cur = this.names.get(id);
    if (cur && (cur === name || !name)) return;
    this.names.set(id, name || cur || id);
    this.changed();
  }

  addMany(pairs) {
    let changed = false;
    for (const [id, name] of pairs) {
      if (!id) continue;
      const cur = this.names.get(id);
      if (cur && (cur === name || !name)) continue;
      this.names.set(id, name || cur || id);
      changed = true;
    }
    if (changed) this.changed();
  }

  changed() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => { for (const fn of this.listeners) fn(); }, 50);
  }

  name(id) {
    return this.names.get(id) || id;
  }

  sorted() {
    return [...this.names.entries()].sort((a, b) => a[1].localeCompare(b[1], 'zh-CN') || a[0].localeCompare(b[0]));
  }

  onChange(fn) {
    this.listeners.add(fn);
  }

  /** Fills a <select> with every squad, keeping (or setting) its value. */
  fillSelect(select, wanted) {
    const value = wanted !== undefined ? wanted : select.value;
    const entries = this.sorted();
    if (value && !this.names.has(value)) entries.unshift([value, value]);
    const sig = entries.map((e) => e.join('=')).join('|') + t('form.chooseSquad') + getLang();
    if (select.dataset.sig !== sig) {
      clear(select);
      select.append(h('option', { value: '' }, t('form.chooseSquad')));
      const zh = getLang() === 'zh';
      for (const [id, name] of entries) select.append(h('option', { value: id }, name === id ? id : zh ? `${name}（${id}）` : `${name} (${id})`));
      select.dataset.sig = sig;
    }
    select.value = value || '';
  }
}

/** Locate with a small cache and at most 3 calls at a time. */
export class Locator {
  constructor(squads) {
    this.squads = squads;
    this.cache = new Map();
    this.queue = [];
    this.running = 0;
  }

  key(point, category) {
    return `${Number(point.lon).toFixed(6)},${Number(point.lat).toFixed(6)},${category || ''}`;
  }

  locate(point, category) {
    const k = this.key(point, category);
    let p = this.cache.get(k);
    if (p) return p;
    p = new Promise((resolve, reject) => {
      this.queue.push({ point, category, resolve, reject });
      this.pump();
    });
    this.cache.set(k, p);
    p.catch(() => this.cache.delete(k));
    if (this.cache.size > 2000) this.cache.delete(this.cache.keys().next().value);
    return p;
  }

  pump() {
    while (this.running < 3 && this.queue.length) {
      const job = this.queue.shift();
      this.running++;
      const req = { point: { lon: Number(job.point.lon), lat: Number(job.point.lat), crs: 'COORD_SYSTEM_WGS84' } };
      if (job.category) req.category = job.category;
      api.grid('Locate', req)
        .then((resp) => {
          const r = resp || {};
          this.squads.addMany((r.responsible || []).map((x) => [x.squadId, x.squadName]));
          job.resolve(r);
        }, job.reject)
        .finally(() => {
          this.running--;
          this.pump();
        });
    }
  }

  /** The squad routing would choose: the last entry of `responsible` (see grid.proto). */
  static suggestion(resp) {
    const list = (resp && resp.responsible) || [];
    return list.length ? list[list.length - 1] : null;
  }
}

function lightDot(ticket) {
  const name = RANK_NAME[lightRank(ticket)];
  return h(`span.light-dot.${name}`, { title: tEnum('light', ticket.light || 'LIGHT_UNSPECIFIED'), 'aria-label': tEnum('light', ticket.light || 'LIGHT_UNSPECIFIED') });
}

export class ManualQueue {
  constructor({ body, count, store, squads, locator, openCase }) {
    Object.assign(this, { body, count, store, squads, locator, openCase });
    this.status = new Map(); // id -> { busy, error, ok }
    squads.onChange(() => this.refreshSelects());
  }

  render() {
    const { manual } = this.store.derive();
    this.count.textContent = manual.length ? String(manual.length) : '';
    if (!manual.length) {
      if (!this.body.querySelector('.panel-state.empty')) emptyState(this.body, t('manual.empty'));
      return;
    }
    let list = this.body.querySelector('ul.manual-list');
    if (!list) {
      clear(this.body);
      list = h('ul.item-list.manual-list');
      this.body.append(list);
    }
    reconcile(list, manual, (tk) => tk.id, (tk) => this.create(tk), (el, tk) => this.update(el, tk));
  }

  relabel() {
    // language change: rebuild the items
    const list = this.body.querySelector('ul.manual-list');
    if (list) clear(list);
    if (this.body.querySelector('.panel-state.empty')) clear(this.body);
    this.render();
  }

  create(tk) {
    const select = h('select.squad-select', { testid: 'manual-squad', 'aria-label': t('manual.chooseSquad') });
    const button = h('button.btn.primary.small', { type: 'button', testid: 'manual-dispatch' }, t('manual.dispatch'));
    const open = h('button.link.item-title', { type: 'button', testid: 'manual-open' });
    // A role that may not dispatch (a supervisor, leadership) sees the queue without the controls.
    const mayDispatch = api.can('Dispatch');
    const el = h('li.item.manual-item', { testid: 'manual-item' },
      h('div.item-row', open, h('span.badge.reason', { testid: 'manual-reason' })),
      h('div.item-meta.muted.small'),
      h('div.item-row.suggest-row', h('span.suggest.small', { testid: 'manual-suggestion' })),
      mayDispatch ? h('div.item-row.dispatch-row', select, button) : null,
      h('div.item-msg.small', { testid: 'manual-error', role: 'alert', hidden: true }));
    el._ = { select, button, open };
    open.addEventListener('click', () => this.openCase(el.dataset.ticketId));
    select.addEventListener('change', () => { el._.userChose = true; this.syncButton(el); });
    button.addEventListener('click', () => this.dispatch(el));
    select.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') { e.preventDefault(); this.dispatch(el); }
    });
    return el;
  }

  update(el, tk) {
    const prevVersion = el.dataset.version;
    el.dataset.ticketId = tk.id;
    el.dataset.version = String(tk.version || '0');
    el._.ticket = tk;
    el._.open.textContent = `${tk.id} · ${tk.categoryName || tk.category || ''}`;
    el.querySelector('[data-testid="manual-reason"]').textContent =
      tEnum('manualReason', tk.manualReason || (tk.state === 'TICKET_STATE_RETURNED' ? 'MANUAL_REASON_RETURNED' : 'MANUAL_REASON_UNSPECIFIED'));
    const meta = el.querySelector('.item-meta');
    meta.textContent = [fmtTime(tk.createdAt), tk.cell && tk.cell.streetName, tk.address || (tk.location ? '' : t('manual.noLocation'))]
      .filter(Boolean).join(' · ');
    const retryDue = !el._.located && Date.now() - (el._.locateFailedAt || 0) > 15000;
    if (prevVersion !== el.dataset.version || retryDue) this.suggest(el, tk);
    this.showStatus(el);
    this.refreshSelect(el);
  }

  suggest(el, tk) {
    const line = el.querySelector('[data-testid="manual-suggestion"]');
    el._.located = true;
    if (!tk.location) {
      el._.suggestion = null;
      line.textContent = t('manual.noSuggestion');
      return;
    }
    line.textContent = t('manual.locating');
    const version = el.dataset.version;
    this.locator.locate(tk.location, tk.category).then((resp) => {
      if (el.dataset.version !== version) return;
      const s = Locator.suggestion(resp);
      el._.suggestion = s;
      line.textContent = s ? t('manual.suggested', { squad: s.squadName || s.squadId }) : t('manual.noSuggestion');
      if (s) line.title = (s.routing && s.routing.reason) || '';
      this.refreshSelect(el);
    }, (err) => {
      if (el.dataset.version !== version) return;
      el._.suggestion = null;
      el._.located = false; // try again on a later update, not at once
      el._.locateFailedAt = Date.now();
      line.textContent = `${t('manual.noSuggestion')}（${errorText(err)}）`;
    });
  }

  refreshSelects() {
    for (const el of this.body.querySelectorAll('li.manual-item')) this.refreshSelect(el);
  }

  refreshSelect(el) {
    const s = el._.suggestion;
    const current = el._.select.value;
    const wanted = el._.userChose ? current : (s ? s.squadId : current);
    this.squads.fillSelect(el._.select, wanted);
    this.syncButton(el);
  }

  syncButton(el) {
    const st = this.status.get(el.dataset.ticketId) || {};
    el._.button.disabled = Boolean(st.busy) || !el._.select.value;
    el._.button.textContent = st.busy ? t('manual.dispatching') : t('manual.dispatch');
  }

  showStatus(el) {
    const st = this.status.get(el.dataset.ticketId) || {};
    const msg = el.querySelector('.item-msg');
    msg.hidden = !st.error;
    msg.textContent = st.error || '';
    msg.classList.toggle('error', Boolean(st.error));
    el.classList.toggle('busy', Boolean(st.busy));
    this.syncButton(el);
  }

  async dispatch(el) {
    const tk = el._.ticket;
    const squadId = el._.select.value;
    if (!tk || !squadId) return;
    const st = this.status.get(tk.id);
    if (st && st.busy) return;
    this.status.set(tk.id, { busy: true });
    this.showStatus(el);
    try {
      const context = {};
      if (tk.version) context.expectedVersion = tk.version;
      const updated = await api.dispatch('Dispatch', { ticketId: tk.id, squadId, context });
      this.status.delete(tk.id);
      if (updated && updated.id) this.store.put(updated);
      if (el.isConnected) this.showStatus(el);
    } catch (err) {
      this.status.set(tk.id, { error: errorText(err) });
      if (el.isConnected) this.showStatus(el);
    }
  }
}

/**
 * A panel of some of the open cases (the first `max` of cases(), the subclass's), each a button
 * that opens the case, drawn by the subclass's update(el, tk, now). `look` names the list's and
 * the items' classes and test ids, and the texts for none and for more than are shown.
 */
class CaseList {
  constructor({ body, count, store, openCase }, look) {
    Object.assign(this, { body, count, store, openCase, look });
  }

  render() {
    const { list: listClass, listTestid, empty, more: moreKey, max } = this.look;
    const cases = this.cases();
    this.count.textContent = cases.length ? String(cases.length) : '';
    if (!cases.length) {
      if (!this.body.querySelector('.panel-state.empty')) emptyState(this.body, t(empty));
      return;
    }
    let list = this.body.querySelector(`ul.${listClass}`);
    if (!list) {
      clear(this.body);
      list = h(`ul.item-list.${listClass}`, { testid: listTestid });
      this.body.append(list, h('p.more.muted.small'));
    }
    const shown = cases.slice(0, max);
    const now = engineNow();
    reconcile(list, shown, (tk) => tk.id, () => this.create(), (el, tk) => this.update(el, tk, now));
    const more = this.body.querySelector('p.more');
    more.textContent = cases.length > shown.length ? t(moreKey, { n: cases.length - shown.length }) : '';
  }

  relabel() {
    const list = this.body.querySelector(`ul.${this.look.list}`);
    if (list) clear(list);
    if (this.body.querySelector('.panel-state.empty')) clear(this.body);
    this.render();
  }

  create() {
    const button = h('button.item-button', { type: 'button' });
    const el = h(`li.item.${this.look.item}`, { testid: this.look.item }, button);
    button.addEventListener('click', () => this.openCase(el.dataset.ticketId));
    el._ = { button };
    return el;
  }
}

/** How late the case's stage is, or how long it has left; '' without a deadline. */
function stageTime(tk, now) {
  const deadline = ts(tk.stageDeadline);
  if (!Number.isFinite(deadline)) return '';
  return now >= deadline ? t('overdue.late', { duration: fmtDuration(now - deadline) }) : t('overdue.left', { duration: fmtDuration(deadline - now) });
}

export class OverdueList extends CaseList {
  constructor(opts) {
    super(opts, { list: 'overdue-list', item: 'overdue-item', empty: 'overdue.empty', more: 'overdue.more', max: MAX_OVERDUE_SHOWN });
  }

  cases() {
    return this.store.derive().overdue;
  }

  update(el, tk, now) {
    el.dataset.ticketId = tk.id;
    el.dataset.escalationLevel = String(num(tk.escalationLevel));
    const lateness = stageTime(tk, now);
    const level = num(tk.escalationLevel);
    const sig = [tk.version, level, lateness, tk.light].join('|');
    if (el.dataset.sig === sig) return;
    el.dataset.sig = sig;
    clear(el._.button).append(
      h('div.item-row',
        lightDot(tk),
        h('span.item-title', `${tk.id} · ${tk.categoryName || tk.category || ''}`),
        level > 0 ? h(`span.badge.esc.lvl-${Math.min(level, 4)}`, { testid: 'overdue-level' }, escalationLevelLabel(level)) : null),
      h('div.item-meta.muted.small',
        [whoHasIt(tk), tEnum('state', tk.state), tEnum('stage', tk.stage || 'STAGE_UNSPECIFIED')].join(' · ')),
      lateness ? h(`div.late.small${tk.overdue ? '.overdue' : ''}`, { testid: 'overdue-lateness' }, lateness) : null,
    );
  }
}

/** Who holds the case now: its squad, or the supervisor verifying it, or nobody yet. */
function whoHasIt(tk) {
  if (tk.squadName || tk.squadId) return tk.squadName || tk.squadId;
  if (tk.state === 'TICKET_STATE_VERIFYING') return tk.verifier ? t('verifyq.verifier', { name: tk.verifier }) : t('verifyq.noVerifier');
  return t('case.noSquad');
}

/**
 * Public reports waiting for a grid supervisor's on-site verification (待核实) before they are
 * filed, the one due first on top: who verifies it and how long is left. Opening one shows the
 * case, where a role that may verify records what was found.
 */
export class VerifyQueue extends CaseList {
  constructor(opts) {
    super(opts, { list: 'verify-list', listTestid: 'verify-list', item: 'verify-item', empty: 'verifyq.empty', more: 'verifyq.more', max: MAX_VERIFYING_SHOWN });
  }

  cases() {
    return this.store.derive().verifying;
  }

  update(el, tk, now) {
    el.dataset.ticketId = tk.id;
    el.dataset.state = tk.state || '';
    const left = stageTime(tk, now);
    const sig = [tk.version, left, tk.light, getLang()].join('|');
    if (el.dataset.sig === sig) return;
    el.dataset.sig = sig;
    const place = [tk.cell && tk.cell.streetName, tk.cell && tk.cell.communityName, tk.address].filter(Boolean).join(' ');
    clear(el._.button).append(
      h('div.item-row',
        lightDot(tk),
        h('span.item-title', `${tk.id} · ${tk.categoryName || tk.category || ''}`),
        h('span.badge.verifying', { testid: 'verify-state' }, tEnum('state', tk.state))),
      h('div.item-meta.muted.small', [place || t('manual.noLocation'), fmtTime(tk.createdAt)].join(' · ')),
      h('div.item-row.small',
        h('span.verifier', { testid: 'verify-verifier' }, tk.verifier ? t('verifyq.verifier', { name: tk.verifier }) : t('verifyq.noVerifier')),
        left ? h(`span.late${tk.overdue ? '.overdue' : ''}`, { testid: 'verify-left' }, left) : null),
    );
  }
}
