// Live answers while the operator types: where the call would go (GridService.Locate with the
// point and category) and the open cases of the same category nearby that it duplicates
// (DispatchService.FindSimilarCases), each of which the operator may merge the call into.

import * as api from '../api.js';
import { t, tEnum } from '../i18n.js';
import { h, clear, loadingState, errorState, emptyState, debounce } from '../dom.js';

const WAIT_MS = 300;
// How far to look for similar cases: wider than the auto-merge radius, because the point a
// caller gives is rough; the ones the router would merge into anyway are marked.
const SIMILAR_RADIUS_M = 200;

const wgs84 = (p) => ({ lon: p.lon, lat: p.lat, crs: 'COORD_SYSTEM_WGS84' });

/**
 * Runs `ask(signal)` for the latest input only: a newer request aborts the older one, and an
 * answer that arrives after a newer request started is dropped.
 */
class Latest {
  constructor() {
    this.seq = 0;
    this.controller = null;
  }

  async run(ask) {
    const seq = ++this.seq;
    if (this.controller) this.controller.abort();
    const controller = new AbortController();
    this.controller = controller;
    try {
      const value = await ask(controller.signal);
      return seq === this.seq ? { value } : null;
    } catch (err) {
      if (err && err.name === 'AbortError') return null;
      return seq === this.seq ? { err } : null;
    }
  }

  cancel() {
    this.seq++;
    if (this.controller) this.controller.abort();
    this.controller = null;
  }
}

/**
 * A panel answering the call's point and category as the operator types them: asked again a
 * moment after each change (ask() in the subclass), the latest answer kept in `answer`. The
 * subclass says what it needs to ask (complete()) and what to clear meanwhile (cleared()).
 */
class LiveAnswer {
  constructor() {
    this.input = { point: null, category: '' };
    this.answer = null; // { value } or { err }
    this.latest = new Latest();
    this.soon = debounce(() => this.load(), WAIT_MS);
  }

  complete() {
    return Boolean(this.input.point);
  }

  set(point, category) {
    const same = this.input.point === point && this.input.category === category;
    this.input = { point, category };
    if (same) return;
    this.answer = null;
    if (!this.complete()) {
      this.soon.cancel();
      this.latest.cancel();
      this.cleared();
      this.render();
      return;
    }
    this.render();
    this.soon();
  }

  /** Asks now; answers the new answer, or null when it was dropped (a newer one asked, or nothing to ask). */
  async ask(request) {
    if (!this.complete()) return null;
    const answer = await this.latest.run(request);
    if (answer) this.answer = answer;
    return answer;
  }

  /** The error state with a retry that asks again. */
  renderError(el) {
    return errorState(el, this.answer.err, () => { this.answer = null; this.render(); this.load(); });
  }
}

/** The cell, community and squad the call would go to. */
export class RoutePreview extends LiveAnswer {
  constructor({ body, onCell }) {
    super();
    this.body = body;
    this.onCell = onCell;
    this.render();
  }

  cleared() {
    this.onCell(null);
  }

  async load() {
    const { point, category } = this.input;
    const answer = await this.ask((signal) => api.grid('Locate', { point: wgs84(point), category }, signal));
    if (!answer) return;
    this.onCell(answer.value && answer.value.found && answer.value.cell ? answer.value.cell.cellCode : null);
    this.render();
  }

  render() {
    const el = this.body;
    if (!this.input.point) return emptyState(el, t('preview.noPoint'));
    if (!this.answer) return loadingState(el, t('preview.loading'));
    if (this.answer.err) return this.renderError(el);
    const r = this.answer.value;
    clear(el).append(h('div.route', { testid: 'route-preview', dataset: { found: String(Boolean(r.found)) } },
      r.found ? cellFields(r) : null,
      outsideNote(r),
      squadLine(r, this.input.category)));
  }
}

function cellFields(r) {
  const c = r.cell || {};
  return h('dl.fields.route-fields',
    h('dt', t('preview.cell')), h('dd.mono', { testid: 'route-cell' }, c.cellCode || '—'),
    h('dt', t('preview.community')), h('dd', { testid: 'route-community' }, c.communityName || '—'),
    h('dt', t('preview.street')), h('dd', { testid: 'route-street' }, c.streetName || '—'));
}

function outsideNote(r) {
  const m = Math.round(Number(r.outsideByM) || 0);
  if (!m) return null;
  return h('p.route-note', { testid: 'route-outside' }, t(r.found ? 'preview.outsideNear' : 'preview.outside', { m }));
}

