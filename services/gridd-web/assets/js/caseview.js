// The case view: one case with its reports, location, deadlines, photos, replies to callers and
// history, and the actions the signed-in role may take now (GetTicket's allowedActions, and the
// on-site verification of a report waiting for it, for the roles that may record one).

import * as api from './api.js';
import { t, tEnum, escalationLevelLabel, getLang } from './i18n.js';
import { h, clear, loadingState, errorState, errorText, refusal, showRefusal, fmtTime, fmtDuration, showFieldError, clearFieldError } from './dom.js';
import { drawMiniMap, miniMapBbox } from './map.js';
import { Locator } from './lists.js';
import { num, ts, RANK_NAME, lightRank, engineNow, isOpen } from './store.js';

// Centre actions in display order; squad actions (accept, start, resolve, return) are not shown.
const CENTRE_ACTIONS = ['dispatch', 'verify_pass', 'verify_fail', 'decide', 'extend', 'suspend', 'resume', 'reclassify', 'press', 'merge', 'split', 'close', 'cancel'];
// The actions with a form of their own (renderCentreForm): reclassification (改类), pressing
// (督办) at a ladder level, and the decision on a squad's application (延期/挂账/退回 申请).
const OWN_FORMS = new Set(['reclassify', 'press', 'decide']);
// The actions that link this case with another (renderLinkForm): merging it, as a duplicate,
// into its master (并案), and splitting a report merged into it out into a case of its own (拆分).
const LINK_FORMS = new Set(['merge', 'split']);
// The other side of a merge or split (Ticket.lineage), in the order the section lists them.
const LINK_KINDS = ['KIND_MERGED_INTO', 'KIND_MERGED_FROM', 'KIND_SPLIT_FROM', 'KIND_SPLIT_INTO'];
const PRESS_LEVELS = [1, 2, 3, 4];
const CANCEL_REASONS = ['CANCEL_REASON_DUPLICATE', 'CANCEL_REASON_INVALID', 'CANCEL_REASON_OUT_OF_SCOPE', 'CANCEL_REASON_ALREADY_FIXED'];
const UNITS = ['WH', 'WD', 'h', 'min'];
const DANGER = new Set(['cancel', 'close', 'verify_fail', 'verify_refuse']);
// On-site verification (核实) of a report waiting for it: file it, or not (不予立案) and why.
// GetTicket's allowedActions does not name these; the role's permission and the state decide.
const VERIFY_ACTIONS = ['verify_confirm', 'verify_refuse'];
const NOT_FILED_OUTCOMES = [
  ['VERIFY_OUTCOME_NOT_A_PROBLEM', 'NOT_FILED_REASON_NOT_A_PROBLEM'],
  ['VERIFY_OUTCOME_NOT_CITY_BUSINESS', 'NOT_FILED_REASON_NOT_CITY_BUSINESS'],
  ['VERIFY_OUTCOME_ALREADY_FIXED', 'NOT_FILED_REASON_ALREADY_FIXED'],
];
// The verification form's field a refusal's `field` (as the server names it) belongs to.
const FIELD_OF = {
  note: 'note', category: 'category', condition: 'condition', location: 'point', outcome: 'reason', reason: 'reason', level: 'level', approve: 'approve',
  // The master case of a merge (MergeCases) or of a duplicate cancel (Cancel), and the report split out.
  master_id: 'master', duplicate_of: 'master', reference: 'reference',
};

// The city's catalogue, asked once per page for the category correction at verification.
let cataloguePromise = null;
function catalogue() {
  if (!cataloguePromise) {
    cataloguePromise = api.grid('GetCatalogue', {}).then((r) => (r && r.categories) || []);
    cataloguePromise.catch(() => { cataloguePromise = null; });
  }
  return cataloguePromise;
}
// Our wording of a refused action, by the server's code (its own message is shown below it).
const ACTION_REFUSALS = {
  permission_denied: 'error.permissionDenied',
  failed_precondition: 'error.stale',
  aborted: 'error.stale',
};
// A merge refused by the state of a case (closed, cancelled, not filed) is not a stale page.
const LINK_REFUSALS = { ...ACTION_REFUSALS, failed_precondition: 'error.linkState' };

