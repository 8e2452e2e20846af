// The monthly 考核 (assessment) view: a month's figures, rates, composite scores and ranks of
// every squad, street, supervisor and dispatcher from GetAssessment, the city's summary above them, the
// freezing of a month that is over (for the roles that may) and the CSV exports of its figures
// and of the cases behind every figure.

import * as api from './api.js';
import { t, getLang } from './i18n.js';
import {
  h, clear, loadingState, emptyState, errorState, fmtRate, fmtCount, fmtTime, fmtClock, fmtSeconds,
  refusal, showRefusal, isTyping, debounce, latestLoad,
} from './dom.js';
import { engineNow, num } from './store.js';

// Months are the city's months (the server's periods). Every city of the mainland keeps Beijing
// time, and the API does not send the offset: UTC+8.
const CITY_OFFSET_MS = 8 * 3600 * 1000;

const pad = (n) => String(n).padStart(2, '0');

/** The city's month (YYYY-MM) at `ms`. */
export function cityMonth(ms) {
  const d = new Date(ms + CITY_OFFSET_MS);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}`;
}

/** The month `delta` months after `period` (YYYY-MM). */
export function shiftMonth(period, delta) {
  const [y, m] = period.split('-').map(Number);
  const i = y * 12 + (m - 1) + delta;
  return `${Math.floor(i / 12)}-${pad((i % 12) + 1)}`;
}

const PERIOD_RE = /^\d{4}-(0[1-9]|1[0-2])$/;

// Every rate, in the order the reports show them; the lower-is-better ones are marked.
const RATES = ['closure', 'on_time_closure', 'overdue_closure', 'on_time_disposal', 'timely_accept', 'on_time_dispatch',
  'accurate_dispatch', 'on_time_check', 'on_time_verify', 'rework', 'extension', 'valid_report', 'on_time_reply', 'satisfaction'];
const LOWER_IS_BETTER = new Set(['overdue_closure', 'rework', 'extension']);

// Every counted figure, in the order of a case's life (pressed_<n> and unknown ones follow).
const INDICATORS = ['filed', 'not_filed', 'dispatched', 'dispatch_owed', 'dispatched_on_time', 'accept_owed', 'accepted_on_time',
  'dispose_owed', 'disposed_on_time', 'disposed', 'check_owed', 'checked_on_time', 'verify_owed', 'verified_on_time',
  'closed', 'closed_on_time', 'closed_late', 'overdue_unclosed', 'reworked', 'extended', 'suspended', 'dispatch_errors',
  'reported', 'valid_reports', 'replies_due', 'replied', 'replied_on_time', 'satisfied'];
// Kept by the server for the average handling time; not a figure anyone reads.
const INTERNAL = new Set(['handling_millis']);

// The unit kinds of the switch, and the columns of each. A squad is never credited with 立案
// (filing is the centre's and the street's), so its table counts what it owed instead: 应处置.
const KINDS = ['squad', 'street', 'supervisor', 'dispatcher'];
const COLUMNS = {
  squad: {
    rates: ['closure', 'on_time_closure', 'overdue_closure', 'on_time_disposal', 'timely_accept', 'rework'],
    counts: ['dispose_owed', 'should_close', 'closed', 'overdue_unclosed'],
    press: true,
  },
  street: {
    rates: ['closure', 'on_time_closure', 'overdue_closure', 'on_time_disposal', 'timely_accept', 'rework'],
    counts: ['filed', 'should_close', 'closed', 'overdue_unclosed'],
    press: true,
  },
  supervisor: {
    rates: ['valid_report', 'on_time_verify'],
    counts: ['reported', 'valid_reports', 'verify_owed', 'verified_on_time'],
    press: false,
  },
  // A dispatcher (an account, or the routing rules' own dispatches as @router): 准确派遣率 =
  // (派遣数 − 派遣错误数) / 派遣数, and 按期派遣率 of the cases that waited for a dispatcher.
  dispatcher: {
    rates: ['accurate_dispatch', 'on_time_dispatch'],
    counts: ['dispatched', 'dispatch_errors', 'dispatch_owed', 'dispatched_on_time'],
    press: false,
  },
};
// The unit of the routing rules' own dispatches: its name is ours, in the page's language.
const ROUTER_UNIT = 'dispatcher:@router';
// The city's summary: counts, then rates.
const CITY_COUNTS = ['filed', 'should_close', 'closed', 'overdue_unclosed'];
const CITY_RATES = ['closure', 'on_time_closure', 'overdue_closure', 'on_time_disposal', 'timely_accept', 'rework'];

/** A figure of a line (int64 arrives as a string); 应结案 is the line's shouldClose. */
function figure(line, name) {
  if (name === 'should_close') return num(line.shouldClose);
  return num((line.figures || {})[name]);
}

/** A rate of a line, or null when nothing was owed (the server leaves it out). */
function rate(line, name) {
  const r = (line.rates || {})[name];
  return r === undefined || r === null ? null : num(r);
}

function hasScore(line) {
  return num(line.rank) > 0;
}

function fmtScore(line) {
  return hasScore(line) ? num(line.score).toFixed(1) : '—';
}

/** The month's name: 2026年11月 / Nov 2026. */
export function monthLabel(period) {
  const [y, m] = period.split('-').map(Number);
  const mon = new Date(Date.UTC(y, m - 1, 1)).toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
  return t('assess.monthName', { y, m, mon });
}

const rateLabel = (name) => {
  const key = `assess.rate.${name}`;
  const s = t(key);
  return s === key ? name : s;
};
const figureLabel = (name) => {
  const m = /^pressed_(\d+)$/.exec(name);
  if (m) return t('assess.ind.pressed', { n: m[1] });
  const key = `assess.ind.${name}`;
  const s = t(key);
  return s === key ? name : s;
};
const countHead = (name) => t(`assess.col.${name}`);
const unitName = (line) => (line.unit === ROUTER_UNIT ? t('assess.router') : line.name || line.unit);

export class AssessmentView {
  /**
   * `root` (the view, hidden until opened), `opener` (the button that opens it, focused again on
   * closing), `cover` (what the view covers, made inert while it shows) and the elements of its
   * head (see index.html).
   */
  constructor({ root, opener, cover, els }) {
    Object.assign(this, { root, opener, cover, els });
    this.period = '';
    this.kind = 'squad';
    this.data = null; // the Assessment of `dataPeriod`
    this.dataPeriod = '';
    this.loadedAt = 0;
    this.error = null;
    this.loading = false;
    this.seq = 0;
    this.busy = ''; // 'freeze' | 'figures' | 'cases' while that request runs
    this.confirming = false;
    this.message = null; // { ok: key, params } or { err } for the message box
    this.expanded = new Set(); // unit keys whose detail row shows
    this.allowed = false;
    this.refreshSoon = debounce(() => { if (this.isOpen() && this.live()) this.load({ quiet: true }); }, 1000, 5000);

    opener.addEventListener('click', () => (this.isOpen() ? this.close() : this.open()));
    els.close.addEventListener('click', () => this.close());
    els.prev.addEventListener('click', () => this.step(-1));
    els.next.addEventListener('click', () => this.step(1));
    els.current.addEventListener('click', () => this.go(this.currentMonth()));
    els.month.addEventListener('change', () => {
      const v = els.month.value;
      if (PERIOD_RE.test(v)) this.go(v);
      else els.month.value = this.period;
    });
    els.refresh.addEventListener('click', () => this.load());
    for (const kind of KINDS) {
      els.kinds[kind].addEventListener('click', () => this.setKind(kind));
    }
    els.kindGroup.addEventListener('keydown', (e) => this.onKindKey(e));
    els.exportFigures.addEventListener('click', () => this.download('figures'));
    els.exportCases.addEventListener('click', () => this.download('cases'));
    els.freeze.addEventListener('click', () => this.askFreeze());
    els.confirmYes.addEventListener('click', () => this.freeze());
    els.confirmNo.addEventListener('click', () => this.cancelFreeze());
    document.addEventListener('keydown', (e) => this.onKey(e));
  }

  isOpen() {
    return !this.root.hidden;
  }

  currentMonth() {
    return cityMonth(engineNow());
  }

  /** The month shown is not frozen: its figures change with the cases. */
  live() {
    return !(this.data && this.data.frozen);
  }

  /** Whether the signed-in role may read the 考核; without, the entry is not offered. */
  setAllowed(allowed) {
    this.allowed = allowed;
    this.opener.hidden = !allowed;
    if (!allowed && this.isOpen()) this.close();
  }

  /** Forgets everything (sign-out): the next open starts at the current month again. */
  reset() {
    this.close({ focus: false });
    this.seq++;
    Object.assign(this, { period: '', kind: 'squad', data: null, dataPeriod: '', loadedAt: 0, error: null, loading: false, busy: '', confirming: false, message: null });
    this.expanded.clear();
  }

  open() {
    if (!this.allowed) return;
    this.root.hidden = false;
    this.opener.setAttribute('aria-expanded', 'true');
    if (this.cover) this.cover.inert = true;
    if (!this.period) this.period = this.currentMonth();
    this.load();
    this.els.month.focus();
  }

  close({ focus = true } = {}) {
    if (!this.isOpen()) return;
    this.refreshSoon.cancel();
    this.root.hidden = true;
    this.opener.setAttribute('aria-expanded', 'false');
    if (this.cover) this.cover.inert = false;
    this.confirming = false;
    if (focus && !this.opener.hidden) this.opener.focus();
  }

  /** Escape: closes the confirmation if it shows, else the view. Answers whether it did anything. */
  onEscape() {
    if (!this.isOpen()) return false;
    if (this.confirming) this.cancelFreeze();
    else this.close();
    return true;
  }

  onKey(e) {
    if (!this.isOpen() || e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key !== '[' && e.key !== ']') return;
    const el = document.activeElement;
    if (isTyping(el) && el !== this.els.month) return;
    if (el && el.closest && el.closest('#case-view')) return;
    e.preventDefault();
    this.step(e.key === '[' ? -1 : 1);
  }

  /** Arrow keys move between the unit kinds (a group of toggle buttons). */
  onKindKey(e) {
    const moves = { ArrowLeft: -1, ArrowUp: -1, ArrowRight: 1, ArrowDown: 1 };
    if (!(e.key in moves)) return;
    e.preventDefault();
    const i = KINDS.indexOf(this.kind);
    const next = KINDS[(i + moves[e.key] + KINDS.length) % KINDS.length];
    this.setKind(next);
    this.els.kinds[next].focus();
  }

  step(delta) {
    const next = shiftMonth(this.period || this.currentMonth(), delta);
    if (delta > 0 && next > this.currentMonth()) return;
    this.go(next);
  }

  go(period) {
    if (period === this.period && this.data && this.dataPeriod === period) return;
    this.period = period;
    this.message = null;
    this.confirming = false;
    this.expanded.clear();
    this.load();
  }

  setKind(kind) {
    if (this.kind === kind) return;
    this.kind = kind;
    this.render();
  }

  async load({ quiet = false } = {}) {
    this.refreshSoon.cancel();
    if (!this.isOpen() || !this.period) return;
    const seq = ++this.seq;
    const period = this.period;
    if (!quiet || this.dataPeriod !== period) {
      this.data = null;
      this.dataPeriod = '';
      this.error = null;
    }
    this.loading = true;
    // A quiet refresh keeps the table as it is until the new figures arrive.
    if (quiet && this.data) this.renderHead();
    else this.render();
    const latest = await latestLoad(this, seq, () => api.dispatch('GetAssessment', { period }), (a) => {
      this.data = a || {};
      this.dataPeriod = period;
      this.loadedAt = Date.now();
    });
    if (latest) this.render();
  }

  askFreeze() {
    if (!this.data || this.data.frozen || this.busy) return;
    this.confirming = true;
    this.message = null;
    this.render();
    this.els.confirmNo.focus();
  }

  cancelFreeze() {
    this.confirming = false;
    this.render();
    if (!this.els.freeze.hidden) this.els.freeze.focus();
  }

  async freeze() {
    const period = this.period;
    this.confirming = false;
    this.busy = 'freeze';
    this.message = null;
    this.render();
    try {
      const frozen = await api.dispatch('FreezeAssessment', { period });
      if (period !== this.period) return;
      this.seq++; // an older load still under way must not overwrite the frozen report
      this.data = frozen || {};
      this.dataPeriod = period;
      this.loadedAt = Date.now();
      this.error = null;
      this.loading = false;
      this.message = { ok: 'assess.frozenOk', period };
    } catch (err) {
      if (period !== this.period) return;
      this.message = { err };
      // Frozen meanwhile (by someone else): show the frozen report.
      if (err instanceof api.ApiError && err.code === 'already_exists') this.load({ quiet: true });
    } finally {
      this.busy = '';
      this.render();
      if (this.isOpen() && period === this.period) (this.els.freeze.hidden ? this.els.exportFigures : this.els.freeze).focus();
    }
  }

  async download(which) {
    if (this.busy) return;
    const period = this.period;
    this.busy = which;
    this.message = null;
    this.render();
    try {
      const { blob, filename } = await api.fetchFile(`/v1/assessment/${encodeURIComponent(period)}/${which}.csv`);
      const url = URL.createObjectURL(blob);
      const a = h('a', { href: url, download: filename || `gridd-assessment-${period}-${which}.csv`, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (err) {
      this.message = { err };
    } finally {
      this.busy = '';
      this.render();
    }
  }

  // ---- rendering ------------------------------------------------------------------------------

  render() {
    if (!this.isOpen()) return;
    this.renderHead();
    this.renderMessage();
    this.renderBody();
  }

  renderHead() {
    const { els } = this;
    const current = this.currentMonth();
    const period = this.period || current;
    els.month.max = current;
    if (document.activeElement !== els.month || els.month.value !== period) els.month.value = period;
    els.next.disabled = period >= current;
    els.current.disabled = period === current;
    els.title.textContent = t('assess.titleOf', { month: monthLabel(period) });

    const status = els.status;
    const data = this.dataPeriod === period ? this.data : null;
    clear(status);
    status.className = 'assess-status';
    status.title = '';
    if (!data) {
      status.dataset.frozen = '';
      status.append(h('span.muted', this.error ? '' : t('state.loading')));
    } else if (data.frozen) {
      status.dataset.frozen = 'true';
      status.classList.add('frozen');
      status.title = t('assess.frozen.title');
      status.append(h('span.assess-status-label', { testid: 'assess-status-label' }, t('assess.frozen')),
        h('span.assess-status-detail', { testid: 'assess-frozen-detail' }, t('assess.frozenDetail', { time: fmtTime(data.frozenAt), by: data.frozenBy || '—' })));
    } else {
      status.dataset.frozen = 'false';
      status.classList.add('live');
      status.title = t('assess.live.title');
      status.append(h('span.assess-status-label', { testid: 'assess-status-label' }, t('assess.live')),
        this.loadedAt ? h('span.assess-status-detail', t('assess.updated', { time: fmtClock(this.loadedAt) })) : null);
    }

    for (const kind of KINDS) {
      const b = els.kinds[kind];
      const on = kind === this.kind;
      b.setAttribute('aria-pressed', String(on));
      b.tabIndex = on ? 0 : -1;
    }

    const month = period === current ? t('assess.thisMonthName') : monthLabel(period);
    els.freeze.hidden = !api.can('FreezeAssessment') || !data || Boolean(data.frozen);
    els.freeze.textContent = this.busy === 'freeze' ? t('assess.freezing') : t('assess.freeze', { month });
    els.freeze.disabled = Boolean(this.busy);
    els.exportFigures.disabled = Boolean(this.busy);
    els.exportCases.disabled = Boolean(this.busy);
    els.exportFigures.textContent = this.busy === 'figures' ? t('assess.exporting') : t('assess.export.figures');
    els.exportCases.textContent = this.busy === 'cases' ? t('assess.exporting') : t('assess.export.cases');
    els.exportFigures.title = t('assess.export.figures.title', { month: monthLabel(period) });
    els.exportCases.title = t('assess.export.cases.title', { month: monthLabel(period) });
    els.refresh.disabled = this.loading;

    els.confirm.hidden = !this.confirming;
    if (this.confirming) els.confirmText.textContent = t('assess.confirm', { month: monthLabel(period) });
  }

  renderMessage() {
    const box = this.els.msg;
    const m = this.message;
    box.hidden = !m;
    box.className = 'assess-msg';
    if (!m) {
      clear(box);
      return;
    }
    if (m.ok) {
      box.classList.add('ok');
      box.setAttribute('role', 'status');
      clear(box).append(h('span.err-main', t(m.ok, { month: monthLabel(m.period) })));
      return;
    }
    box.classList.add('error');
    box.setAttribute('role', 'alert');
    showRefusal(box, refusal(m.err, {
      failed_precondition: 'assess.refuse.notOver',
      already_exists: 'assess.refuse.already',
      permission_denied: 'error.permissionDenied',
    }));
  }

  renderBody() {
    // The table is built anew: the unit whose button had the focus gets it back.
    const body = this.els.body;
    const focused = body.contains(document.activeElement) && document.activeElement.closest('tr[data-unit]');
    const unit = focused && document.activeElement.classList.contains('unit-toggle') ? focused.dataset.unit : null;
    const scroll = body.scrollTop;
    this.fillBody();
    body.scrollTop = scroll;
    if (unit) {
      const b = [...body.querySelectorAll('.unit-toggle')].find((x) => x.closest('tr').dataset.unit === unit);
      if (b) b.focus();
    }
  }

  fillBody() {
    const body = this.els.body;
    const period = this.period;
    const data = this.dataPeriod === period ? this.data : null;
    if (!data) {
      if (this.error) errorState(body, this.error, () => this.load());
      else loadingState(body, t('assess.loading'));
      return;
    }
    const lines = data.lines || [];
    if (!lines.length) {
      emptyState(body, period === this.currentMonth() ? t('assess.empty') : t('assess.emptyMonth', { month: monthLabel(period) }));
      return;
    }
    const city = lines.find((l) => l.kind === 'city');
    const rows = lines.filter((l) => l.kind === this.kind);
    rows.sort((a, b) => (hasScore(b) - hasScore(a)) || (num(a.rank) - num(b.rank))
      || String(unitName(a)).localeCompare(String(unitName(b)), 'zh-CN'));
    const table = rows.length
      ? this.renderTable(rows)
      : h('div.panel-state.empty', { testid: 'assess-kind-empty' }, t('assess.emptyKind', { kind: t(`assess.kind.${this.kind}`) }));
    clear(body).append(
      city ? this.renderCity(city) : null,
      this.renderWeights(),
      h('div.assess-table-wrap', table),
    );
  }

  pressLevels() {
    const labels = (this.data && this.data.pressLevels) || [];
    return labels.map((label, i) => ({ n: i + 1, label: label || t('assess.ind.pressed', { n: i + 1 }) }));
  }

  renderCity(city) {
    const tile = (testid, label, value, attrs = {}) => h('div.kpi-tile.assess-tile', { testid, ...attrs },
      h('div.kpi-label', h('span', label)),
      h('div.kpi-num', value));
    const grid = h('div.kpi-grid.assess-city-grid');
    grid.append(tile('assess-city-score', t('assess.col.score'), fmtScore(city), { dataset: { value: hasScore(city) ? String(num(city.score)) : '' }, title: this.weightsText() }));
    for (const name of CITY_COUNTS) {
      grid.append(tile(`assess-city-${name.replace(/_/g, '-')}`, countHead(name), fmtCount(figure(city, name)), { dataset: { value: String(figure(city, name)) } }));
    }
    for (const name of CITY_RATES) {
      const r = rate(city, name);
      grid.append(tile(`assess-city-${name.replace(/_/g, '-')}`, rateLabel(name), r === null ? '—' : fmtRate(r),
        { dataset: { value: r === null ? '' : String(r) }, title: r === null ? t('assess.noBase') : null }));
    }
    const levels = this.pressLevels();
    const press = h('div.esc-row.assess-press', { testid: 'assess-city-press' }, h('span.kpi-label', t('assess.col.press')),
      levels.map(({ n, label }) => h('div.esc-chip', { testid: `assess-city-pressed-${n}`, dataset: { value: String(figure(city, `pressed_${n}`)) }, title: t('assess.ind.pressed', { n }) },
        h('span.esc-name', label), h('span.esc-count', fmtCount(figure(city, `pressed_${n}`))))),
      h('span.muted.small.assess-avg', t('assess.avgHandlingIs', { time: fmtSeconds(city.averageHandlingSeconds) })));
    return h('section.assess-city', { testid: 'assess-city', 'aria-label': t('assess.city', { name: city.name || '' }) },
      h('h3', t('assess.city', { name: city.name || '' })), grid, press);
  }

  weightsText() {
    const weights = Object.entries((this.data && this.data.weights) || {}).filter(([, w]) => num(w) > 0);
    if (!weights.length) return t('assess.weightsNone');
    weights.sort((a, b) => num(b[1]) - num(a[1]) || RATES.indexOf(a[0]) - RATES.indexOf(b[0]));
    const sep = getLang() === 'zh' ? '、' : ', ';
    return t('assess.weights', { list: weights.map(([name, w]) => `${rateLabel(name)} ${num(w)}`).join(sep) });
  }

  renderWeights() {
    return h('p.muted.small.assess-note', { testid: 'assess-weights' }, this.weightsText(), ' · ', t('assess.keys'));
  }

  renderTable(rows) {
    const cols = COLUMNS[this.kind];
    const levels = cols.press ? this.pressLevels() : [];
    const width = 3 + cols.rates.length + cols.counts.length + levels.length;
    const group = (key, n) => (n ? h('th.group', { scope: 'colgroup', colspan: String(n) }, t(key)) : null);
    const head = h('thead',
      h('tr',
        h('th.rank', { scope: 'col', rowspan: '2' }, t('assess.col.rank')),
        h('th.unit', { scope: 'col', rowspan: '2' }, t(`assess.unitOf.${this.kind}`)),
        h('th.score', { scope: 'col', rowspan: '2', title: this.weightsText() }, t('assess.col.score')),
        group('assess.group.rates', cols.rates.length),
        group('assess.group.counts', cols.counts.length),
        group('assess.col.press', levels.length)),
      h('tr',
        cols.rates.map((name) => h('th', { scope: 'col', title: LOWER_IS_BETTER.has(name) ? t('assess.lowerBetter') : null }, rateLabel(name))),
        cols.counts.map((name) => h('th', { scope: 'col', title: figureLabel(name) }, countHead(name))),
        levels.map(({ n, label }) => h('th.press', { scope: 'col', title: t('assess.ind.pressed', { n }) }, label))));
    const body = h('tbody');
    for (const line of rows) {
      const open = this.expanded.has(line.unit);
      const detailId = `assess-detail-${line.unit.replace(/[^A-Za-z0-9_-]/g, '_')}`;
      const rank = num(line.rank);
      const row = h(`tr.assess-row${rank > 0 && rank <= 3 ? `.top-${rank}` : ''}`, { testid: 'assess-row', dataset: { unit: line.unit, kind: line.kind || '', rank: String(rank) } },
        h('td.rank', { testid: 'assess-rank' }, rank > 0 ? h('span.rank-badge', String(rank)) : '—'),
        h('th.unit', { scope: 'row' },
          h('button.link.unit-toggle', {
            type: 'button', testid: 'assess-unit', 'aria-expanded': String(open), 'aria-controls': detailId,
            title: open ? t('assess.hideDetails') : t('assess.showDetails'),
            onclick: () => this.toggle(line.unit),
          }, h('span.caret', { 'aria-hidden': 'true' }, open ? '▾' : '▸'), ' ', unitName(line))),
        h('td.score', { testid: 'assess-score', dataset: { value: hasScore(line) ? String(num(line.score)) : '' } }, fmtScore(line)),
        cols.rates.map((name) => {
          const r = rate(line, name);
          return h(`td.rate${r === null ? '.na' : ''}`, { dataset: { col: name, value: r === null ? '' : String(r) }, title: r === null ? t('assess.noBase') : null }, r === null ? '—' : fmtRate(r));
        }),
        cols.counts.map((name) => h('td.num', { dataset: { col: name, value: String(figure(line, name)) } }, fmtCount(figure(line, name)))),
        levels.map(({ n }) => {
          const v = figure(line, `pressed_${n}`);
          return h(`td.num.press${v > 0 ? '.hot' : ''}`, { dataset: { col: `pressed_${n}`, value: String(v) } }, fmtCount(v));
        }));
      const detail = h('tr.assess-detail', { id: detailId, testid: 'assess-detail', hidden: !open },
        h('td', { colspan: String(width) }, open ? this.renderDetail(line) : null));
      body.append(row, detail);
    }
    return h('table.assess-table', { testid: 'assess-table', dataset: { kind: this.kind } },
      h('caption.visually-hidden', t('assess.caption', { kind: t(`assess.kind.${this.kind}`), month: monthLabel(this.period) })),
      head, body);
  }

  toggle(unit) {
    if (this.expanded.has(unit)) this.expanded.delete(unit);
    else this.expanded.add(unit);
    this.render();
  }

  /** Every figure and rate of a unit, labelled. */
  renderDetail(line) {
    const figures = line.figures || {};
    const names = Object.keys(figures).filter((n) => !INTERNAL.has(n));
    const order = (n) => { const i = INDICATORS.indexOf(n); return i < 0 ? INDICATORS.length : i; };
    names.sort((a, b) => order(a) - order(b) || a.localeCompare(b, 'en', { numeric: true }));
    const levels = new Map(this.pressLevels().map(({ n, label }) => [`pressed_${n}`, label]));
    const label = (n) => (levels.has(n) ? `${t('assess.col.press')} · ${levels.get(n)}` : figureLabel(n));
    const counts = h('dl.fields.assess-figures',
      [['should_close', num(line.shouldClose)], ...names.map((n) => [n, num(figures[n])])].flatMap(([n, v]) => [
        h('dt', n === 'should_close' ? t('assess.ind.should_close') : label(n)),
        h('dd', { dataset: { figure: n } }, fmtCount(v))]));
    const rates = h('dl.fields.assess-figures',
      RATES.filter((n) => rate(line, n) !== null).flatMap((n) => [h('dt', rateLabel(n)), h('dd', { dataset: { rate: n } }, fmtRate(rate(line, n)))]));
    return h('div.assess-detail-body',
      h('div', h('h4', t('assess.detail.figures')), counts),
      h('div', h('h4', t('assess.detail.rates')), rates.childElementCount ? rates : h('p.muted.small', t('assess.noBase')),
        h('p.muted.small', t('assess.avgHandlingIs', { time: fmtSeconds(line.averageHandlingSeconds) }))));
  }
}
