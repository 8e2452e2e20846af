// KPI tiles (today and the chosen period) and the squad leaderboard, from GetStats.

import * as api from './api.js';
import { t, tEnum, escalationNameLabel } from './i18n.js';
import { h, clear, loadingState, emptyState, errorState, fmtRate, fmtCount, fmtSeconds, dateInputValue, dateFromInput, debounce, latestLoad } from './dom.js';
import { engineNow, num } from './store.js';

// Tiles with a value for today and for the period: [field of Kpi, test id, kind, the count a
// rate is taken over (a rate over nothing shows "—", not 0 %)].
const PERIOD_TILES = [
  ['filed', 'kpi-filed', 'count'],
  ['dispatched', 'kpi-dispatched', 'count'],
  ['closed', 'kpi-closed', 'count'],
  ['onTimeDisposalRate', 'kpi-on-time-disposal-rate', 'rate'],
  ['closureRate', 'kpi-closure-rate', 'rate'],
  ['onTimeClosureRate', 'kpi-on-time-closure-rate', 'rate'],
  ['reworkRate', 'kpi-rework-rate', 'rate'],
  ['replyRate', 'kpi-reply-rate', 'rate', 'repliesDue'],
  ['onTimeReplyRate', 'kpi-on-time-reply-rate', 'rate', 'repliesDue'],
  ['satisfactionRate', 'kpi-satisfaction-rate', 'rate', 'replied'],
];
// The order the counts by state are shown in (labels as GetStats gives them); others follow.
const STATE_ORDER = ['verifying', 'registered', 'dispatched', 'accepted', 'in_progress', 'returned', 'checking', 'rework', 'suspended', 'closed', 'not_filed', 'cancelled'];
const LEVELS = ['reminder', 'pressing', 'yellow_card', 'red_card'];

// Leaderboard choices: [field, kind, higher is better, the count a rate is taken over].
export const BOARD_KPIS = [
  ['onTimeDisposalRate', 'rate', true, 'shouldDispose'],
  ['closureRate', 'rate', true, 'shouldClose'],
  ['onTimeClosureRate', 'rate', true, 'shouldClose'],
  ['reworkRate', 'rate', false],
  ['extensionRate', 'rate', false, 'dispatched'],
  ['filed', 'count', true],
  ['dispatched', 'count', true],
  ['closed', 'count', true],
  ['overduePending', 'count', false],
  ['averageHandlingSeconds', 'seconds', false],
  ['replyRate', 'rate', true, 'repliesDue'],
  ['onTimeReplyRate', 'rate', true, 'repliesDue'],
  ['satisfactionRate', 'rate', true, 'replied'],
];

function fmt(kind, v) {
  if (kind === 'rate') return fmtRate(v);
  if (kind === 'seconds') return fmtSeconds(v);
  return fmtCount(v);
}

function startOfMonth(ms) {
  const d = new Date(ms);
  return new Date(d.getFullYear(), d.getMonth(), 1);
}

function startOfDay(ms) {
  const d = new Date(ms);
  return new Date(d.getFullYear(), d.getMonth(), d.getDate());
}

