// The task view: everything a member needs on site — what, where (a sketch on the city's own
// shapes, the distance from the phone, a link that opens navigation), how urgent and by when,
// the reports and their photos, the history — and the actions the member may take now.
//
// Actions go through the outbox. Online, the view waits for the answer and shows the server's
// message next to the field when it is refused; offline, the action is kept and the view shows
// what it will do once sent (the task's state after the queued actions, and what may follow).

import * as api from '../api.js';
import { t, tEnum, escalationLevelLabel } from '../i18n.js';
import { h, clear, errorText, fmtTime } from '../dom.js';
import { lightOf, countdown, lightDot, shownState, stateBadge } from './common.js';
import { actionsIn } from './outbox.js';
import { preparePhoto, PhotoUrls } from './photos.js';
import { TaskMap, distanceM, fmtDistance } from './minimap.js';
import { toast } from './notify.js';
import { isOpen } from '../store.js';

const SQUAD_ACTIONS = ['accept', 'start', 'resolve', 'return'];
const FORM_ACTIONS = new Set(['resolve', 'return']);
const MAX_PHOTOS = 9;
const MAX_TEXT = 1000;
// Applications to the centre (延期/挂账/退回 申请), sent directly (not through the outbox).
const APPLY_KINDS = [['APPLICATION_KIND_EXTENSION', 'extension'], ['APPLICATION_KIND_SUSPENSION', 'suspension'], ['APPLICATION_KIND_RETURN', 'return']];
const EXT_UNITS = ['h', 'WH', 'WD', 'min'];

export class TaskView {
  /**
   * opts: { root, store, outbox, shapes: () => Promise<shapes|null>, permitted: Set of actions,
   * online: () => boolean, onTitle(text) }
   */
  constructor(opts) {
    Object.assign(this, opts);
    this.id = null;
    this.photos = new PhotoUrls();
    this.unwatch = null;
    this.store.onChange((c) => this.onStoreChange(c));
  }

  isOpen() {
    return this.id !== null;
  }

  open(id) {
    if (this.id !== id) this.reset();
    this.id = id;
    this.load(true);
  }

  close() {
    this.reset();
    this.id = null;
    clear(this.root);
  }

  reset() {
    clearTimeout(this.reloadTimer);
    if (this.unwatch) this.unwatch();
    this.unwatch = null;
    this.seq = (this.seq || 0) + 1;
    this.data = null; // GetTicket's answer
    this.cached = false; // showing the device's copy (offline)
    this.refusal = null; // the server refused to show the task
    this.form = null; // 'resolve' | 'return'
    this.formEl = null;
    this.formPhotos = [];
    this.busy = null; // actionId being sent while the member waits
    this.message = null; // { kind: 'ok'|'error'|'info', text, detail }
    this.mapSection = null;
    this.me = null;
    this.locating = '';
    this.photos.clear();
    this.applyEl = null; // the 申请 form, kept across renders
    this.pressForm = null; // the answer form of the latest pressing, kept across renders
  }

  // ---- data ---------------------------------------------------------------------------------

  async load(showLoading) {
    const id = this.id;
    const seq = ++this.seq;
    if (showLoading && !this.data) {
      const held = this.store.get(id);
      if (held) {
        this.cached = true; // drawn from the device at once, replaced when the answer comes
        this.render();
      } else {
        clear(this.root).append(h('div.panel-state.loading', { role: 'status', testid: 'task-loading' }, h('span.spinner', { 'aria-hidden': 'true' }), t('term.task.loading')));
      }
    }
    try {
      const resp = await api.dispatch('GetTicket', { id, includeHistory: true });
      if (seq !== this.seq) return;
      this.data = resp || {};
      this.cached = false;
      this.refusal = null;
      if (this.data.ticket) this.store.put(this.data.ticket);
      this.render();
    } catch (err) {
      if (seq !== this.seq) return;
      if (err instanceof api.ApiError && (err.status === 403 || err.status === 404)) {
        this.refusal = err;
        this.data = null;
        // Not this squad's (any more): it leaves the list too.
        const held = this.store.get(id);
        if (held && err.status === 403) this.store.remove(id, Number(held.version) + 1);
        this.render();
        return;
      }
      if (this.store.get(id) || this.data) {
        this.cached = !this.data;
        if (err.status !== 0) this.message = { kind: 'error', text: errorText(err) };
        this.render();
      } else {
        this.renderError(err);
      }
    }
  }

  /** The freshest picture of the task: GetTicket's or a newer one from the feed or a command. */
  ticket() {
    const fromServer = this.data && this.data.ticket;
    const held = this.store.get(this.id);
    if (fromServer && held) return Number(held.version) > Number(fromServer.version) ? held : fromServer;
    return fromServer || held;
  }

