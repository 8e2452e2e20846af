// The replies owed to callers (回访): the hotline's work list from ListReplyTasks, the one due
// first on top, with each caller's name and whole number (the operator calls them back), and
// the recording of each call with RecordReply: not reached (the task stays, to call again), or
// reached with the caller's satisfaction and what they said. Keyboard first: ↑/↓ choose a
// caller, Enter goes to the result, 1–4 pick it, Ctrl+Enter records.

import * as api from '../api.js';
import { t, tEnum } from '../i18n.js';
import { h, clear, loadingState, emptyState, errorState, errorText, fmtTime, fmtDuration, showFieldError, clearFieldError, latestLoad } from '../dom.js';

const PAGE_SIZE = 200;
const MAX_PAGES = 10;
const NOT_REACHED = 'not_reached';
// The results of a call, in the order of their number keys.
const RESULTS = [
  [NOT_REACHED, 'reply.notReached'],
  ['SATISFACTION_SATISFIED', 'satisfaction.SATISFACTION_SATISFIED'],
  ['SATISFACTION_BASICALLY_SATISFIED', 'satisfaction.SATISFACTION_BASICALLY_SATISFIED'],
  ['SATISFACTION_DISSATISFIED', 'satisfaction.SATISFACTION_DISSATISFIED'],
];
// The form field a refusal's `field` (as the server names it) belongs to.
const FIELD_OF = { satisfaction: 'result', reached: 'result', note: 'note' };
// Refusals that mean the list is out of date: someone else recorded it, or the case moved on.
const STALE = new Set(['aborted', 'failed_precondition', 'not_found']);

const keyOf = (task) => `${task.ticketId}|${task.reference}`;
const dueOf = (task) => Date.parse((task.status && task.status.due) || '');
const attemptsOf = (task) => Number((task.status && task.status.attempts) || 0);

/** How the case ended, in the words the operator tells the caller. */
export function outcomeWords(task) {
  if (task.state === 'TICKET_STATE_CLOSED') return t('replies.outcome.CLOSED');
  if (task.state === 'TICKET_STATE_NOT_FILED') {
    return t('replies.outcome.NOT_FILED', { reason: tEnum('notFiledReason', task.notFiledReason || 'NOT_FILED_REASON_UNSPECIFIED') });
  }
  return t('replies.outcome.other', { state: tEnum('state', task.state) });
}

export class Replies {
  /**
   * listBody / detailBody: the two panels' bodies; totalEl and countEl show how many are waiting
   * (the panel's head and the tab).
   */
  constructor({ listBody, detailBody, totalEl, countEl, refreshButton }) {
    Object.assign(this, { listBody, detailBody, totalEl, countEl });
    this.tasks = null; // the last list, oldest due first
    this.more = false; // the server had more than were asked for
    this.error = null;
    this.loading = false;
    this.selected = ''; // key of the chosen task
    this.formKey = '';
    this.formEl = null;
    this.busy = false;
    this.done = null; // () => the last recorded call, in words (worded again on a language change)
    this.seq = 0;
    refreshButton.addEventListener('click', () => this.load());
  }

  reset() {
    this.seq++;
    Object.assign(this, { tasks: null, more: false, error: null, loading: false, selected: '', formKey: '', formEl: null, busy: false, done: null });
    this.showCount();
  }

  /** ListReplyTasks, every page (up to a limit), oldest due first. */
  async load() {
    const seq = ++this.seq;
    this.loading = true;
    if (!this.tasks) this.render();
    const list = () => api.dispatchAll('ListReplyTasks', {}, 'tasks', { pageSize: PAGE_SIZE, maxPages: MAX_PAGES, stale: () => seq !== this.seq });
    const latest = await latestLoad(this, seq, list, ({ items, more }) => {
      // The server sends them in due order; kept so whatever it sends.
      items.sort((a, b) => (dueOf(a) || Infinity) - (dueOf(b) || Infinity) || String(a.reference).localeCompare(String(b.reference)));
      this.tasks = items;
      this.more = more;
      if (!items.some((x) => keyOf(x) === this.selected)) this.selected = items.length ? keyOf(items[0]) : '';
    });
    if (!latest) return;
    this.render();
  }

  task(key = this.selected) {
    return (this.tasks || []).find((x) => keyOf(x) === key) || null;
  }

  showCount() {
    const n = this.tasks ? this.tasks.length : 0;
    const text = n ? `${n}${this.more ? '+' : ''}` : '';
    this.countEl.textContent = text;
    this.totalEl.textContent = text;
  }