function squadLine(r, category) {
  const manual = r.manualReason && r.manualReason !== 'MANUAL_REASON_UNSPECIFIED';
  if (manual || (category && !(r.responsible || []).length)) {
    return h('div.route-squad.manual', { testid: 'route-manual' },
      h('span.route-label', t('preview.squad')),
      h('strong', t('preview.manual')),
      h('span.badge.reason', { testid: 'route-manual-reason' }, tEnum('manualReason', r.manualReason || 'MANUAL_REASON_NO_RESPONSIBLE_SQUAD')));
  }
  if (!category) return h('p.muted.route-note', { testid: 'route-need-category' }, t('preview.chooseCategory'));
  const s = r.responsible[0];
  const why = s.routing && s.routing.reason;
  return h('div.route-squad', { testid: 'route-squad-line' },
    h('span.route-label', t('preview.squad')),
    h('strong.route-squad-name', { testid: 'route-squad', dataset: { squadId: s.squadId || '' } }, s.squadName || s.squadId || '—'),
    why ? h('span.muted.small.route-why', { testid: 'route-why' }, why) : null);
}

/** The open cases of the category near the point, with "merge into this case" buttons. */
export class SimilarCases extends LiveAnswer {
  constructor({ body, countEl, noteEl, form, onCases, onOpen }) {
    super();
    Object.assign(this, { body, countEl, noteEl, form, onCases, onOpen });
    this.locked = false; // true while the logged call's receipt shows
    this.render();
  }

  lock(on) {
    this.locked = on;
    this.render();
  }

  complete() {
    return Boolean(this.input.point && this.input.category);
  }

  cleared() {
    this.onCases([], 0);
  }

  /** Asks again (the list ages while a call goes on). */
  refresh() {
    if (this.complete()) this.load();
  }

  async load() {
    const { point, category } = this.input;
    const answer = await this.ask((signal) => api.dispatch('FindSimilarCases', { category, location: wgs84(point), radiusM: SIMILAR_RADIUS_M }, signal));
    if (!answer) return;
    const v = answer.value || {};
    this.onCases(v.cases || [], Number(v.mergeRadiusM) || 0);
    this.render();
  }

  render() {
    const el = this.body;
    this.countEl.textContent = '';
    this.noteEl.textContent = '';
    if (!this.input.point || !this.input.category) return emptyState(el, t('similar.need'));
    if (!this.answer) return loadingState(el, t('similar.loading'));
    if (this.answer.err) return this.renderError(el);
    const v = this.answer.value || {};
    const cases = v.cases || [];
    const merge = Math.round(Number(v.mergeRadiusM) || 0);
    this.noteEl.textContent = t('similar.radius', { r: SIMILAR_RADIUS_M, m: merge });
    if (!cases.length) return emptyState(el, t('similar.none', { r: SIMILAR_RADIUS_M }));
    this.countEl.textContent = String(cases.length);
    clear(el).append(h('ul.item-list.similar-list', { testid: 'similar-list' }, cases.map((c) => this.item(c))));
  }

  item(c) {
    const tk = c.ticket || {};
    const attached = this.form.attachedId() === tk.id;
    // Once the call is logged the choice is made: no buttons, only what was chosen.
    const actions = this.locked
      ? (attached ? h('span.attached-note', { testid: 'similar-attached' }, `✓ ${t('similar.attached')}`) : null)
      : attached
        ? [h('span.attached-note', { testid: 'similar-attached' }, `✓ ${t('similar.attached')}`),
          h('button.btn.small', { type: 'button', testid: 'similar-undo', onclick: () => this.form.setAttach(null) }, t('similar.undo'))]
        : h('button.btn.small', { type: 'button', testid: 'similar-attach', onclick: () => this.form.setAttach(tk) }, t('similar.attach'));
    const distance = Math.round(Number(c.distanceM) || 0);
    return h(`li.item.similar-item${attached ? '.attached' : ''}${c.wouldMerge ? '.would-merge' : ''}`,
      { testid: 'similar-case', dataset: { ticketId: tk.id || '', distance: String(distance), wouldMerge: String(Boolean(c.wouldMerge)) } },
      h('div.item-row',
        h('button.link.mono.similar-id', { type: 'button', testid: 'similar-open', title: t('similar.open'), onclick: () => this.onOpen(tk.id) }, tk.id || ''),
        h('span.item-title', tk.categoryName || tk.category || ''),
        c.wouldMerge ? h('span.badge.merge', { testid: 'similar-would-merge' }, t('similar.wouldMerge')) : null),
      h('div.item-row.similar-meta',
        h('strong', { testid: 'similar-distance' }, t('similar.distance', { m: distance })),
        h('span.muted', { testid: 'similar-age' }, ageText(Number(c.ageSeconds) || 0)),
        h(`span.state-badge.${(tk.state || '').toLowerCase()}`, tEnum('state', tk.state))),
      tk.address || tk.description ? h('div.muted.small.similar-text', [tk.address, tk.description].filter(Boolean).join(' · ')) : null,
      actions ? h('div.item-row.similar-actions', actions) : null);
  }
}

/** "12 分钟前" from an age in seconds. */
export function ageText(seconds) {
  if (seconds < 60) return t('age.now');
  if (seconds < 3600) return t('age.minutes', { n: Math.floor(seconds / 60) });
  if (seconds < 86400) return t('age.hours', { n: Math.floor(seconds / 3600) });
  return t('age.days', { n: Math.floor(seconds / 86400) });
}