  onStoreChange(change) {
    if (!this.isOpen() || !change || change.id !== this.id) return;
    const shown = this.data && this.data.ticket;
    if (change.removed || !shown || Number(change.ticket.version) > Number(shown.version)) {
      // The task moved on (the centre, the timer, another member): fetch it with its history.
      clearTimeout(this.reloadTimer);
      this.reloadTimer = setTimeout(() => { if (this.online()) this.load(false); }, 250);
      if (!change.removed) this.render();
    }
  }

  /** The outbox changed (queued, sending, sent): the pending actions and the state shown. */
  onOutboxChange() {
    if (this.isOpen() && (this.data || this.cached)) this.render();
  }

  /** Which actions to offer: the server's list when it is current, else the state machine's
   * for the state the queued actions will leave the task in. */
  actions(tk, pending) {
    if (this.busy) return [];
    if (!pending.length && this.data && !this.cached) {
      const allowed = new Set(this.data.allowedActions || []);
      return SQUAD_ACTIONS.filter((a) => allowed.has(a));
    }
    return actionsIn(shownState(tk, pending), this.permitted);
  }

  // ---- rendering ----------------------------------------------------------------------------

  renderError(err) {
    clear(this.root).append(h('div.panel-state.error', { role: 'alert', testid: 'task-error' },
      h('span', t('state.error', { message: errorText(err) })),
      h('button.btn', { type: 'button', testid: 'task-retry', onclick: () => this.load(true) }, t('state.retry'))));
  }

  renderRefusal(err) {
    const notFound = err.status === 404;
    this.onTitle(t('term.task.title'));
    clear(this.root).append(this.renderMessage(), h('div.refusal', { role: 'alert', testid: 'task-refused', dataset: { status: String(err.status), code: err.code } },
      h('strong', t(notFound ? 'term.task.notFound' : 'term.task.refused')),
      notFound ? null : h('p', t('term.task.refusedHint')),
      err.serverMessage ? h('p.err-detail', { testid: 'error-detail' }, err.message) : null,
      h('span.mono.muted', this.id)));
  }

  render() {
    if (!this.isOpen()) return;
    if (this.refusal) {
      this.renderRefusal(this.refusal);
      return;
    }
    const tk = this.ticket();
    if (!tk) return;
    const pending = this.outbox.pendingFor(tk.id);
    const scroll = document.scrollingElement ? document.scrollingElement.scrollTop : 0;
    const active = document.activeElement;
    const keepFocus = active && this.root.contains(active) && active.dataset.testid;
    this.onTitle(tk.categoryName || t('term.task.title'));
    const parts = [
      this.renderHead(tk, pending),
      this.renderMessage(),
      this.renderPending(pending),
      this.renderActions(tk, pending),
      this.renderPressing(tk),
      this.renderApplication(tk),
      this.renderDetails(tk),
      this.renderLocation(tk),
      this.renderReports(tk),
      this.renderResolution(tk),
      this.renderHistory(),
    ];
    clear(this.root).append(...parts.filter(Boolean));
    if (document.scrollingElement) document.scrollingElement.scrollTop = scroll;
    if (keepFocus) {
      const again = this.root.querySelector(`[data-testid="${keepFocus}"]`);
      if (again && again !== document.activeElement) again.focus({ preventScroll: true });
    }
  }

  renderHead(tk, pending) {
    const state = shownState(tk, pending);
    const light = lightOf(tk);
    return h(`section.task-head.light-${light}`, { testid: 'task-head', dataset: { ticketId: tk.id, version: String(tk.version || ''), state } },
      h('div.head-row', lightDot(light, 'task-view-light'), h('h2', { id: 'task-title', tabindex: '-1', testid: 'task-category' }, tk.categoryName || tk.category || '—'), stateBadge(state, 'task-view-state')),
      h('div.head-row.sub',
        countdown(tk, 'task-view-countdown'),
        h(`span.urgency${tk.urgency === 'URGENCY_URGENT' ? '.urgent' : ''}`, { testid: 'task-urgency' }, tEnum('urgency', tk.urgency || 'URGENCY_UNSPECIFIED')),
        h('span.mono.muted', { testid: 'task-id' }, tk.id)),
      this.cached ? h('p.cached-note', { testid: 'task-cached' }, t('term.task.cached')) : null);
  }

  renderMessage() {
    const m = this.message;
    const box = h('div.task-msg', { testid: 'task-message', role: m && m.kind === 'error' ? 'alert' : 'status', hidden: !m, dataset: { kind: m ? m.kind : '' } });
    if (m) {
      box.append(h('span', m.text));
      if (m.detail) box.append(h('span.err-detail', { testid: 'error-detail' }, m.detail));
    }
    return box;
  }