  render() {
    // A refresh must not take the focus away from where the operator is: the list item, or a
    // control of the form being filled in (with the caret where it was).
    const active = document.activeElement;
    const focusedKey = active && this.listBody.contains(active) && active.dataset.key ? active.dataset.key : '';
    const inForm = active && this.formEl && this.formEl.contains(active) ? active : null;
    const caret = inForm && inForm.tagName === 'TEXTAREA' ? [inForm.selectionStart, inForm.selectionEnd] : null;
    this.renderList();
    this.renderDetail();
    this.showCount();
    if (focusedKey) this.focusItem(focusedKey);
    if (inForm && inForm.isConnected) {
      inForm.focus();
      if (caret) inForm.setSelectionRange(caret[0], caret[1]);
    }
  }

  renderList() {
    const el = this.listBody;
    if (!this.tasks) {
      if (this.error) return errorState(el, this.error, () => this.load());
      return loadingState(el, t('replies.loading'));
    }
    if (!this.tasks.length) {
      if (this.error) return errorState(el, this.error, () => this.load());
      return emptyState(el, t('replies.empty'));
    }
    const now = Date.now();
    const list = h('ul.item-list.reply-list', { testid: 'reply-list', 'aria-label': t('replies.title') });
    for (const task of this.tasks) {
      const key = keyOf(task);
      const chosen = key === this.selected;
      const due = dueOf(task);
      const late = Number.isFinite(due) && now > due;
      const attempts = attemptsOf(task);
      const button = h('button.item-button', { type: 'button', tabindex: chosen ? '0' : '-1', 'aria-current': chosen ? 'true' : null, dataset: { key } },
        h('div.item-row',
          h('span.reply-name', { testid: 'reply-item-name' }, task.callerName || t('replies.noName')),
          task.confidential ? h('span.badge.confidential', { testid: 'reply-item-confidential', title: t('replies.confidential.title') }, t('replies.confidential')) : null,
          h('span.mono.reply-phone-small', { testid: 'reply-item-phone' }, task.phone || '—')),
        h('div.item-row.small',
          h(`span.outcome.${task.state === 'TICKET_STATE_NOT_FILED' ? 'not-filed' : 'closed'}`, { testid: 'reply-item-outcome' }, outcomeWords(task)),
          h('span.item-meta.muted', [task.categoryName, task.address].filter(Boolean).join(' · '))),
        h('div.item-row.small',
          h(`span.late${late ? '.overdue' : ''}`, { testid: 'reply-item-due' },
            `${t('replies.due', { time: fmtTime(task.status && task.status.due) })} · ${late ? t('replies.overdue', { duration: fmtDuration(now - due) }) : Number.isFinite(due) ? t('replies.left', { duration: fmtDuration(due - now) }) : ''}`),
          h('span.muted.attempts', { testid: 'reply-item-attempts' }, attempts ? t('replies.attempts', { n: attempts }) : t('replies.noAttempts'))));
      button.addEventListener('click', () => this.select(key, true));
      button.addEventListener('keydown', (e) => this.onListKey(e, key));
      list.append(h(`li.item.reply-item${chosen ? '.chosen' : ''}${late ? '.late' : ''}`, {
        testid: 'reply-item',
        dataset: { ticketId: task.ticketId || '', reference: task.reference || '', overdue: String(late), attempts: String(attempts) },
      }, button));
    }
    clear(el).append(list);
    if (this.error) el.append(h('p.form-error', { role: 'alert' }, t('state.error', { message: errorText(this.error) })));
    if (this.more) el.append(h('p.more.muted.small', t('replies.more')));
  }

  /** ↑/↓ (Home/End) move through the list; Enter (the button's click) goes to the result. */
  onListKey(e, key) {
    const keys = (this.tasks || []).map(keyOf);
    const i = keys.indexOf(key);
    let next = -1;
    if (e.key === 'ArrowDown') next = Math.min(keys.length - 1, i + 1);
    else if (e.key === 'ArrowUp') next = Math.max(0, i - 1);
    else if (e.key === 'Home') next = 0;
    else if (e.key === 'End') next = keys.length - 1;
    if (next < 0) return;
    e.preventDefault();
    this.select(keys[next], false);
    this.focusItem(keys[next]);
  }

  focusItem(key) {
    const b = [...this.listBody.querySelectorAll('button[data-key]')].find((x) => x.dataset.key === key);
    if (b) b.focus();
  }

  /** Puts the focus on the chosen caller in the list (or on the list's state when it is empty). */
  focusList() {
    if (this.selected && this.task()) {
      this.focusItem(this.selected);
      return;
    }
    const any = this.listBody.querySelector('button');
    if (any) any.focus();
  }

  select(key, toForm) {
    if (key !== this.selected) {
      this.selected = key;
      this.render();
    }
    if (toForm) this.focusForm();
  }

  focusForm() {
    const form = this.formEl;
    if (!form || !form.isConnected) return;
    const checked = form.querySelector('input[name="reply-result"]:checked') || form.querySelector('input[name="reply-result"]');
    if (checked) checked.focus();
  }

