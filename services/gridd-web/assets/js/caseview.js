// The case view: one case with its reports, location, deadlines, photos and history, and the
// actions the signed-in role may take now (exactly GetTicket's allowedActions).

import * as api from './api.js';
import { t, tEnum, escalationLevelLabel } from './i18n.js';
import { h, clear, loadingState, errorState, errorText, refusal, showRefusal, fmtTime } from './dom.js';
import { drawMiniMap, miniMapBbox } from './map.js';
import { Locator } from './lists.js';
import { num, RANK_NAME, lightRank } from './store.js';

// Centre actions in display order; squad actions (accept, start, resolve, return) are not shown.
const CENTRE_ACTIONS = ['dispatch', 'verify_pass', 'verify_fail', 'extend', 'suspend', 'resume', 'close', 'cancel'];
const CANCEL_REASONS = ['CANCEL_REASON_DUPLICATE', 'CANCEL_REASON_INVALID', 'CANCEL_REASON_OUT_OF_SCOPE', 'CANCEL_REASON_ALREADY_FIXED'];
const UNITS = ['WH', 'WD', 'h', 'min'];
const DANGER = new Set(['cancel', 'close', 'verify_fail']);
// Our wording of a refused action, by the server's code (its own message is shown below it).
const ACTION_REFUSALS = {
  permission_denied: 'error.permissionDenied',
  failed_precondition: 'error.stale',
  aborted: 'error.stale',
};

export class CaseView {
  constructor({ root, body, idLabel, closeButton, store, squads, locator, map, isDark }) {
    Object.assign(this, { root, body, idLabel, closeButton, store, squads, locator, map, isDark });
    this.id = null;
    this.data = null;
    this.seq = 0;
    this.form = null; // name of the open action form
    this.message = null; // { kind: 'ok', text } or { kind: 'error', err, wording? } (worded at render)
    this.returnFocus = null;
    closeButton.addEventListener('click', () => this.close());
    store.onChange(() => this.onStoreChange());
  }

  isOpen() {
    return !this.root.hidden;
  }

  open(id) {
    if (!id) return;
    if (!this.isOpen()) this.returnFocus = document.activeElement;
    this.id = id;
    this.data = null;
    this.form = null;
    this.message = null;
    this.root.hidden = false;
    this.place();
    this.idLabel.textContent = id;
    this.load(true);
    this.closeButton.focus();
  }

  /** Puts the top of the view under the top bar, and under the connection strip while it shows. */
  place() {
    if (!this.isOpen()) return;
    const bar = document.querySelector('.topbar');
    const strip = document.getElementById('conn-banner');
    let bottom = bar ? bar.getBoundingClientRect().bottom : 0;
    if (strip && !strip.hidden) bottom = Math.max(bottom, strip.getBoundingClientRect().bottom);
    this.root.style.top = bar && window.innerWidth > 1000 ? `${Math.round(bottom)}px` : '';
  }

  close() {
    if (!this.isOpen()) return;
    this.root.hidden = true;
    clearTimeout(this.reloadTimer);
    this.id = null;
    this.data = null;
    this.form = null;
    this.seq++;
    this.revokePhotos();
    this.map.select(null, null);
    const back = this.returnFocus;
    this.returnFocus = null;
    if (back && back.isConnected && typeof back.focus === 'function') back.focus();
  }

  onStoreChange() {
    if (!this.isOpen() || !this.data || !this.data.ticket) return;
    const live = this.store.get(this.data.ticket.id);
    if (live && num(live.version) > num(this.data.ticket.version)) {
      clearTimeout(this.reloadTimer);
      this.reloadTimer = setTimeout(() => this.load(false), 300);
    }
  }