  renderPending(pending) {
    if (!pending.length) return null;
    const sending = this.outbox.sending ? this.outbox.sending.actionId : '';
    return h('section.pending-box', { testid: 'task-pending-box' },
      h('p', t('term.task.pending')),
      h('ol', pending.map((i) => h('li', { testid: 'task-pending-action', dataset: { action: i.action } },
        t(`term.action.${i.action}`),
        i.actionId === sending ? h('span.muted', ` · ${t('term.pending.sending')}`) : null,
        i.lastError ? h('span.muted.small', ` · ${t('term.outbox.lastError', { message: i.lastError })}`) : null))));
  }

  renderActions(tk, pending) {
    const actions = this.actions(tk, pending);
    const wrap = h('section.task-actions', { testid: 'task-actions', 'aria-label': t('term.task.actions') });
    if (this.busy) {
      wrap.append(h('p.sending', { role: 'status', testid: 'task-sending' }, h('span.spinner', { 'aria-hidden': 'true' }), t('term.action.sending')));
    } else if (!actions.length) {
      wrap.append(h('p.muted', { testid: 'task-no-actions' }, t('term.task.noActions')));
    } else {
      const bar = h('div.action-bar');
      for (const a of actions) {
        const primary = a === 'accept' || a === 'start' || a === 'resolve';
        bar.append(h(`button.btn.big${primary ? '.primary' : '.secondary'}`, {
          type: 'button', testid: `action-${a}`, 'aria-expanded': FORM_ACTIONS.has(a) ? String(this.form === a) : null,
          onclick: () => this.onAction(a, tk),
        }, t(`term.action.${a}`)));
      }
      wrap.append(bar);
    }
    if (this.form && (actions.includes(this.form) || this.busy)) {
      if (!this.formEl || this.formEl.dataset.action !== this.form) this.formEl = this.buildForm(this.form);
      this.formEl.controls.submit.disabled = Boolean(this.busy || this.formEl.dataset.preparing);
      wrap.append(this.formEl);
    } else if (!this.busy) {
      this.form = null;
      this.formEl = null;
    }
    return wrap;
  }

  renderDetails(tk) {
    const rows = [
      ['term.task.description', h('span', { testid: 'task-description' }, tk.description || '—')],
      ['term.task.address', h('span', { testid: 'task-address' }, [tk.address, tk.cell && [tk.cell.streetName, tk.cell.communityName].filter(Boolean).join(' ')].filter(Boolean).join(' · ') || '—')],
      ['term.task.stageDeadline', h('span', { testid: 'task-stage-deadline' }, `${fmtTime(tk.stageDeadline)}${tk.stage ? ` · ${tEnum('stage', tk.stage)}` : ''}`)],
      ['term.task.handlingDeadline', fmtTime(tk.handlingDeadline)],
    ];
    if (tk.dispatchedAt) rows.push(['term.task.dispatchedAt', fmtTime(tk.dispatchedAt)]);
    if (Number(tk.escalationLevel)) rows.push(['term.task.escalation', h('span.escalated', escalationLevelLabel(tk.escalationLevel))]);
    return section('task-details', null, h('dl.fields', rows.map(([k, v]) => [h('dt', t(k)), h('dd', v)])));
  }

  // ---- location -----------------------------------------------------------------------------