  renderDetail() {
    const el = this.detailBody;
    clear(el);
    if (this.done) el.append(h('div.reply-done', { testid: 'reply-done', role: 'status' }, this.done()));
    if (!this.tasks) {
      if (!this.error) el.append(h('div.panel-state.loading', { role: 'status' }, h('span.spinner', { 'aria-hidden': 'true' }), t('replies.loading')));
      else el.append(h('div.panel-state.empty', t('reply.choose')));
      return;
    }
    const task = this.task();
    if (!task) {
      el.append(h('div.panel-state.empty', { testid: 'reply-none' }, this.tasks.length ? t('reply.choose') : t('replies.empty')));
      this.formEl = null;
      this.formKey = '';
      return;
    }
    el.append(this.renderCard(task));
    // The form survives a refresh of the same caller (a chosen result, a typed note).
    if (this.formKey !== this.selected || !this.formEl) {
      this.formEl = this.renderForm();
      this.formKey = this.selected;
    }
    el.append(this.formEl);
  }

  renderCard(task) {
    const now = Date.now();
    const due = dueOf(task);
    const late = Number.isFinite(due) && now > due;
    const attempts = attemptsOf(task);
    const rows = [
      ['reply.reference', h('span.mono', { testid: 'reply-reference' }, task.reference || '—')],
    ];
    if (task.ticketId && task.ticketId !== task.reference) rows.push(['reply.case', h('span.mono', task.ticketId)]);
    if (task.externalTicketId) rows.push(['reply.external', h('span.mono', { testid: 'reply-external' }, task.externalTicketId)]);
    rows.push(
      ['reply.category', task.categoryName || '—'],
      ['reply.address', task.address || '—'],
      ['reply.outcome', h(`strong.outcome.${task.state === 'TICKET_STATE_NOT_FILED' ? 'not-filed' : 'closed'}`, { testid: 'reply-outcome' }, outcomeWords(task))],
      ['reply.dueLabel', h(`span${late ? '.overdue' : ''}`, { testid: 'reply-due' },
        late ? t('reply.dueLate', { time: fmtTime(task.status.due), late: t('replies.overdue', { duration: fmtDuration(now - due) }) }) : fmtTime(task.status && task.status.due))],
      ['reply.attemptsLabel', h('span', { testid: 'reply-attempts' }, attempts ? t('replies.attempts', { n: attempts }) : t('replies.noAttempts'))],
    );
    return h('div.reply-card', { testid: 'reply-card', dataset: { ticketId: task.ticketId || '', reference: task.reference || '' } },
      h('div.reply-who',
        h('h3.reply-caller', { testid: 'reply-name' }, task.callerName || t('replies.noName')),
        task.confidential ? h('span.badge.confidential', { testid: 'reply-confidential', title: t('replies.confidential.title') }, t('replies.confidential')) : null),
      h('div.reply-call',
        h('span.muted', t('reply.phone')),
        task.phone ? h('a.reply-phone.mono', { href: `tel:${task.phone}`, testid: 'reply-phone' }, task.phone) : h('span.reply-phone', '—')),
      h('dl.fields', rows.map(([k, v]) => [h('dt', t(k)), h('dd', v)])));
  }