  async load(showLoading) {
    if (!this.id) return;
    const seq = ++this.seq;
    const id = this.id;
    if (showLoading || !this.data) loadingState(this.body, t('case.loading'));
    try {
      const resp = await api.dispatch('GetTicket', { id, includeHistory: true });
      if (seq !== this.seq) return;
      this.data = resp || {};
      if (this.data.ticket) {
        const tk = this.data.ticket;
        this.idLabel.textContent = tk.id;
        if (tk.squadId) this.squads.add(tk.squadId, tk.squadName);
        this.store.put(tk);
        this.map.select(tk.cell && tk.cell.cellCode, tk);
      }
      this.render();
    } catch (err) {
      if (seq !== this.seq) return;
      if (this.data && this.data.ticket) {
        this.message = { kind: 'error', err };
        this.render();
      } else {
        errorState(this.body, err, () => this.load(true));
      }
    }
  }

  render() {
    const d = this.data || {};
    const tk = d.ticket;
    const body = this.body;
    const scrollTop = body.scrollTop;
    clear(body);
    if (!tk) {
      body.append(h('div.panel-state.empty', { testid: 'case-pending' }, d.pending ? t('case.pending') : t('state.error', { message: this.id })),
        h('button.btn.small', { type: 'button', onclick: () => this.load(true) }, t('state.retry')));
      return;
    }
    const msg = h('div.case-msg', { testid: 'case-error', role: 'alert', hidden: !this.message || this.message.kind !== 'error' });
    if (this.message && this.message.kind === 'error') showRefusal(msg, refusal(this.message.err, this.message.wording || {}));
    const ok = h('div.case-ok', { testid: 'case-ok', role: 'status', hidden: !this.message || this.message.kind !== 'ok' }, this.message && this.message.kind === 'ok' ? this.message.text : '');
    body.append(msg, ok);
    body.append(this.renderSummary(tk));
    body.append(this.renderActions(d, tk));
    body.append(this.renderDeadlines(tk));
    body.append(this.renderLocation(tk));
    body.append(this.renderReports(tk));
    body.append(this.renderPhotos(tk));
    const resolution = this.renderResolution(tk);
    if (resolution) body.append(resolution);
    body.append(this.renderHistory(d.history || []));
    body.scrollTop = scrollTop;
  }

  renderSummary(tk) {
    const light = RANK_NAME[lightRank(tk)];
    const rows = [
      ['case.id', h('span.mono', { testid: 'case-field-id' }, tk.id)],
      ['case.category', `${tk.categoryName || ''}${tk.category ? `（${tk.category}）` : ''}`],
      ['case.state', h('span', h(`span.state-badge.${(tk.state || '').toLowerCase()}`, { testid: 'case-state', dataset: { state: tk.state || '' } }, tEnum('state', tk.state)),
        ' ', h(`span.light-dot.${light}`, { 'aria-hidden': 'true' }))],
      ['case.urgency', tEnum('urgency', tk.urgency || 'URGENCY_UNSPECIFIED')],
      ['case.squad', h('span', { testid: 'case-squad' }, tk.squadName || tk.squadId || t('case.noSquad'))],
      ['case.address', tk.address || '—'],
      ['case.description', tk.description || '—'],
      ['case.cell', tk.cell ? `${tk.cell.cellCode || ''} ${tk.cell.streetName || ''} ${tk.cell.communityName || ''}`.trim() : '—'],
      ['case.createdAt', fmtTime(tk.createdAt)],
    ];
    if (tk.dispatchedAt) rows.push(['case.dispatchedAt', fmtTime(tk.dispatchedAt)]);
    if (tk.closedAt) rows.push(['case.closedAt', `${fmtTime(tk.closedAt)} ${tk.closeType ? tEnum('closeType', tk.closeType) : ''}${tk.cancelReason ? tEnum('cancelReason', tk.cancelReason) : ''}`]);
    if (tk.manualReason) rows.push(['case.manualReason', tEnum('manualReason', tk.manualReason)]);
    if (tk.routing && (tk.routing.reason || tk.routing.ruleId)) rows.push(['case.routing', tk.routing.reason || tk.routing.ruleId]);
    return section('case-summary', null, dl(rows));
  }