  renderLocation(tk) {
    const loc = tk.location;
    if (!loc || loc.lon === undefined || loc.lat === undefined) {
      return section('task-location', 'term.task.location', h('p.muted', t('term.task.noLocation')));
    }
    const point = { lon: Number(loc.lon), lat: Number(loc.lat) };
    const key = `${tk.id}:${point.lon},${point.lat}`;
    if (this.mapSection && this.mapSection.dataset.key === key) {
      this.updateDistance();
      return this.mapSection;
    }
    const mapBox = h('div.map-box', { testid: 'task-map-box' }, h('div.panel-state.loading', h('span.spinner', { 'aria-hidden': 'true' }), t('term.task.map.loading')));
    const label = tk.address || tk.categoryName || tk.id;
    const amap = `https://uri.amap.com/marker?position=${point.lon},${point.lat}&name=${encodeURIComponent(label)}&coordinate=wgs84&callnative=1`;
    const geo = `geo:${point.lat},${point.lon}?q=${point.lat},${point.lon}(${encodeURIComponent(label)})`;
    this.distanceEl = h('div.distance', { testid: 'task-distance', role: 'status' });
    const s = section('task-location', 'term.task.location',
      mapBox,
      h('div.map-tools',
        h('div.segmented', { role: 'group', 'aria-label': t('term.task.location') },
          this.framingButton('near', 'term.task.map.near'),
          this.framingButton('city', 'term.task.map.city')),
        h('span.mono.muted.small', `${point.lat.toFixed(5)}, ${point.lon.toFixed(5)}`)),
      this.distanceEl,
      h('div.nav-links',
        h('a.btn.secondary', { href: amap, target: '_blank', rel: 'noopener noreferrer', testid: 'task-nav-amap' }, `${t('term.task.navigate')} · ${t('term.task.navigateAmap')}`),
        h('a.btn.secondary', { href: geo, testid: 'task-nav-geo' }, t('term.task.navigateGeo'))));
    s.dataset.key = key;
    this.mapSection = s;
    this.point = point;
    this.taskMap = null;
    this.shapes().then((shapes) => {
      if (this.mapSection !== s) return;
      clear(mapBox);
      if (!shapes) {
        mapBox.append(h('div.panel-state.empty', t('term.task.map.none')));
        return;
      }
      this.taskMap = new TaskMap(shapes, point, t('term.task.map.aria'));
      if (this.me) this.taskMap.setMe(this.me);
      mapBox.append(this.taskMap.svg);
      this.syncFraming();
    }, () => {
      if (this.mapSection === s) clear(mapBox).append(h('div.panel-state.empty', t('term.task.map.none')));
    });
    this.updateDistance();
    this.autoLocate();
    return s;
  }

  framingButton(framing, key) {
    return h('button.btn.seg', {
      type: 'button', testid: `task-map-${framing}`, dataset: { framing }, 'aria-pressed': String(framing === 'near'),
      onclick: () => {
        if (this.taskMap) this.taskMap.frame(framing);
        this.syncFraming();
      },
    }, t(key));
  }

  syncFraming() {
    if (!this.mapSection || !this.taskMap) return;
    for (const b of this.mapSection.querySelectorAll('.seg')) b.setAttribute('aria-pressed', String(b.dataset.framing === this.taskMap.framing));
  }

  /** Asks for the phone's position only when the member already allowed it; else offers a
   * button (a permission prompt the member did not ask for is easily refused for good). */
  async autoLocate() {
    if (!navigator.geolocation || !navigator.permissions) return;
    try {
      const status = await navigator.permissions.query({ name: 'geolocation' });
      if (status.state === 'granted' && !this.me) this.locate();
    } catch { /* no Permissions API: the button stays */ }
  }