  renderForm() {
    const group = h('fieldset.result-group', { dataset: { field: 'result' }, 'aria-describedby': 'reply-error-result' },
      h('legend', t('reply.result')),
      h('div.result-options', RESULTS.map(([value, label], i) => h(`label.result-option.${value === NOT_REACHED ? 'not-reached' : value.toLowerCase()}`, {
        title: value === NOT_REACHED ? t('reply.notReached.title') : null,
      },
      h('input', { type: 'radio', name: 'reply-result', value, testid: `reply-result-${value === NOT_REACHED ? 'not-reached' : value.replace('SATISFACTION_', '').toLowerCase()}` }),
      h('kbd', String(i + 1)), ' ', h('span', t(label))))),
      h('div.field-error', { id: 'reply-error-result', testid: 'reply-error-result', role: 'alert', hidden: true }));
    const hint = h('p.reply-hint', { testid: 'reply-hint', hidden: true }, t('reply.dissatisfiedHint'));
    const note = h('textarea', { id: 'reply-note', rows: '3', maxlength: '1000', testid: 'reply-note', placeholder: t('reply.note.placeholder'), 'aria-describedby': 'reply-error-note' });
    const noteField = h('div.field', { dataset: { field: 'note' } }, h('label', { for: 'reply-note' }, t('reply.note')), note,
      h('div.field-error', { id: 'reply-error-note', testid: 'reply-error-note', role: 'alert', hidden: true }));
    const general = h('div.form-error', { testid: 'reply-error', role: 'alert', hidden: true });
    const submit = h('button.btn.primary', { type: 'submit', testid: 'reply-submit' }, h('span.label', t('reply.submit')), ' ', h('kbd', 'Ctrl+Enter'));
    const form = h('form.reply-form', { testid: 'reply-form', novalidate: true }, group, hint, noteField, general, h('div.buttons', submit));
    group.addEventListener('change', () => {
      const v = this.choice(form);
      hint.hidden = v !== 'SATISFACTION_DISSATISFIED';
      clearFieldError(form, 'result');
    });
    note.addEventListener('input', () => clearFieldError(form, 'note'));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.submit();
    });
    return form;
  }

  choice(form = this.formEl) {
    const checked = form && form.querySelector('input[name="reply-result"]:checked');
    return checked ? checked.value : '';
  }

  /** Number keys 1–4 choose the result (outside text boxes); Ctrl+Enter records. */
  onKey(e) {
    if (!this.formEl || !this.formEl.isConnected) return false;
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      this.submit();
      return true;
    }
    const typing = e.target && (e.target.tagName === 'TEXTAREA' || (e.target.tagName === 'INPUT' && e.target.type !== 'radio'));
    if (typing || e.ctrlKey || e.metaKey || e.altKey) return false;
    const n = Number(e.key);
    if (Number.isInteger(n) && n >= 1 && n <= RESULTS.length) {
      e.preventDefault();
      const radio = this.formEl.querySelectorAll('input[name="reply-result"]')[n - 1];
      radio.checked = true;
      radio.focus();
      radio.dispatchEvent(new Event('change', { bubbles: true }));
      return true;
    }
    return false;
  }

  async submit() {
    const form = this.formEl;
    const task = this.task();
    if (!form || !task || this.busy) return;
    clearFieldError(form, 'result');
    clearFieldError(form, 'note');
    const general = form.querySelector('[data-testid="reply-error"]');
    general.hidden = true;
    const choice = this.choice(form);
    if (!choice) {
      showFieldError(form, 'result', t('reply.choose.result'));
      return;
    }
    const note = form.querySelector('#reply-note').value.trim();
    const reached = choice !== NOT_REACHED;
    const req = { ticketId: task.ticketId, reference: task.reference, reached, note };
    if (reached) req.satisfaction = choice;
    const button = form.querySelector('[data-testid="reply-submit"]');
    const label = button.querySelector('.label');
    this.busy = true;
    button.disabled = true;
    label.textContent = t('reply.submitting');
    const seq = this.seq;
    try {
      const ticket = await api.dispatch('RecordReply', req);
      if (seq !== this.seq) return;
      this.done = () => doneWords(task, choice, ticket || {});
      this.formEl = null;
      this.formKey = '';
      await this.load();
      this.focusList();
    } catch (err) {
      if (seq !== this.seq) return;
      const name = err && err.field ? FIELD_OF[err.field] : '';
      if (name) {
        showFieldError(form, name, errorText(err));
      } else if (err && STALE.has(err.code)) {
        this.done = () => t('reply.stale');
        this.formEl = null;
        this.formKey = '';
        await this.load();
      } else {
        general.textContent = errorText(err);
        general.hidden = false;
      }
    } finally {
      this.busy = false;
      if (button.isConnected) {
        button.disabled = false;
        label.textContent = t('reply.submit');
      }
    }
  }

  /** A language change: everything is worded again (a half-filled form is kept as it is). */
  relabel() {
    if (this.formEl) {
      const choice = this.choice();
      const note = this.formEl.querySelector('#reply-note').value;
      this.formEl = this.renderForm();
      if (choice) {
        const radio = this.formEl.querySelector(`input[name="reply-result"][value="${choice}"]`);
        if (radio) radio.checked = true;
        this.formEl.querySelector('[data-testid="reply-hint"]').hidden = choice !== 'SATISFACTION_DISSATISFIED';
      }
      this.formEl.querySelector('#reply-note').value = note;
    }
    this.render();
  }
}

/** What was recorded, in words: who, and what happens now. */
function doneWords(task, choice, ticket) {
  const name = task.callerName || task.phone || t('replies.noName');
  if (choice === NOT_REACHED) {
    const mine = (ticket.replies || []).find((r) => r.reference === task.reference);
    return t('reply.done.notReached', { name, n: mine ? Number(mine.attempts || 0) : attemptsOf(task) + 1 });
  }
  if (choice === 'SATISFACTION_DISSATISFIED') {
    if (ticket.state === 'TICKET_STATE_REWORK') return t('reply.done.reopened', { name, squad: ticket.squadName || ticket.squadId || t('reply.someSquad') });
    return t('reply.done.pressed', { name });
  }
  return t('reply.done.reached', { name, satisfaction: tEnum('satisfaction', choice) });
}