  renderActions(d, tk) {
    const allowed = new Set(d.allowedActions || []);
    const actions = CENTRE_ACTIONS.filter((a) => allowed.has(a));
    const wrap = section('case-actions', 'case.actions');
    if (!actions.length) {
      wrap.append(h('p.muted.small', { testid: 'case-no-actions' }, t('case.noActions')));
      return wrap;
    }
    const bar = h('div.action-bar');
    for (const a of actions) {
      const b = h(`button.btn.small${DANGER.has(a) ? '.danger' : a === 'dispatch' || a === 'verify_pass' ? '.primary' : ''}`,
        { type: 'button', testid: `action-${a}`, 'aria-expanded': String(this.form === a) }, t(`action.${a}`));
      b.addEventListener('click', () => {
        this.form = this.form === a ? null : a;
        this.message = null;
        this.render();
        const first = this.body.querySelector('form.action-form select, form.action-form input, form.action-form textarea');
        if (first) first.focus();
      });
      bar.append(b);
    }
    wrap.append(bar);
    if (this.form && actions.includes(this.form)) {
      // A live refresh keeps the open form as the user left it (typed note, chosen squad).
      if (!this.formEl || this.formEl.dataset.action !== this.form || this.formEl.dataset.ticket !== tk.id) {
        this.formEl = this.renderForm(this.form, tk);
        this.formEl.dataset.ticket = tk.id;
      }
      wrap.append(this.formEl);
    } else {
      this.formEl = null;
    }
    return wrap;
  }