  locate() {
    if (!navigator.geolocation) {
      this.locating = 'failed';
      this.updateDistance();
      return;
    }
    this.locating = 'busy';
    this.updateDistance();
    const id = this.id;
    navigator.geolocation.getCurrentPosition((pos) => {
      if (this.id !== id) return;
      this.me = { lon: pos.coords.longitude, lat: pos.coords.latitude };
      this.locating = '';
      if (this.taskMap) this.taskMap.setMe(this.me);
      this.updateDistance();
    }, (err) => {
      if (this.id !== id) return;
      this.locating = err && err.code === 1 ? 'denied' : 'failed';
      this.updateDistance();
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  }

  updateDistance() {
    const el = this.distanceEl;
    if (!el) return;
    clear(el);
    el.dataset.state = this.me ? 'known' : this.locating || 'unknown';
    if (this.me && this.point) {
      el.append(h('strong', t('term.task.distance', { distance: fmtDistance(distanceM(this.me, this.point)) })));
    } else if (this.locating === 'busy') {
      el.append(h('span.muted', t('term.task.distanceBusy')));
    } else {
      if (this.locating) el.append(h('span.muted', t(this.locating === 'denied' ? 'term.task.distanceDenied' : 'term.task.distanceFailed')));
      if (navigator.geolocation && this.locating !== 'denied') {
        el.append(h('button.btn.small.ghost', { type: 'button', testid: 'task-locate', onclick: () => this.locate() }, t('term.task.distanceAsk')));
      }
    }
  }

  // ---- reports, resolution, history ----------------------------------------------------------

  renderReports(tk) {
    const reports = tk.reports || [];
    if (!reports.length) return section('task-reports', 'term.task.reports', h('p.muted', t('term.task.noReports')));
    // A camera's repeats are counted, not all listed: a task carries the opening report and
    // the newest, a case view at most 100.
    const count = Number(tk.reportCount || reports.length);
    return section('task-reports', 'term.task.reports', h('ul.reports', reports.map((r) => h('li.report', { testid: 'task-report', dataset: { reference: r.reference || '' } },
      h('div.report-top', h('span.badge', tEnum('channel', r.channel || 'CHANNEL_UNSPECIFIED')), h('span.muted.small', fmtTime(r.receivedAt))),
      h('div.mono.small.muted', [r.reference, r.contactMasked].filter(Boolean).join(' · ')),
      this.photoGrid(r.photoUrls || [], 'task-report-photo')))),
      count > reports.length ? h('p.muted.small', { testid: 'task-report-count' }, t('term.task.reportCount', { count, shown: reports.length })) : null);
  }

  renderResolution(tk) {
    const urls = tk.resolutionPhotoUrls || [];
    if (!tk.resolutionNote && !urls.length) return null;
    return section('task-resolution', 'term.task.resolution',
      tk.resolvedAt ? h('p.muted.small', fmtTime(tk.resolvedAt)) : null,
      tk.resolutionNote ? h('p', { testid: 'task-resolution-note' }, tk.resolutionNote) : null,
      this.photoGrid(urls, 'task-resolution-photo'));
  }

  /** Photos: gridd's own fetched with the token; other sites' only as links (the page's
   * content security policy shows no third-party image). */
  photoGrid(urls, testid) {
    if (!urls.length) return null;
    const grid = h('div.photos');
    for (const u of urls) {
      const path = api.serverPhotoPath(u);
      if (path) {
        const img = h('img', { alt: t('term.task.photos'), testid, dataset: { src: path } });
        const link = h('a.photo', { href: path, target: '_blank', rel: 'noopener' }, img);
        this.photos.server(path).then((blobUrl) => {
          img.src = blobUrl;
          link.href = blobUrl;
          img.dataset.loaded = 'true';
        }, () => {
          img.alt = this.online() ? t('term.task.photoFailed') : t('term.task.photoOffline');
          img.dataset.loaded = 'false';
          link.classList.add('failed');
        });
        grid.append(link);
      } else if (/^https?:/i.test(u)) {
        grid.append(h('a.photo-link.small', { href: u, target: '_blank', rel: 'noopener noreferrer' }, u));
      }
    }
    return grid;
  }

  /** Actions the server allows now (its current answer only: nothing while offline or queued). */
  allowedNow(action) {
    return Boolean(this.data && !this.cached && (this.data.allowedActions || []).includes(action));
  }

  /** The latest pressing (督办) of the centre, with the answer form while it may be answered. */
  renderPressing(tk) {
    const presses = tk.presses || [];
    if (!presses.length) return null;
    const p = presses[presses.length - 1];
    const s = section('task-press', 'term.press.title',
      h('div.head-row', h('strong', { testid: 'task-press-label' }, p.label || escalationLevelLabel(p.level)), h('span.muted.small', `${p.by || ''} · ${fmtTime(p.at)}`)),
      h('p', { testid: 'task-press-note' }, p.note || ''));
    if (p.reply) {
      s.append(h('p.small', { testid: 'task-press-reply' }, `${t('term.press.reply')}：${p.reply}`));
    } else if (this.allowedNow('answer_press')) {
      const key = `${tk.id}#${presses.length}`;
      if (this.pressForm && this.pressForm.dataset.key === key) {
        s.append(this.pressForm);
        return s;
      }
      const text = h('textarea', { id: 'press-answer', rows: '3', maxlength: String(MAX_TEXT), testid: 'press-answer', placeholder: t('term.press.answer.placeholder') });
      const err = h('div.field-error', { testid: 'press-answer-error', role: 'alert', hidden: true });
      const submit = h('button.btn.big.primary', { type: 'submit', testid: 'press-answer-submit' }, t('term.press.answer.submit'));
      const form = h('form.action-form', { testid: 'press-form', novalidate: true },
        h('div.field', h('label', { for: 'press-answer' }, t('term.press.answer')), text, err), h('div.form-buttons', submit));
      text.addEventListener('input', () => { err.hidden = true; });
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        const note = text.value.trim();
        if (!note) { showFieldError(err, t('term.press.answer.required')); text.focus(); return; }
        this.direct('answer_press', 'AnswerPress', { task: { ticketId: tk.id }, note }, submit, err);
      });
      form.dataset.key = key;
      this.pressForm = form;
      s.append(form);
    }
    return s;
  }