export class CaseView {
  constructor({ root, body, idLabel, closeButton, store, squads, locator, map, isDark }) {
    Object.assign(this, { root, body, idLabel, closeButton, store, squads, locator, map, isDark });
    this.id = null;
    this.data = null;
    this.seq = 0;
    this.form = null; // name of the open action form
    this.message = null; // { kind: 'ok', text } or { kind: 'error', err, wording? } (worded at render)
    this.returnFocus = null;
    this.photoCache = new api.PhotoCache(); // the stored photos of the open case
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
    const lineage = this.renderLineage(tk);
    if (lineage) body.append(lineage);
    body.append(this.renderActions(d, tk));
    const application = this.renderApplication(tk);
    if (application) body.append(application);
    const presses = this.renderPresses(tk);
    if (presses) body.append(presses);
    body.append(this.renderDeadlines(tk));
    body.append(this.renderLocation(tk));
    body.append(this.renderReports(tk));
    body.append(this.renderPhotos(tk));
    const resolution = this.renderResolution(tk);
    if (resolution) body.append(resolution);
    const replies = this.renderReplies(tk);
    if (replies) body.append(replies);
    body.append(this.renderHistory(d.history || [], d.historyNextPageToken, tk));
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
      // A report waiting for verification, or not filed after it, was never filed (立案).
      [unfiled(tk) ? 'case.reportedAt' : 'case.createdAt', fmtTime(tk.createdAt)],
    ];
    if (tk.verifier) {
      const pending = tk.state === 'TICKET_STATE_VERIFYING';
      rows.push(['case.verifier', h('span', { testid: 'case-verifier' }, pending ? t('case.verifierPending', { name: tk.verifier }) : tk.verifier)]);
    }
    if (tk.notFiledReason && tk.notFiledReason !== 'NOT_FILED_REASON_UNSPECIFIED') {
      rows.push(['case.notFiledReason', h('span.not-filed-reason', { testid: 'case-not-filed-reason', dataset: { reason: tk.notFiledReason } }, tEnum('notFiledReason', tk.notFiledReason))]);
    }
    if (tk.dispatchedAt) rows.push(['case.dispatchedAt', fmtTime(tk.dispatchedAt)]);
    if (tk.closedAt && tk.state === 'TICKET_STATE_NOT_FILED') rows.push(['case.notFiledAt', fmtTime(tk.closedAt)]);
    else if (tk.closedAt) rows.push(['case.closedAt', `${fmtTime(tk.closedAt)} ${tk.closeType ? tEnum('closeType', tk.closeType) : ''}${tk.cancelReason ? tEnum('cancelReason', tk.cancelReason) : ''}`]);
    if (tk.manualReason) rows.push(['case.manualReason', tEnum('manualReason', tk.manualReason)]);
    if (tk.routing && (tk.routing.reason || tk.routing.ruleId)) rows.push(['case.routing', tk.routing.reason || tk.routing.ruleId]);
    return section('case-summary', null, dl(rows));
  }

  renderActions(d, tk) {
    const allowed = new Set(d.allowedActions || []);
    const verify = tk.state === 'TICKET_STATE_VERIFYING' && api.can('VerifyReport') ? VERIFY_ACTIONS : [];
    const actions = verify.concat(CENTRE_ACTIONS.filter((a) => allowed.has(a)));
    const wrap = section('case-actions', 'case.actions');
    if (!actions.length) {
      wrap.append(h('p.muted.small', { testid: 'case-no-actions' }, t('case.noActions')));
      return wrap;
    }
    const bar = h('div.action-bar');
    for (const a of actions) {
      const b = h(`button.btn.small${DANGER.has(a) ? '.danger' : a === 'dispatch' || a === 'verify_pass' || a === 'verify_confirm' ? '.primary' : ''}`,
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
        this.formEl = OWN_FORMS.has(this.form) ? this.renderCentreForm(this.form, tk)
          : LINK_FORMS.has(this.form) ? this.renderLinkForm(this.form, tk) : this.renderForm(this.form, tk);
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
    let squad, reason, amount, unit, category, condition, point, outcome, master, masterField;
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
      // A duplicate names its master case (主案件): the cancel is then a merge into it.
      const controls = this.masterInput(tk);
      master = controls[0];
      masterField = field('form-master', 'form.master', controls, 'master');
      master.setAttribute('aria-required', 'true');
      masterField.hidden = true;
      fields.push(masterField);
      reason.addEventListener('change', () => {
        masterField.hidden = reason.value !== 'CANCEL_REASON_DUPLICATE';
        const form = masterField.closest('form');
        if (masterField.hidden && form) clearFieldError(form, 'master');
      });
    }
    if (action === 'extend') {
      amount = h('input', { id: 'form-amount', type: 'text', inputmode: 'decimal', value: '4', required: true, testid: 'form-amount', size: '6' });
      unit = h('select', { id: 'form-unit', testid: 'form-unit' }, UNITS.map((u) => h('option', { value: u }, `${u} · ${t(`unit.${u}`)}`)));
      fields.push(h('div.form-inline', field('form-amount', 'form.amount', amount), field('form-unit', 'form.unit', unit)));
    }
    if (action === 'verify_refuse') {
      // Required, checked here (the reason is said next to the field, not in a browser bubble).
      outcome = h('select', { id: 'form-outcome', 'aria-required': 'true', testid: 'form-outcome' },
        h('option', { value: '' }, t('form.chooseReason')),
        NOT_FILED_OUTCOMES.map(([o, r]) => h('option', { value: o }, tEnum('notFiledReason', r))));
      fields.push(field('form-outcome', 'form.verifyReason', outcome, 'reason'));
    }
    if (action === 'verify_confirm') {
      const listId = 'form-category-list';
      category = h('input', { id: 'form-category', type: 'text', list: listId, autocomplete: 'off', spellcheck: 'false', maxlength: '8', testid: 'form-category', placeholder: t('form.category.placeholder') });
      const options = h('datalist', { id: listId });
      condition = h('select', { id: 'form-condition', testid: 'form-condition' }, h('option', { value: '' }, t('form.condition.keep')));
      point = h('input', { id: 'form-point', type: 'text', inputmode: 'decimal', autocomplete: 'off', spellcheck: 'false', testid: 'form-point', placeholder: t('form.point.placeholder') });
      fields.push(field('form-category', 'form.category', [category, options], 'category'),
        field('form-condition', 'form.condition', condition, 'condition'),
        field('form-point', 'form.point', point, 'point'));
      // The conditions of the corrected category, or of the report's own.
      let classes = [];
      const fillConditions = () => {
        const code = category.value.trim().toUpperCase() || tk.category;
        const c = classes.find((x) => x.code === code);
        const keep = condition.value;
        clear(condition).append(h('option', { value: '' }, t('form.condition.keep')));
        for (const k of (c && c.conditions) || []) condition.append(h('option', { value: k.name }, k.label || k.name));
        condition.value = [...condition.options].some((o) => o.value === keep) ? keep : '';
        condition.disabled = condition.options.length < 2;
      };
      condition.disabled = true;
      catalogue().then((list) => {
        classes = list;
        const zh = getLang() === 'zh';
        for (const c of list) options.append(h('option', { value: c.code }, zh || !c.nameEn ? c.name : c.nameEn));
        fillConditions();
      }, () => { /* the code can still be typed; the server checks it */ });
      category.addEventListener('input', fillConditions);
    }
    const refuse = action === 'verify_refuse';
    const placeholder = refuse ? 'form.verifyNote.placeholder' : action === 'verify_confirm' ? 'form.verifyConfirmNote.placeholder' : 'form.note.placeholder';
    const note = h('textarea', { id: 'form-note', rows: refuse ? '3' : '2', maxlength: '1000', testid: 'form-note', placeholder: t(placeholder), 'aria-required': refuse ? 'true' : null });
    fields.push(field('form-note', refuse || action === 'verify_confirm' ? 'form.verifyNote' : 'form.note', note, 'note'));
    const submit = h(`button.btn.small${DANGER.has(action) ? '.danger' : '.primary'}`, { type: 'submit', testid: 'form-submit' }, `${t('form.submit')} · ${t(`action.${action}`)}`);
    const cancel = h('button.btn.small.ghost', { type: 'button', testid: 'form-cancel' }, t('form.cancel'));
    const form = h('form.action-form', { testid: 'action-form', dataset: { action } }, fields, h('div.form-buttons', submit, cancel));
    cancel.addEventListener('click', () => { this.form = null; this.render(); });
    note.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
    });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      clearFieldErrors(form);
      const values = { note: note.value.trim() };
      if (outcome) {
        values.outcome = outcome.value;
        if (!values.outcome) { showFieldError(form, 'reason', t('form.chooseReason')); return; }
      }
      if (refuse && !values.note) { showFieldError(form, 'note', t('form.verifyNote.required')); return; }
      if (category) {
        values.category = category.value.trim().toUpperCase();
        values.condition = condition.disabled ? '' : condition.value;
        const p = point.value.trim();
        if (p) {
          const m = /^\s*(-?\d+(?:\.\d+)?)\s*[,，\s]\s*(-?\d+(?:\.\d+)?)\s*$/.exec(p);
          if (!m) { showFieldError(form, 'point', t('form.point.bad')); return; }
          values.location = { lon: Number(m[1]), lat: Number(m[2]), crs: 'COORD_SYSTEM_WGS84' };
        }
      }
      if (squad) {
        values.squadId = squad.value;
        if (!values.squadId) { squad.setCustomValidity(t('form.chooseSquad')); squad.reportValidity(); return; }
      }
      if (reason) {
        values.reason = reason.value;
        if (!values.reason) { reason.setCustomValidity(t('form.reason')); reason.reportValidity(); return; }
        if (values.reason === 'CANCEL_REASON_DUPLICATE') {
          values.master = master.value.trim();
          if (!values.master) { showFieldError(form, 'master', t('form.master.required')); return; }
        }
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
    // Editing a field the server (or the form) refused clears its mark.
    for (const el of [outcome, category, condition, point, master, note]) {
      if (el) el.addEventListener(el.tagName === 'SELECT' ? 'change' : 'input', () => clearFieldError(form, el.closest('.field').dataset.field));
    }
    if (squad) squad.addEventListener('change', () => squad.setCustomValidity(''));
    if (reason) reason.addEventListener('change', () => reason.setCustomValidity(''));
    return form;
  }

  async submit(action, values, button) {
    const tk = this.data && this.data.ticket;
    if (!tk) return;
    const context = {};
    if (tk.version) context.expectedVersion = tk.version;
    if (values.note && !OWN_FORMS.has(action)) context.note = values.note;
    const base = { ticketId: tk.id, context };
    // VerifyReport carries the note itself (the caller's reply gives it), not in the context. It
    // sends no expected version: the verification clock's reminders change the version every
    // little while, and a report verified meanwhile by someone else is refused by its state.
    const verifyContext = {};
    const confirm = { ticketId: tk.id, outcome: 'VERIFY_OUTCOME_CONFIRMED', note: values.note || '', context: verifyContext };
    if (values.category) confirm.category = values.category;
    if (values.condition) confirm.condition = values.condition;
    if (values.location) confirm.location = values.location;
    const call = {
      verify_confirm: ['VerifyReport', confirm],
      verify_refuse: ['VerifyReport', { ticketId: tk.id, outcome: values.outcome, note: values.note || '', context: verifyContext }],
      dispatch: ['Dispatch', { ...base, squadId: values.squadId }],
      verify_pass: ['Verify', { ...base, passed: true }],
      verify_fail: ['Verify', { ...base, passed: false }],
      close: ['Close', base],
      cancel: ['Cancel', { ...base, reason: values.reason, ...(values.master ? { duplicateOf: values.master } : {}) }],
      // The case shown is the duplicate; the answer is the master (opened next).
      merge: ['MergeCases', { duplicateId: tk.id, masterId: values.master, context }],
      // The answer is the new case (opened next).
      split: ['SplitCase', { ticketId: tk.id, reference: values.reference, context }],
      suspend: ['Suspend', base],
      resume: ['Resume', base],
      extend: ['ExtendDeadline', { ...base, extension: values.extension }],
      reclassify: ['Reclassify', { ...base, category: values.category, condition: values.condition || '', reason: values.reason }],
      // Pressing and deciding send no expected version (like VerifyReport): the application's
      // and the case's clocks change it every little while; the state decides.
      press: ['Press', { ticketId: tk.id, level: values.level, note: values.note }],
      decide: ['Decide', { ticketId: tk.id, approve: values.approve, reason: values.reason, dispatcherError: Boolean(values.dispatcherError) }],
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
      if (LINK_FORMS.has(action) && updated && updated.id && updated.id !== tk.id) {
        // The master (并案) or the new case (拆分) opens in the view, saying where it came from.
        this.open(updated.id);
        this.message = { kind: 'ok', text: action === 'merge' ? t('case.mergedOk', { id: tk.id }) : t('case.splitOk', { reference: values.reference, id: tk.id }) };
        return;
      }
      this.message = { kind: 'ok', text: `${t(`action.${action}`)} · ${t('case.done')}` };
      await this.load(false);
    } catch (err) {
      if (seq !== this.seq) return;
      button.disabled = false;
      button.textContent = `${t('form.submit')} · ${t(`action.${action}`)}`;
      // A refused field: the server's reason next to it, and the focus on it.
      const form = this.formEl;
      let name = err && err.field ? FIELD_OF[err.field] || FIELD_OF[String(err.field).split('.')[0]] : '';
      // The only case the user typed is the master: a case not found is that one.
      if (!name && err && err.code === 'not_found' && values.master) name = 'master';
      if (form && name && form.querySelector(`.field[data-field="${name}"]`)) {
        this.message = null;
        this.render();
        showFieldError(form, name, errorText(err));
        return;
      }
      this.message = { kind: 'error', err, wording: LINK_FORMS.has(action) || values.master ? LINK_REFUSALS : ACTION_REFUSALS };
      this.render();
      const box = this.body.querySelector('[data-testid="case-error"]');
      if (box) box.scrollIntoView({ block: 'nearest' });
      // The case moved on meanwhile (ABORTED): fetch it again so a retry sends its new version.
      if (err && (err.code === 'aborted' || err.code === 'failed_precondition')) this.load(false);
    }
  }

  /**
   * The form of reclassify (category code, its condition, a required reason), press (level and a
   * required note) or decide (approve or reject, a required reason, 派遣错误 for a return).
   */
  renderCentreForm(action, tk) {
    const fields = [];
    const ctl = {};
    if (action === 'reclassify') {
      const listId = 'form-category-list';
      ctl.category = h('input', { id: 'form-category', type: 'text', list: listId, autocomplete: 'off', spellcheck: 'false', maxlength: '8', testid: 'form-category', placeholder: t('form.newCategory.placeholder') });
      const options = h('datalist', { id: listId });
      ctl.condition = h('select', { id: 'form-condition', testid: 'form-condition' }, h('option', { value: '' }, t('form.condition.default')));
      fields.push(field('form-category', 'form.newCategory', [ctl.category, options], 'category'),
        field('form-condition', 'form.condition', ctl.condition, 'condition'));
      let classes = [];
      const fill = () => {
        const code = ctl.category.value.trim().toUpperCase();
        const c = classes.find((x) => x.code === code);
        const keep = ctl.condition.value;
        clear(ctl.condition).append(h('option', { value: '' }, t('form.condition.default')));
        for (const k of (c && c.conditions) || []) ctl.condition.append(h('option', { value: k.name }, k.label || k.name));
        ctl.condition.value = [...ctl.condition.options].some((o) => o.value === keep) ? keep : '';
      };
      catalogue().then((list) => {
        classes = list;
        const zh = getLang() === 'zh';
        for (const c of list) options.append(h('option', { value: c.code }, zh || !c.nameEn ? c.name : c.nameEn));
        fill();
      }, () => { /* the code can still be typed; the server checks it */ });
      ctl.category.addEventListener('input', fill);
    }
    if (action === 'press') {
      ctl.level = h('select', { id: 'form-level', testid: 'form-level' },
        PRESS_LEVELS.map((n) => h('option', { value: String(n) }, escalationLevelLabel(n))));
      fields.push(field('form-level', 'form.pressLevel', ctl.level, 'level'));
      ctl.note = h('textarea', { id: 'form-note', rows: '3', maxlength: '1000', testid: 'form-note', 'aria-required': 'true', placeholder: t('form.pressNote.placeholder') });
      fields.push(field('form-note', 'form.pressNote', ctl.note, 'note'));
    }
    if (action === 'decide') {
      ctl.approve = h('select', { id: 'form-approve', testid: 'form-approve' },
        h('option', { value: 'true' }, t('form.approve')), h('option', { value: 'false' }, t('form.reject')));
      fields.push(field('form-approve', 'form.decision', ctl.approve, 'approve'));
      const app = tk.application || {};
      if (app.kind === 'APPLICATION_KIND_RETURN') {
        ctl.dispatcherError = h('input', { id: 'form-dispatcher-error', type: 'checkbox', testid: 'form-dispatcher-error' });
        fields.push(h('div.field.checkbox', ctl.dispatcherError, h('label', { for: 'form-dispatcher-error' }, t('form.dispatcherError'))));
      }
    }
    if (action === 'reclassify' || action === 'decide') {
      ctl.reason = h('textarea', { id: 'form-why', rows: '2', maxlength: '1000', testid: 'form-why', 'aria-required': 'true', placeholder: t('form.why.placeholder') });
      fields.push(field('form-why', 'form.why', ctl.reason, 'reason'));
    }
    const submit = h('button.btn.small.primary', { type: 'submit', testid: 'form-submit' }, `${t('form.submit')} · ${t(`action.${action}`)}`);
    const cancel = h('button.btn.small.ghost', { type: 'button', testid: 'form-cancel' }, t('form.cancel'));
    const form = h('form.action-form', { testid: 'action-form', dataset: { action }, novalidate: true }, fields, h('div.form-buttons', submit, cancel));
    cancel.addEventListener('click', () => { this.form = null; this.render(); });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      clearFieldErrors(form);
      const values = {};
      if (ctl.category) {
        values.category = ctl.category.value.trim().toUpperCase();
        if (!values.category) { showFieldError(form, 'category', t('form.category.required')); return; }
        values.condition = ctl.condition.value;
      }
      if (ctl.level) values.level = Number(ctl.level.value);
      if (ctl.note) {
        values.note = ctl.note.value.trim();
        if (!values.note) { showFieldError(form, 'note', t('form.pressNote.required')); return; }
      }
      if (ctl.approve) values.approve = ctl.approve.value === 'true';
      if (ctl.dispatcherError) values.dispatcherError = ctl.dispatcherError.checked;
      if (ctl.reason) {
        values.reason = ctl.reason.value.trim();
        if (!values.reason) { showFieldError(form, 'reason', t('form.why.required')); return; }
      }
      this.submit(action, values, submit);
    });
    for (const el of Object.values(ctl)) {
      el.addEventListener(el.tagName === 'SELECT' ? 'change' : 'input', () => {
        const f = el.closest('.field');
        if (f && f.dataset.field) clearFieldError(form, f.dataset.field);
      });
    }
    return form;
  }

  /**
   * The text box of a master case (主案件编号) and its list of suggestions: the open cases the
   * dashboard shows, those of the same category first, then the nearest.
   */
  masterInput(tk) {
    const listId = 'form-master-list';
    const input = h('input', { id: 'form-master', type: 'text', list: listId, autocomplete: 'off', spellcheck: 'false', maxlength: '64', testid: 'form-master', placeholder: t('form.master.placeholder') });
    const options = h('datalist', { id: listId });
    const here = tk.location && Number.isFinite(Number(tk.location.lon)) ? { lon: Number(tk.location.lon), lat: Number(tk.location.lat) } : null;
    const far = (o) => (here && o.location ? distanceM(here, { lon: Number(o.location.lon), lat: Number(o.location.lat) }) : Infinity);
    const others = this.store.list()
      .filter((o) => o.id !== tk.id && !unfiled(o))
      .map((o) => ({ o, same: o.category === tk.category ? 0 : 1, d: far(o) }))
      .sort((a, b) => a.same - b.same || a.d - b.d || String(a.o.id).localeCompare(String(b.o.id)))
      .slice(0, 20);
    for (const { o, d } of others) {
      const where = Number.isFinite(d) ? ` · ${d < 1000 ? `${Math.round(d)} m` : `${(d / 1000).toFixed(1)} km`}` : '';
      options.append(h('option', { value: o.id }, `${o.categoryName || o.category || ''} · ${o.address || ''}${where}`));
    }
    return [input, options];
  }

  /**
   * The form of a merge (并案: the master case this one duplicates, and a note) or of a split
   * (拆分: which merged report becomes a case of its own, and a note).
   */
  renderLinkForm(action, tk) {
    const fields = [];
    let master = null;
    let choices = [];
    if (action === 'merge') {
      const controls = this.masterInput(tk);
      master = controls[0];
      master.setAttribute('aria-required', 'true');
      fields.push(h('p.muted.small', { testid: 'form-merge-hint' }, t('form.merge.hint', { id: tk.id })));
      fields.push(field('form-master', 'form.master', controls, 'master'));
    }
    if (action === 'split') {
      // Every report but the case's own (the first) may be split out.
      const reports = (tk.reports || []).slice(1);
      const group = h('fieldset.field.report-choices', { dataset: { field: 'reference' }, 'aria-describedby': 'form-reference-error', testid: 'form-reports' },
        h('legend', t('form.splitReport')));
      reports.forEach((r, i) => {
        const id = `form-reference-${i}`;
        const radio = h('input', { id, type: 'radio', name: 'form-reference', value: r.reference || '', testid: 'form-reference', checked: reports.length === 1 });
        choices.push(radio);
        group.append(h('label.report-choice', { for: id, dataset: { reference: r.reference || '' } }, radio,
          h('span.report-choice-body',
            h('span.item-row', h('span.mono', r.reference || '—'), h('span.badge', tEnum('channel', r.channel || 'CHANNEL_UNSPECIFIED'))),
            h('span.muted.small', [
              `${t('case.receivedAt')} ${fmtTime(r.receivedAt)}`,
              r.contactMasked ? `${t('case.contact')} ${r.contactMasked}` : '',
            ].filter(Boolean).join(' · ')))));
      });
      group.append(h('div.field-error', { id: 'form-reference-error', testid: 'form-error-reference', role: 'alert', hidden: true }));
      fields.push(h('p.muted.small', { testid: 'form-split-hint' }, t('form.split.hint')), group);
    }
    const note = h('textarea', { id: 'form-note', rows: '2', maxlength: '1000', testid: 'form-note', placeholder: t('form.note.placeholder') });
    fields.push(field('form-note', 'form.note', note, 'note'));
    const submit = h('button.btn.small.primary', { type: 'submit', testid: 'form-submit' }, `${t('form.submit')} · ${t(`action.${action}`)}`);
    const cancel = h('button.btn.small.ghost', { type: 'button', testid: 'form-cancel' }, t('form.cancel'));
    const form = h('form.action-form', { testid: 'action-form', dataset: { action }, novalidate: true }, fields, h('div.form-buttons', submit, cancel));
    cancel.addEventListener('click', () => { this.form = null; this.render(); });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      clearFieldErrors(form);
      const values = { note: note.value.trim() };
      if (master) {
        values.master = master.value.trim();
        if (!values.master) { showFieldError(form, 'master', t('form.master.required')); return; }
        if (values.master === tk.id) { showFieldError(form, 'master', t('form.master.self')); return; }
      }
      if (action === 'split') {
        const chosen = choices.find((c) => c.checked);
        if (!chosen) { showFieldError(form, 'reference', t('form.splitReport.required')); return; }
        values.reference = chosen.value;
      }
      this.submit(action, values, submit);
    });
    if (master) master.addEventListener('input', () => clearFieldError(form, 'master'));
    for (const c of choices) c.addEventListener('change', () => clearFieldError(form, 'reference'));
    note.addEventListener('input', () => clearFieldError(form, 'note'));
    return form;
  }

  /** The cases this one was merged with or split from (关联案件), each a link that opens it. */
  renderLineage(tk) {
    const links = (tk.lineage || []).filter((l) => l && l.ticketId && LINK_KINDS.includes(l.kind));
    if (!links.length) return null;
    const list = h('ul.lineage-list');
    for (const l of links) {
      list.append(h('li.lineage', { testid: 'case-link', dataset: { kind: l.kind, ticketId: l.ticketId } },
        h('span.badge', { testid: 'case-link-kind' }, tEnum('caseLink', l.kind)), ' ',
        h('button.link.mono', {
          type: 'button', testid: 'case-link-open', title: t('case.linkOpen', { id: l.ticketId }),
          onclick: () => this.open(l.ticketId),
        }, l.ticketId)));
    }
    return section('case-lineage', 'case.lineage', list);
  }

  /** The squad's application waiting for the centre's decision (延期/挂账/退回 申请). */
  renderApplication(tk) {
    const app = tk.application;
    if (!app || !app.kind || app.kind === 'APPLICATION_KIND_UNSPECIFIED') return null;
    const rows = [
      ['case.applicationKind', h('span', { testid: 'case-application-kind', dataset: { kind: app.kind } }, tEnum('applicationKind', app.kind))],
    ];
    if (app.extension) rows.push(['case.applicationExtension', h('span.mono', { testid: 'case-application-extension' }, app.extension)]);
    rows.push(['case.applicationReason', h('span', { testid: 'case-application-reason' }, app.reason || '—')]);
    rows.push(['case.applicationBy', h('span', { testid: 'case-application-by' }, `${app.appliedBy || '—'} · ${fmtTime(app.appliedAt)}`)]);
    if (app.decideBy) rows.push(['case.applicationDecideBy', h('span', { testid: 'case-application-decide-by' }, fmtTime(app.decideBy))]);
    return section('case-application', 'case.application', dl(rows));
  }

  /** The pressings (督办) of the case, oldest first, each with the squad's answer. */
  renderPresses(tk) {
    const presses = tk.presses || [];
    if (!presses.length) return null;
    const list = h('ul.press-list');
    for (const p of presses) {
      list.append(h('li.press', { testid: 'case-press', dataset: { level: String(p.level || ''), replied: p.reply ? 'true' : 'false' } },
        h('div.item-row', h('span.badge', { testid: 'case-press-label' }, p.label || escalationLevelLabel(p.level)), h('span.muted.small', `${p.by || ''} · ${fmtTime(p.at)}`)),
        h('div.small', { testid: 'case-press-note' }, p.note || ''),
        p.reply
          ? h('div.small', { testid: 'case-press-reply' }, `${t('case.pressReply')}：${p.reply}${p.repliedAt ? `（${fmtTime(p.repliedAt)}）` : ''}`)
          : h('div.muted.small', { testid: 'case-press-reply' }, t('case.pressNoReply'))));
    }
    return section('case-presses', 'case.presses', list);
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
          r.confidential ? t('case.confidential') : r.callerName ? t('case.callerName', { name: r.callerName }) : '',
          r.contactMasked ? `${t('case.contact')} ${r.contactMasked}` : '',
          r.externalTicketId ? t('case.externalTicketId', { id: r.externalTicketId }) : '',
          r.replyRequired ? t('case.replyRequired') : '',
        ].filter(Boolean).join(' · '))));
    }
    s.append(list);
    // A camera's repeats can run to thousands: the view lists the opening report and the
    // newest, and says how many there are in all.
    const count = Number(tk.reportCount || reports.length);
    if (count > reports.length) {
      s.append(h('p.muted.small', { testid: 'case-reports-shown' }, t('case.reportsShown', { count, shown: reports.length - 1 })));
    }
    return s;
  }

  /** Fetches the next page of the history and shows it below the entries already shown. */
  async moreHistory(button) {
    const d = this.data || {};
    const id = d.ticket && d.ticket.id;
    if (!id || !d.historyNextPageToken) return;
    button.disabled = true;
    button.textContent = t('case.historyLoading');
    try {
      const resp = await api.dispatch('GetTicket', { id, includeHistory: true, historyPage: { pageToken: d.historyNextPageToken } });
      if (this.data !== d) return;
      d.history = (d.history || []).concat((resp && resp.history) || []);
      d.historyNextPageToken = (resp && resp.historyNextPageToken) || '';
      this.render();
    } catch (err) {
      button.disabled = false;
      button.textContent = t('case.historyMore');
      this.message = { kind: 'error', err };
      this.render();
    }
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
    return this.photoCache.get(path);
  }

  revokePhotos() {
    this.photoCache.revokeAll();
    this.photoCase = null;
  }

  /**
   * The replies owed to callers (回访): each caller's report, when it is due, the calls that did
   * not reach them, and once reached their satisfaction and what they said. Never a phone
   * number: those are the hotline's, in its reply list.
   */
  renderReplies(tk) {
    const replies = tk.replies || [];
    if (!replies.length) {
      if (!(tk.reports || []).some((r) => r.replyRequired)) return null;
      return section('case-replies', 'case.replies', h('p.muted.small', { testid: 'case-no-replies' }, t('case.replyLater')));
    }
    const now = engineNow();
    const list = h('ul.reply-list');
    for (const r of replies) {
      const sat = r.satisfaction && r.satisfaction !== 'SATISFACTION_UNSPECIFIED' ? r.satisfaction : '';
      const due = ts(r.due);
      const late = !sat && Number.isFinite(due) && now > due;
      const badge = sat
        ? h(`span.badge.sat.${sat.toLowerCase()}`, { testid: 'case-reply-satisfaction' }, tEnum('satisfaction', sat))
        : h(`span.badge.sat${late ? '.late' : ''}`, { testid: 'case-reply-satisfaction' }, late ? t('case.replyOverdue') : t('case.replyPending'));
      const attempts = num(r.attempts);
      const meta = [
        `${t('case.replyDue')} ${fmtTime(r.due)}${late ? t('case.replyLate', { late: t('overdue.late', { duration: fmtDuration(now - due) }) }) : ''}`,
        attempts ? t('case.replyAttempts', { n: attempts }) : sat ? '' : t('case.replyNoAttempts'),
        r.repliedAt ? `${t('case.repliedAt')} ${fmtTime(r.repliedAt)}` : '',
      ].filter(Boolean).join(' · ');
      list.append(h('li.reply', { testid: 'case-reply', dataset: { reference: r.reference || '', satisfaction: sat, attempts: String(attempts) } },
        h('div.item-row', h('span.mono', r.reference || '—'), badge),
        h('div.muted.small', { testid: 'case-reply-meta' }, meta),
        r.note ? h('div.small', { testid: 'case-reply-note' }, `${t('case.replyNote')}：${r.note}`) : null));
    }
    return section('case-replies', 'case.replies', list);
  }

  renderHistory(history, nextPageToken, tk) {
    const s = section('case-history', 'case.history');
    if (!history.length) {
      // A finished case always has a history unless the engine's retention
      // (retention.finished_cases) deleted it: say so, not "none yet".
      s.append(h('p.muted', { testid: 'case-no-history' }, t(isOpen(tk) ? 'case.noHistory' : 'case.historyRetired')));
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
    if (nextPageToken) {
      const more = h('button.btn.small', { type: 'button', testid: 'history-more' }, t('case.historyMore'));
      more.addEventListener('click', () => this.moreHistory(more));
      s.append(more);
    }
    return s;
  }
}