export class KpiPanel {
  constructor({ body, boardBody, boardSelect, form, fromInput, toInput, monthButton, onStats }) {
    Object.assign(this, { body, boardBody, boardSelect, form, fromInput, toInput, monthButton, onStats });
    this.today = null;
    this.period = null;
    this.error = null;
    this.loading = false;
    this.custom = null; // { from: Date, to: Date (exclusive) } or null for this month
    this.allowed = true; // false for a role that may not read the KPIs (GetStats)
    this.boardKpi = 'onTimeDisposalRate';
    this.seq = 0;
    this.refreshSoon = debounce(() => this.load(), 1000, 5000);
    this.resetMonthInputs();
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.applyRange();
    });
    monthButton.addEventListener('click', () => {
      this.custom = null;
      this.resetMonthInputs();
      this.load();
    });
    boardSelect.addEventListener('change', () => {
      this.boardKpi = boardSelect.value;
      this.renderBoard();
    });
    this.fillBoardSelect();
  }

  /** Whether the signed-in role may read the KPIs; without, the panels say so and ask nothing. */
  setAllowed(allowed) {
    this.allowed = allowed;
    this.today = null;
    this.period = null;
    this.error = null;
    this.form.hidden = !allowed;
    this.boardSelect.hidden = !allowed;
  }

  resetMonthInputs() {
    const now = engineNow();
    this.fromInput.value = dateInputValue(startOfMonth(now));
    this.toInput.value = dateInputValue(new Date(now));
    this.fromInput.setCustomValidity('');
    this.toInput.setCustomValidity('');
  }

  applyRange() {
    const from = dateFromInput(this.fromInput.value);
    const toDay = dateFromInput(this.toInput.value);
    if (from && toDay && toDay < from) {
      this.toInput.setCustomValidity(t('kpi.badRange'));
      this.toInput.reportValidity();
      return;
    }
    this.toInput.setCustomValidity('');
    const to = toDay ? new Date(toDay.getFullYear(), toDay.getMonth(), toDay.getDate() + 1) : null;
    this.custom = { from, to };
    this.load();
  }

  fillBoardSelect() {
    const sel = this.boardSelect;
    clear(sel);
    for (const [field] of BOARD_KPIS) sel.append(h('option', { value: field }, t(`kpi.${field}`)));
    sel.value = this.boardKpi;
  }

  async load() {
    this.refreshSoon.cancel();
    const seq = ++this.seq;
    if (!this.allowed) {
      this.render();
      if (this.onStats) this.onStats(null, null);
      return;
    }
    const now = engineNow();
    const todayReq = { from: startOfDay(now).toISOString() };
    let periodReq;
    if (this.custom) {
      periodReq = {};
      if (this.custom.from) periodReq.from = this.custom.from.toISOString();
      if (this.custom.to) periodReq.to = this.custom.to.toISOString();
    } else {
      periodReq = { from: startOfMonth(now).toISOString() };
      if (document.activeElement !== this.fromInput && document.activeElement !== this.toInput) this.resetMonthInputs();
    }
    if (!this.today && !this.period) loadingState(this.body);
    if (!this.period) loadingState(this.boardBody);
    this.loading = true;
    const stats = () => Promise.all([api.dispatch('GetStats', todayReq), api.dispatch('GetStats', periodReq)]);
    const latest = await latestLoad(this, seq, stats, ([today, period]) => {
      this.today = today || {};
      this.period = period || {};
    });
    if (!latest) return;
    this.render();
    if (this.onStats && !this.error) this.onStats(this.period, this.today);
  }

  render() {
    this.fillBoardSelect();
    if (!this.allowed) {
      clear(this.body).append(h('div.panel-state.empty', { testid: 'kpi-no-permission' }, t('kpi.noPermission')));
      emptyState(this.boardBody, t('board.noPermission'));
      return;
    }
    if (this.error && !this.period) {
      errorState(this.body, this.error, () => this.load());
      errorState(this.boardBody, this.error, () => this.load());
      return;
    }
    if (!this.period) return;
    this.renderTiles();
    this.renderBoard();
  }

  renderTiles() {
    const today = (this.today && this.today.city) || {};
    const period = (this.period && this.period.city) || {};
    const periodLabel = this.custom ? t('kpi.period') : t('kpi.thisMonth');
    const grid = h('div.kpi-grid');
    const shown = (k, field, kind, over) => (over && !(num(k[over]) > 0) ? '—' : fmt(kind, k[field]));
    for (const [field, testid, kind, over] of PERIOD_TILES) {
      grid.append(h('div.kpi-tile', { testid, dataset: { today: String(num(today[field])), period: String(num(period[field])) }, title: over && !(num(period[over]) > 0) ? t('kpi.noBase') : null },
        h('div.kpi-label', h('span', t(`kpi.${field}`)), h('span.kpi-sub', t('kpi.today'))),
        h('div.kpi-num', { testid: `${testid}-today` }, shown(today, field, kind, over)),
        h('div.kpi-period', h('span', periodLabel), h('span.kpi-pnum', { testid: `${testid}-period` }, shown(period, field, kind, over))),
      ));
    }
    // Verified on site (核实数) and, of those, not filed (不予立案数): one tile, two counts.
    const pair = (k) => `${fmtCount(k.verified)} / ${fmtCount(k.notFiled)}`;
    grid.append(h('div.kpi-tile', { testid: 'kpi-verified', dataset: { today: String(num(today.verified)), period: String(num(period.verified)), todayNotFiled: String(num(today.notFiled)), periodNotFiled: String(num(period.notFiled)) }, title: `${t('kpi.verified')} / ${t('kpi.notFiled')}` },
      h('div.kpi-label', h('span', t('kpi.verifiedNotFiled')), h('span.kpi-sub', t('kpi.today'))),
      h('div.kpi-num', { testid: 'kpi-verified-today' }, pair(today)),
      h('div.kpi-period', h('span', periodLabel), h('span.kpi-pnum', { testid: 'kpi-verified-period' }, pair(period))),
    ));
    const overdue = num(this.period.overdueOpen);
    grid.append(h(`div.kpi-tile.alert${overdue > 0 ? '.hot' : ''}`, { testid: 'kpi-overdue-open', dataset: { value: String(overdue) } },
      h('div.kpi-label', h('span', t('kpi.overdueOpen'))),
      h('div.kpi-num.big', { testid: 'kpi-overdue-open-value' }, fmtCount(overdue)),
    ));

    const levels = this.period.escalationsByLevel || [];
    const byLabel = new Map(levels.map((c) => [c.label, num(c.count)]));
    const labels = [...LEVELS, ...levels.map((c) => c.label).filter((l) => l && !LEVELS.includes(l))];
    const esc = h('div.kpi-esc', { testid: 'kpi-escalations' },
      h('div.esc-row', h('span.kpi-label', t('kpi.escalations')), labels.map((label) => h(`div.esc-chip.esc-${label.replace(/[^a-z_]/gi, '')}`, { testid: `kpi-escalation-${label}`, dataset: { value: String(byLabel.get(label) || 0) } },
        h('span.esc-name', escalationNameLabel(label)),
        h('span.esc-count', fmtCount(byLabel.get(label) || 0))))),
    );
    const states = this.renderStates();
    states.append(h('span.kpi-foot.muted.small', t('kpi.merged', { n: fmtCount(this.period.mergedReports) })));
    clear(this.body).append(grid, esc, states);
  }

  /** Cases per state now (not per period), the new states of the closed loop among them. */
  renderStates() {
    const counts = (this.period.ticketsByState || []).filter((c) => num(c.count) > 0);
    const rank = (label) => { const i = STATE_ORDER.indexOf(label); return i < 0 ? STATE_ORDER.length : i; };
    counts.sort((a, b) => rank(a.label) - rank(b.label) || String(a.label).localeCompare(String(b.label)));
    const row = h('div.state-row', { testid: 'kpi-states' }, h('span.kpi-label', t('kpi.states')));
    if (!counts.length) row.append(h('span.muted.small', t('kpi.statesNone')));
    for (const c of counts) {
      const state = `TICKET_STATE_${String(c.label).toUpperCase()}`;
      row.append(h(`span.state-chip.${state.toLowerCase()}`, { testid: `kpi-state-${c.label}`, dataset: { value: String(num(c.count)) } },
        h('span', tEnum('state', state, c.label)), h('strong', fmtCount(c.count))));
    }
    return row;
  }

  renderBoard() {
    if (!this.period) return;
    const spec = BOARD_KPIS.find((k) => k[0] === this.boardKpi) || BOARD_KPIS[0];
    const [field, kind, higherBetter, over] = spec;
    const rows = (this.period.bySquad || []).slice();
    if (!rows.length) {
      emptyState(this.boardBody, t('board.empty'));
      return;
    }
    // A rate over nothing (e.g. no case owed yet) is not 0 %: shown as "—" and ranked last.
    const owed = (r) => !over || num(r[over]) > 0;
    rows.sort((a, b) => (owed(b) - owed(a))
      || (higherBetter ? num(b[field]) - num(a[field]) : num(a[field]) - num(b[field]))
      || String(a.name || a.key).localeCompare(String(b.name || b.key), 'zh-CN'));
    const max = Math.max(...rows.map((r) => num(r[field])), kind === 'rate' ? 1 : 0) || 1;
    const list = h('ol.board', { testid: 'leaderboard-list' });
    rows.forEach((r, i) => {
      const bar = h('span.board-bar');
      const has = owed(r);
      bar.style.width = `${has ? Math.max(0, Math.min(100, (num(r[field]) / max) * 100)).toFixed(1) : 0}%`;
      list.append(h('li.board-row', { testid: 'leaderboard-row', dataset: { squadId: r.key || '', value: has ? String(num(r[field])) : '' } },
        h('span.board-rank', has ? String(i + 1) : '—'),
        h('span.board-name', { title: r.name || r.key || '' }, r.name || r.key || '—'),
        h('span.board-track', bar),
        h('span.board-value', has ? fmt(kind, r[field]) : '—')));
    });
    clear(this.boardBody).append(list);
  }
}