  /** A waiting application, or the 申请 form while the squad may apply. */
  renderApplication(tk) {
    const app = tk.application;
    if (app && app.kind && app.kind !== 'APPLICATION_KIND_UNSPECIFIED') {
      const kind = (APPLY_KINDS.find(([k]) => k === app.kind) || [])[1];
      return section('task-application', 'term.apply.waiting',
        h('p', { testid: 'task-application', dataset: { kind: app.kind } },
          `${kind ? t(`term.apply.${kind}`) : app.kind}${app.extension ? ` ${app.extension}` : ''}`),
        app.reason ? h('p.small', app.reason) : null,
        h('p.muted.small', [app.appliedBy || '', fmtTime(app.appliedAt), app.decideBy ? t('term.apply.decideBy', { time: fmtTime(app.decideBy) }) : ''].filter(Boolean).join(' · ')));
    }
    if (!this.allowedNow('apply')) return null;
    if (this.applyEl && this.applyEl.dataset.ticket === tk.id) return this.applyEl;
    const radios = APPLY_KINDS.map(([k, name], i) => h('label.radio', h('input', { type: 'radio', name: 'apply-kind', value: k, testid: `apply-kind-${name}`, checked: i === 0 }), ` ${t(`term.apply.${name}`)}`));
    const amount = h('input', { id: 'apply-amount', type: 'text', inputmode: 'decimal', value: '1', size: '4', testid: 'apply-amount' });
    const unit = h('select', { id: 'apply-unit', testid: 'apply-unit' }, EXT_UNITS.map((u) => h('option', { value: u }, t(`unit.${u}`))));
    const time = h('div.field', { testid: 'apply-time' }, h('label', { for: 'apply-amount' }, t('term.apply.time')), h('div.form-inline', amount, unit));
    const text = h('textarea', { id: 'apply-reason', rows: '3', maxlength: String(MAX_TEXT), testid: 'apply-reason', placeholder: t('term.apply.reason.placeholder') });
    const err = h('div.field-error', { testid: 'apply-error', role: 'alert', hidden: true });
    const submit = h('button.btn.big.secondary', { type: 'submit', testid: 'apply-submit' }, t('term.apply.submit'));
    const form = h('form.action-form', { testid: 'apply-form', novalidate: true },
      h('fieldset.field', h('legend', t('term.apply.kind')), radios), time,
      h('div.field', h('label', { for: 'apply-reason' }, t('term.apply.reason')), text, err), h('div.form-buttons', submit));
    const kindOf = () => (form.querySelector('input[name="apply-kind"]:checked') || {}).value;
    form.addEventListener('change', () => { time.hidden = kindOf() !== 'APPLICATION_KIND_EXTENSION'; });
    text.addEventListener('input', () => { err.hidden = true; });
    amount.addEventListener('input', () => { err.hidden = true; });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const kind = kindOf();
      const body = { task: { ticketId: tk.id }, kind, reason: text.value.trim() };
      if (kind === 'APPLICATION_KIND_EXTENSION') {
        const v = amount.value.trim();
        if (!/^\d+(\.\d{1,3})?$/.test(v) || !(Number(v) > 0)) { showFieldError(err, t('term.apply.badTime')); amount.focus(); return; }
        body.extension = `${Number(v)}${unit.value}`;
      }
      if (!body.reason) { showFieldError(err, t('term.form.reasonRequired')); text.focus(); return; }
      this.direct('apply', 'Apply', body, submit, err);
    });
    form.dataset.ticket = tk.id;
    this.applyEl = section('task-apply', 'term.apply.title', form);
    this.applyEl.dataset.ticket = tk.id;
    return this.applyEl;
  }

  /** A command sent directly to the server (not queued): offline, the member is told so. */
  async direct(action, method, body, button, err) {
    if (!this.online()) {
      showFieldError(err, t('term.offline'));
      return;
    }
    button.disabled = true;
    try {
      const updated = await api.rpc('gridd.v1.SquadService', method, body);
      if (updated && updated.id) this.store.put(updated);
      if (action === 'apply') this.applyEl = null;
      else this.pressForm = null;
      this.message = { kind: 'ok', text: t(`term.action.done.${action}`) };
      toast(t(`term.action.done.${action}`), 'ok');
      await this.load(false);
    } catch (e) {
      button.disabled = false;
      showFieldError(err, `${conflictWording(e)}：${errorText(e)}`);
    }
  }

  renderHistory() {
    const history = (this.data && this.data.history) || [];
    if (!history.length) {
      // A finished task has a history unless the engine's retention deleted it.
      const ticket = this.data && this.data.ticket;
      const empty = this.cached ? 'term.task.cached' : ticket && !isOpen(ticket) ? 'case.historyRetired' : 'term.task.noHistory';
      return section('task-history', 'term.task.history', h('p.muted', { testid: 'task-no-history' }, t(empty)));
    }
    return section('task-history', 'term.task.history', h('ol.timeline', { testid: 'task-timeline' }, [...history].reverse().map((ev) => {
      const actor = ev.actor === 'router' || ev.actor === 'timer' ? t(`actor.${ev.actor}`) : ev.actor || '';
      return h('li', { testid: 'task-history-entry', dataset: { kind: ev.kind || '' } },
        h('div.tl-head', h('strong', tEnum('kind', ev.kind, ev.kind || '—')), h('span.muted.small', fmtTime(ev.at, true))),
        actor ? h('div.small', actor) : null,
        ev.detail ? h('div.small.muted', ev.detail) : null);
    })));
  }

  // ---- actions ------------------------------------------------------------------------------

  onAction(action, tk) {
    this.message = null;
    if (FORM_ACTIONS.has(action)) {
      this.form = this.form === action ? null : action;
      if (!this.form) this.formEl = null;
      this.render();
      const first = this.root.querySelector('form.action-form textarea');
      if (first) first.focus();
      return;
    }
    this.submit(action, {});
  }

  buildForm(action) {
    const isResolve = action === 'resolve';
    const textId = isResolve ? 'form-note' : 'form-reason';
    const text = h('textarea', {
      id: textId, rows: '3', maxlength: String(MAX_TEXT), required: true, testid: textId,
      placeholder: t(isResolve ? 'term.form.note.placeholder' : 'term.form.reason.placeholder'),
    });
    const textErr = h('div.field-error', { testid: `${textId}-error`, role: 'alert', hidden: true });
    const fields = [h('div.field', h('label', { for: textId }, t(isResolve ? 'term.form.note' : 'term.form.reason')), text, textErr)];
    let photoErr = null;
    if (isResolve) {
      const input = h('input.visually-hidden', { id: 'form-photos', type: 'file', accept: 'image/*', capture: 'environment', multiple: true, testid: 'form-photos' });
      const previews = h('div.photo-previews', { testid: 'form-photo-previews' });
      photoErr = h('div.field-error', { testid: 'form-photos-error', role: 'alert', hidden: true });
      input.addEventListener('change', () => this.addPhotos(input, previews, photoErr));
      fields.push(h('div.field',
        h('span.label', t('term.form.photos')),
        h('label.btn.secondary.photo-add', { for: 'form-photos', tabindex: '0', role: 'button', testid: 'form-photos-add',
          onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); input.click(); } } }, t('term.form.photos.add')),
        input,
        h('span.muted.small', t('term.form.photos.hint')),
        previews, photoErr));
      this.drawPreviews(previews);
    }
    const formErr = h('div.field-error', { testid: 'form-error', role: 'alert', hidden: true });
    const submit = h(`button.btn.big${isResolve ? '.primary' : '.danger'}`, { type: 'submit', testid: 'form-submit' }, `${t('term.form.submit')} · ${t(`term.action.${action}`)}`);
    const cancel = h('button.btn.big.ghost', { type: 'button', testid: 'form-cancel' }, t('term.form.cancel'));
    const form = h('form.action-form', { testid: 'action-form', dataset: { action }, novalidate: true }, fields, formErr, h('div.form-buttons', submit, cancel));
    form.errors = { text: textErr, photos: photoErr, form: formErr };
    form.controls = { text, submit, cancel };
    cancel.addEventListener('click', () => {
      this.form = null;
      this.formEl = null;
      this.formPhotos = [];
      this.render();
    });
    text.addEventListener('input', () => { textErr.hidden = true; });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const value = text.value.trim();
      if (!value) {
        showFieldError(textErr, t(isResolve ? 'term.form.noteRequired' : 'term.form.reasonRequired'));
        text.focus();
        return;
      }
      if ([...value].length > MAX_TEXT) {
        showFieldError(textErr, t('term.form.tooLong', { n: MAX_TEXT }));
        text.focus();
        return;
      }
      if (form.dataset.preparing) return;
      this.submit(action, isResolve ? { note: value, photos: this.formPhotos.map((p) => p.blob) } : { reason: value });
    });
    return form;
  }

  /** Reduces the chosen pictures at once (what is stored and sent is the reduced JPEG). */
  async addPhotos(input, previews, err) {
    const files = [...(input.files || [])];
    input.value = '';
    err.hidden = true;
    if (!files.length) return;
    const form = input.form;
    const room = MAX_PHOTOS - this.formPhotos.length;
    if (files.length > room) showFieldError(err, t('term.form.photos.tooMany'));
    form.dataset.preparing = '1';
    form.controls.submit.disabled = true;
    const busy = h('span.muted.small', { testid: 'form-photos-busy' }, t('term.form.photos.preparing'));
    previews.append(busy);
    for (const file of files.slice(0, Math.max(0, room))) {
      try {
        const blob = await preparePhoto(file);
        this.formPhotos.push({ blob, url: this.photos.blob(blob), name: file.name });
      } catch {
        showFieldError(err, t('term.form.photos.unreadable', { name: file.name || '' }));
      }
    }
    delete form.dataset.preparing;
    form.controls.submit.disabled = false;
    this.drawPreviews(previews);
  }

  drawPreviews(previews) {
    clear(previews);
    this.formPhotos.forEach((p, i) => {
      previews.append(h('div.preview', { testid: 'form-photo-preview' },
        h('img', { src: p.url, alt: p.name || t('term.form.photos') }),
        h('button.btn.icon.remove', {
          type: 'button', 'aria-label': t('term.form.photos.remove'), title: t('term.form.photos.remove'),
          onclick: () => {
            this.photos.release(p.url);
            this.formPhotos.splice(i, 1);
            this.drawPreviews(previews);
          },
        }, '×')));
    });
  }

  /**
   * Queues the action with the version the member saw. Online, waits here for the answer;
   * offline (or when the network fails meanwhile) it stays queued and the view says so.
   */
  async submit(action, values) {
    const tk = this.ticket();
    if (!tk) return;
    const pending = this.outbox.pendingFor(tk.id);
    // Behind queued actions the version is the one they will produce, known only once they are
    // applied: the outbox fills it in then. Otherwise it is the version on screen.
    const expectedVersion = pending.length ? (pending[pending.length - 1].expectedVersion || tk.version) : tk.version;
    const item = await this.outbox.enqueue({
      ticketId: tk.id, action, expectedVersion, category: tk.categoryName || tk.category || '',
      note: values.note, reason: values.reason, photos: values.photos,
    });
    const wasForm = FORM_ACTIONS.has(action);
    if (!this.online()) {
      this.queued(action, wasForm);
      return;
    }
    this.busy = item.actionId;
    this.render();
    const id = this.id;
    if (this.unwatch) this.unwatch();
    this.unwatch = this.outbox.watch(item.actionId, (outcome) => {
      if (this.id !== id) return false;
      if (this.unwatch) this.unwatch();
      this.unwatch = null;
      this.busy = null;
      if (outcome.status === 'applied') {
        this.done(action);
        return true;
      }
      if (outcome.status === 'retry') {
        this.queued(action, wasForm);
        return true;
      }
      this.refused(action, outcome.err);
      return true;
    });
  }

  queued(action, wasForm) {
    this.busy = null;
    if (wasForm) this.closeForm();
    this.message = { kind: 'info', text: `${t(`term.action.${action}`)} · ${t('term.action.queued')}` };
    this.render();
  }

  done(action) {
    this.closeForm();
    this.message = { kind: 'ok', text: t(`term.action.done.${action}`) };
    toast(t(`term.action.done.${action}`), 'ok');
    this.load(false);
  }

  closeForm() {
    for (const p of this.formPhotos) this.photos.release(p.url);
    this.formPhotos = [];
    this.form = null;
    this.formEl = null;
  }

  /**
   * A refused action: the server's message next to the field it is about (else under the
   * form's buttons); a conflict (the task changed or left the squad) is also said on top,
   * since the task is fetched again and the form may no longer apply.
   */
  refused(action, err) {
    const text = errorText(err);
    const code = (err && err.code) || '';
    const conflict = ['aborted', 'permission_denied', 'failed_precondition', 'not_found'].includes(code);
    const form = this.formEl && this.formEl.dataset.action === action ? this.formEl : null;
    if (conflict || !form) this.message = { kind: 'error', text: `${t(`term.action.${action}`)} · ${conflictWording(err)}`, detail: text };
    this.render();
    if (form && form.isConnected) {
      const field = (err && err.field) || '';
      const box = /note|reason/.test(field) ? form.errors.text
        : /photo/.test(field) || (err && err.photo) ? form.errors.photos || form.errors.form
          : form.errors.form;
      showFieldError(box, text);
      box.scrollIntoView({ block: 'nearest' });
    }
    // The task changed under the member (or left the squad): show it as it is now.
    if (conflict) this.load(false);
  }
}

/** Our wording of a refusal by the server's code (its own message is shown beside it). */
export function conflictWording(err) {
  const code = (err && err.code) || '';
  if (err && err.photo) return t('term.conflict.photo');
  const key = `term.conflict.${code}`;
  return t(key) === key ? t('term.conflict.other') : t(key);
}

function showFieldError(box, text) {
  if (!box) return;
  box.textContent = text;
  box.hidden = false;
}

function section(testid, titleKey, ...children) {
  return h('section.task-section', { testid }, titleKey ? h('h3', t(titleKey)) : null, ...children);
}