function section(testid, titleKey, ...children) {
  return h('section.case-section', { testid }, titleKey ? h('h3', t(titleKey)) : null, ...children);
}

function dl(rows) {
  return h('dl.fields', rows.map(([k, v]) => [h('dt', t(k)), h('dd', v)]));
}

/** A labelled control; with `name`, also the place for its error (data-testid form-error-<name>). */
function field(id, labelKey, control, name) {
  if (!name) return h('div.field', h('label', { for: id }, t(labelKey)), control);
  const controls = Array.isArray(control) ? control : [control];
  controls[0].setAttribute('aria-describedby', `${id}-error`);
  return h('div.field', { dataset: { field: name } }, h('label', { for: id }, t(labelKey)), ...controls,
    h('div.field-error', { id: `${id}-error`, testid: `form-error-${name}`, role: 'alert', hidden: true }));
}

function clearFieldErrors(form) {
  for (const wrap of form.querySelectorAll('.field.invalid')) clearFieldError(form, wrap.dataset.field);
}

/** A report waiting for verification or not filed after it: never filed as a case. */
function unfiled(tk) {
  return tk.state === 'TICKET_STATE_VERIFYING' || tk.state === 'TICKET_STATE_NOT_FILED';
}

function normaliseNumber(v) {
  let s = v.startsWith('.') ? `0${v}` : v;
  if (s.includes('.')) s = s.replace(/0+$/, '').replace(/\.$/, '');
  s = s.replace(/^0+(?=\d)/, '');
  return s;
}

/** Metres between two WGS84 points (equirectangular: plenty within a city). */
function distanceM(a, b) {
  const rad = Math.PI / 180;
  const x = (b.lon - a.lon) * rad * Math.cos(((a.lat + b.lat) / 2) * rad);
  const y = (b.lat - a.lat) * rad;
  return Math.sqrt(x * x + y * y) * 6371000;
}