  renderForm(action, tk) {
    const fields = [];
    let squad, reason, amount, unit;
    if (action === 'dispatch') {
      squad = h('select', { id: 'form-squad', required: true, testid: 'form-squad' });
      // Re-dispatch (改派) goes to another squad: the current one is not pre-selected.
      this.squads.fillSelect(squad, '');
      const hint = h('span.muted.small', { testid: 'form-suggestion' });
      if (tk.location) {
        hint.textContent = t('manual.locating');
        this.locator.locate(tk.location, tk.category).then((resp) => {
          const s = Locator.suggestion(resp);
          hint.textContent = s ? t('manual.suggested', { squad: s.squadName || s.squadId }) : t('manual.noSuggestion');
          if (s && !squad.dataset.touched && s.squadId !== tk.squadId) this.squads.fillSelect(squad, s.squadId);
          else this.squads.fillSelect(squad);
        }, (err) => { hint.textContent = `${t('manual.noSuggestion')}（${errorText(err)}）`; });
      } else {
        hint.textContent = t('manual.noSuggestion');
      }
      squad.addEventListener('change', () => { squad.dataset.touched = '1'; });
      fields.push(field('form-squad', 'form.squad', squad), hint);
    }
    if (action === 'cancel') {
      reason = h('select', { id: 'form-reason', required: true, testid: 'form-reason' },
        h('option', { value: '' }, '—'),
        CANCEL_REASONS.map((r) => h('option', { value: r }, tEnum('cancelReason', r))));
      fields.push(field('form-reason', 'form.reason', reason));
    }
    if (action === 'extend') {
      amount = h('input', { id: 'form-amount', type: 'text', inputmode: 'decimal', value: '4', required: true, testid: 'form-amount', size: '6' });
      unit = h('select', { id: 'form-unit', testid: 'form-unit' }, UNITS.map((u) => h('option', { value: u }, `${u} · ${t(`unit.${u}`)}`)));
      fields.push(h('div.form-inline', field('form-amount', 'form.amount', amount), field('form-unit', 'form.unit', unit)));
    }
    const note = h('textarea', { id: 'form-note', rows: '2', maxlength: '1000', testid: 'form-note', placeholder: t('form.note.placeholder') });
    fields.push(field('form-note', 'form.note', note));
    const submit = h(`button.btn.small${DANGER.has(action) ? '.danger' : '.primary'}`, { type: 'submit', testid: 'form-submit' }, `${t('form.submit')} · ${t(`action.${action}`)}`);
    const cancel = h('button.btn.small.ghost', { type: 'button', testid: 'form-cancel' }, t('form.cancel'));
    const form = h('form.action-form', { testid: 'action-form', dataset: { action } }, fields, h('div.form-buttons', submit, cancel));
    cancel.addEventListener('click', () => { this.form = null; this.render(); });
    note.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
    });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const values = { note: note.value.trim() };
      if (squad) {
        values.squadId = squad.value;
        if (!values.squadId) { squad.setCustomValidity(t('form.chooseSquad')); squad.reportValidity(); return; }
      }
      if (reason) {
        values.reason = reason.value;
        if (!values.reason) { reason.setCustomValidity(t('form.reason')); reason.reportValidity(); return; }
      }
      if (amount) {
        const v = amount.value.trim();
        if (!/^(\d+(\.\d{1,3})?|\.\d{1,3})$/.test(v) || !(Number(v) > 0)) {
          amount.setCustomValidity(t('form.badAmount'));
          amount.reportValidity();
          return;
        }
        values.extension = `${normaliseNumber(v)}${unit.value}`;
      }
      this.submit(action, values, submit);
    });
    for (const el of [squad, reason, amount]) if (el) el.addEventListener('input', () => el.setCustomValidity(''));
    if (squad) squad.addEventListener('change', () => squad.setCustomValidity(''));
    if (reason) reason.addEventListener('change', () => reason.setCustomValidity(''));
    return form;
  }

  async submit(action, values, button) {
    const tk = this.data && this.data.ticket;
    if (!tk) return;
    const context = {};
    if (tk.version) context.expectedVersion = tk.version;
    if (values.note) context.note = values.note;
    const base = { ticketId: tk.id, context };
    const call = {
      dispatch: ['Dispatch', { ...base, squadId: values.squadId }],
      verify_pass: ['Verify', { ...base, passed: true }],
      verify_fail: ['Verify', { ...base, passed: false }],
      close: ['Close', base],
      cancel: ['Cancel', { ...base, reason: values.reason }],
      suspend: ['Suspend', base],
      resume: ['Resume', base],
      extend: ['ExtendDeadline', { ...base, extension: values.extension }],
    }[action];
    if (!call) return;
    button.disabled = true;
    button.textContent = t('form.busy');
    const seq = this.seq;
    try {
      const updated = await api.dispatch(call[0], call[1]);
      if (seq !== this.seq) return;
      if (updated && updated.id) this.store.put(updated);
      this.form = null;
      this.message = { kind: 'ok', text: `${t(`action.${action}`)} · ${t('case.done')}` };
      await this.load(false);
    } catch (err) {
      if (seq !== this.seq) return;
      button.disabled = false;
      button.textContent = `${t('form.submit')} · ${t(`action.${action}`)}`;
      this.message = { kind: 'error', err, wording: ACTION_REFUSALS };
      this.render();
      const box = this.body.querySelector('[data-testid="case-error"]');
      if (box) box.scrollIntoView({ block: 'nearest' });
      // The case moved on meanwhile (ABORTED): fetch it again so a retry sends its new version.
      if (err && (err.code === 'aborted' || err.code === 'failed_precondition')) this.load(false);
    }
  }

  renderDeadlines(tk) {
    const light = RANK_NAME[lightRank(tk)];
    const rows = [
      ['case.stage', tEnum('stage', tk.stage || 'STAGE_UNSPECIFIED')],
      ['case.stageDeadline', fmtTime(tk.stageDeadline)],
      ['case.handlingDeadline', fmtTime(tk.handlingDeadline)],
      ['case.light', h('span', h(`span.light-dot.${light}`, { 'aria-hidden': 'true' }), ' ', h('span', { testid: 'case-light' }, tEnum('light', tk.light || 'LIGHT_UNSPECIFIED')))],
      ['case.overdue', h(`span${tk.overdue ? '.overdue' : ''}`, { testid: 'case-overdue' }, tk.overdue ? t('yes') : t('no'))],
      ['case.escalationLevel', escalationLevelLabel(tk.escalationLevel)],
    ];
    const s = section('case-deadlines', 'case.deadlines', dl(rows));
    s.append(h('p.muted.small', t('case.counts', { rework: num(tk.reworkCount), ext: num(tk.extensionCount), ret: num(tk.returnCount) })));
    return s;
  }

  renderLocation(tk) {
    const s = section('case-location', 'case.location');
    const loc = tk.location;
    if (!loc || loc.lon === undefined || loc.lat === undefined) {
      s.append(h('p.muted', t('case.noLocation')));
      return s;
    }
    const point = { lon: Number(loc.lon), lat: Number(loc.lat) };
    s.append(h('p.small.mono', `${point.lon.toFixed(6)}, ${point.lat.toFixed(6)}`));
    const canvas = h('canvas.mini-map', { testid: 'case-minimap', 'aria-hidden': 'true' });
    s.append(canvas);
    const cellCode = tk.cell && tk.cell.cellCode;
    const draw = (cells) => {
      if (!canvas.isConnected) return;
      drawMiniMap(canvas, { point, cells, cellCode, dark: this.isDark() });
    };
    requestAnimationFrame(() => draw(this.miniCells && this.miniCells.key === cellCode + point.lon ? this.miniCells.cells : []));
    if (!this.miniCells || this.miniCells.key !== cellCode + point.lon) {
      const key = cellCode + point.lon;
      api.mapCells(miniMapBbox(point), 17).then((resp) => {
        this.miniCells = { key, cells: (resp && resp.cells) || [] };
        draw(this.miniCells.cells);
      }, () => { /* the point alone is still drawn */ });
    }
    return s;
  }

  renderReports(tk) {
    const s = section('case-reports', 'case.reports');
    const reports = tk.reports || [];
    if (!reports.length) {
      s.append(h('p.muted', t('case.noReports')));
      return s;
    }
    const list = h('ul.report-list');
    for (const r of reports) {
      list.append(h('li.report', { testid: 'case-report', dataset: { reference: r.reference || '' } },
        h('div.item-row', h('span.mono', r.reference || '—'), h('span.badge', tEnum('channel', r.channel || 'CHANNEL_UNSPECIFIED'))),
        h('div.muted.small', [
          `${t('case.receivedAt')} ${fmtTime(r.receivedAt)}`,
          r.contactMasked ? `${t('case.contact')} ${r.contactMasked}` : '',
          r.replyRequired ? t('case.replyRequired') : '',
        ].filter(Boolean).join(' · '))));
    }
    s.append(list);
    return s;
  }

  renderPhotos(tk) {
    const s = section('case-photos', 'case.photos');
    const urls = [];
    const add = (list) => { for (const u of list || []) if (typeof u === 'string' && u && !urls.includes(u)) urls.push(u); };
    add(tk.photoUrls);
    add(tk.mediaUrls);
    add(tk.photos);
    for (const r of tk.reports || []) { add(r.photoUrls); add(r.mediaUrls); }
    if (!urls.length) {
      s.append(h('p.muted', { testid: 'case-no-photos' }, t('case.noPhotos')));
      return s;
    }
    s.append(this.photoGrid(urls, 'case-photo'));
    return s;
  }

  /** What the squad reported when it resolved the case: the note, the time and its photos. */
  renderResolution(tk) {
    const urls = (tk.resolutionPhotoUrls || []).filter((u) => typeof u === 'string' && u);
    if (!tk.resolutionNote && !tk.resolvedAt && !urls.length) return null;
    const s = section('case-resolution', 'case.resolution');
    const rows = [];
    if (tk.resolvedAt) rows.push(['case.resolvedAt', fmtTime(tk.resolvedAt)]);
    if (tk.resolutionNote) rows.push(['case.resolutionNote', h('span', { testid: 'case-resolution-note' }, tk.resolutionNote)]);
    if (rows.length) s.append(dl(rows));
    if (urls.length) s.append(this.photoGrid(urls, 'case-resolution-photo'));
    return s;
  }

  /**
   * Thumbnails linking to the full images. Photos stored by gridd (/v1/photos/…) need the bearer
   * token, so they are fetched once per open case and shown from blob: URLs (freed when the view
   * closes or shows another case); other images of this origin load directly; links to other
   * sites stay links (the page's content security policy shows no third-party image).
   */
  photoGrid(urls, testid) {
    const grid = h('div.photos');
    for (const u of urls) {
      let url;
      try { url = new URL(u, location.href); } catch { continue; }
      const own = api.serverPhotoPath(u);
      if (own) {
        const img = h('img', { alt: t('case.photos'), testid, dataset: { src: own } });
        const link = h('a', { href: own, target: '_blank', rel: 'noopener', testid: `${testid}-link` }, img);
        this.photoUrl(own).then((blobUrl) => {
          img.src = blobUrl;
          link.href = blobUrl;
          img.dataset.loaded = 'true';
        }, () => {
          img.alt = t('case.photoFailed');
          img.dataset.loaded = 'false';
        });
        grid.append(link);
      } else if (url.origin === location.origin || url.protocol === 'data:' || url.protocol === 'blob:') {
        grid.append(h('a', { href: url.href, target: '_blank', rel: 'noopener' }, h('img', { src: url.href, alt: t('case.photos'), loading: 'lazy', testid })));
      } else if (url.protocol === 'http:' || url.protocol === 'https:') {
        grid.append(h('a.photo-link.small', { href: url.href, target: '_blank', rel: 'noopener noreferrer' }, url.href));
      }
    }
    return grid;
  }

  /** The blob: URL of a stored photo of the open case (fetched once; a failure is tried again). */
  photoUrl(path) {
    if (this.photoCase !== this.id) {
      this.revokePhotos();
      this.photoCase = this.id;
    }
    this.photoBlobs ||= new Map();
    let p = this.photoBlobs.get(path);
    if (!p) {
      p = api.photoObjectUrl(path);
      this.photoBlobs.set(path, p);
      p.catch(() => { if (this.photoBlobs.get(path) === p) this.photoBlobs.delete(path); });
    }
    return p;
  }

  revokePhotos() {
    for (const p of (this.photoBlobs || new Map()).values()) p.then((u) => URL.revokeObjectURL(u), () => {});
    this.photoBlobs = new Map();
    this.photoCase = null;
  }

  renderHistory(history) {
    const s = section('case-history', 'case.history');
    if (!history.length) {
      s.append(h('p.muted', t('case.noHistory')));
      return s;
    }
    const list = h('ol.timeline', { testid: 'timeline' });
    for (const ev of history) {
      const actor = ev.actor ? (ev.actor === 'router' || ev.actor === 'timer' ? t(`actor.${ev.actor}`) : ev.actor) : '';
      list.append(h(`li.timeline-entry.kind-${(ev.kind || '').replace(/[^a-z_]/g, '')}`, { testid: 'timeline-entry', dataset: { kind: ev.kind || '', seq: ev.seq || '' } },
        h('div.tl-head', h('span.tl-kind', tEnum('kind', ev.kind, ev.kind || '—')), h('span.tl-time.muted.small', fmtTime(ev.at, true))),
        h('div.small', [actor, ev.state ? tEnum('state', ev.state) : ''].filter(Boolean).join(' · ')),
        ev.detail ? h('div.tl-detail.small.muted', ev.detail) : null));
    }
    s.append(list);
    return s;
  }
}

function section(testid, titleKey, ...children) {
  return h('section.case-section', { testid }, titleKey ? h('h3', t(titleKey)) : null, ...children);
}

function dl(rows) {
  return h('dl.fields', rows.map(([k, v]) => [h('dt', t(k)), h('dd', v)]));
}

function field(id, labelKey, control) {
  return h('div.field', h('label', { for: id }, t(labelKey)), control);
}

function normaliseNumber(v) {
  let s = v.startsWith('.') ? `0${v}` : v;
  if (s.includes('.')) s = s.replace(/0+$/, '').replace(/\.$/, '');
  s = s.replace(/^0+(?=\d)/, '');
  return s;
}
