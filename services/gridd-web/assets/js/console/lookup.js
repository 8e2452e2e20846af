// Looking a case up while a caller asks after it: by the reference they were given (GetTicket)
// or by their phone number (ListTickets callerPhone). Each case is told in plain words a caller
// understands, with what happens next; phone numbers stay masked.

import * as api from '../api.js';
import { t, tEnum } from '../i18n.js';
import { h, clear, loadingState, emptyState, errorState, fmtTime } from '../dom.js';
import { isOpen } from '../store.js';

const $ = (id) => document.getElementById(id);
// While a call is accepted but not yet placed, ask again this often (for up to a minute).
const PENDING_POLL_MS = 1000;
const PENDING_POLL_MAX = 60;

/** The state's plain words for the caller, with the handling deadline where one runs. */
export function callerWords(tk) {
  const state = (tk.state || '').replace('TICKET_STATE_', '');
  const squad = tk.squadName || tk.squadId || t('words.someSquad');
  const deadline = tk.handlingDeadline ? t('words.deadline', { time: fmtTime(tk.handlingDeadline) }) : '';
  switch (state) {
    case 'REGISTERED': {
      const manual = tk.manualReason && tk.manualReason !== 'MANUAL_REASON_UNSPECIFIED';
      return manual ? t('words.REGISTERED.reason', { reason: tEnum('manualReason', tk.manualReason) }) : t('words.REGISTERED');
    }
    case 'DISPATCHED':
    case 'ACCEPTED':
    case 'IN_PROGRESS':
    case 'REWORK':
      return t(`words.${state}`, { squad }) + deadline;
    case 'CLOSED':
      return tk.closedAt ? t('words.CLOSED.at', { time: fmtTime(tk.closedAt) }) : t('words.CLOSED');
    case 'CANCELLED':
      return t('words.CANCELLED', { reason: tEnum('cancelReason', tk.cancelReason, t('none')) });
    case 'VERIFYING':
      return t('words.VERIFYING');
    case 'NOT_FILED':
      return t('words.NOT_FILED', { reason: tEnum('notFiledReason', tk.notFiledReason || 'NOT_FILED_REASON_UNSPECIFIED') });
    case 'RETURNED':
    case 'CHECKING':
    case 'SUSPENDED':
      return t(`words.${state}`);
    default:
      return tEnum('state', tk.state);
  }
}

/** 13812345678 -> 138****5678 (as the server masks the numbers it stores). */
export function maskPhone(phone) {
  const p = (phone || '').trim();
  if (p.length < 7) return p.replace(/\d/g, '*');
  return `${p.slice(0, 3)}****${p.slice(-4)}`;
}

export class Lookup {
  constructor({ body, callerPhone }) {
    this.body = body;
    this.callerPhone = callerPhone; // () => the phone typed in the call form
    this.view = null; // { kind: 'ticket', ref, answer } | { kind: 'list', phone, answer } | loading/error
    this.list = null; // the last phone list, to go back to
    this.seq = 0;
    this.pollTimer = 0;
    $('lookup-ref-form').addEventListener('submit', (e) => { e.preventDefault(); this.byRef($('lookup-ref').value); });
    $('lookup-phone-form').addEventListener('submit', (e) => { e.preventDefault(); this.byPhone($('lookup-phone').value); });
    $('lookup-use-caller').addEventListener('click', () => {
      const phone = this.callerPhone();
      $('lookup-phone').value = phone;
      if (phone) this.byPhone(phone);
      else $('lookup-phone').focus();
    });
    this.render();
  }

  reset() {
    this.stopPoll();
    this.seq++;
    this.view = null;
    this.list = null;
    $('lookup-ref').value = '';
    $('lookup-phone').value = '';
    this.render();
  }

  stopPoll() {
    clearTimeout(this.pollTimer);
    this.pollTimer = 0;
  }

  /** GetTicket by a reference (or case number) as read out; polls while it is being placed. */
  async byRef(raw, fromList = false, polls = 0) {
    const ref = (raw || '').trim().toUpperCase();
    if (!ref) return $('lookup-ref').focus();
    if (!fromList) this.list = null;
    if (polls === 0) {
      this.stopPoll();
      $('lookup-ref').value = ref;
      this.view = { kind: 'loading' };
      this.render();
    }
    const seq = ++this.seq;
    try {
      const answer = await api.dispatch('GetTicket', { id: ref });
      if (seq !== this.seq) return;
      this.view = { kind: 'ticket', ref, answer };
      if (answer.pending && polls < PENDING_POLL_MAX) {
        this.pollTimer = setTimeout(() => this.byRef(ref, fromList, polls + 1), PENDING_POLL_MS);
      }
    } catch (err) {
      if (seq !== this.seq) return;
      this.view = err.status === 404 ? { kind: 'notFound', ref } : { kind: 'error', err, retry: () => this.byRef(ref, fromList) };
    }
    this.render();
  }

  /** ListTickets of a caller's phone number, newest first. */
  async byPhone(raw) {
    const phone = (raw || '').replace(/[\s-]/g, '');
    if (!phone) return $('lookup-phone').focus();
    this.stopPoll();
    this.view = { kind: 'loading' };
    this.render();
    const seq = ++this.seq;
    try {
      const answer = await api.dispatch('ListTickets', { callerPhone: phone, page: { pageSize: 50 } });
      if (seq !== this.seq) return;
      this.list = { phone, tickets: answer.tickets || [] };
      this.view = { kind: 'list' };
    } catch (err) {
      if (seq !== this.seq) return;
      this.view = { kind: 'error', err, retry: () => this.byPhone(phone) };
    }
    this.render();
  }

  render() {
    const el = this.body;
    const v = this.view;
    if (!v) return emptyState(el, t('lookup.empty'));
    if (v.kind === 'loading') return loadingState(el, t('lookup.loading'));
    if (v.kind === 'error') return errorState(el, v.err, v.retry);
    if (v.kind === 'notFound') return clear(el).append(h('div.panel-state.empty', { testid: 'lookup-not-found' }, t('lookup.notFound', { id: v.ref })));
    if (v.kind === 'list') return this.renderList(el);
    return this.renderTicket(el, v);
  }

  renderList(el) {
    const { phone, tickets } = this.list;
    const masked = maskedOf(tickets, phone);
    if (!tickets.length) return clear(el).append(h('div.panel-state.empty', { testid: 'lookup-no-cases' }, t('lookup.noCases', { phone: masked })));
    clear(el).append(
      h('h3.lookup-head', { testid: 'lookup-list-head' }, t('lookup.cases', { phone: masked, n: tickets.length })),
      h('ul.item-list.lookup-list', { testid: 'lookup-list' }, tickets.map((tk) => h('li.item', { testid: 'lookup-item', dataset: { ticketId: tk.id } },
        h('button.item-button', { type: 'button', onclick: () => this.byRef(tk.id, true) },
          h('div.item-row',
            h('span.mono', tk.id),
            h('span.item-title', tk.categoryName || tk.category || ''),
            stateBadge(tk)),
          h('div.small', { testid: 'lookup-item-words' }, callerWords(tk)),
          h('div.item-row.small.muted',
            h('span', fmtTime(tk.createdAt)),
            h('span.item-meta', tk.address || ''),
            h('span.mono', { testid: 'lookup-item-phone' }, contactOf(tk, phone))))))));
  }

  renderTicket(el, v) {
    const { ref, answer } = v;
    clear(el);
    if (this.list) el.append(h('button.link.lookup-back', { type: 'button', testid: 'lookup-back', onclick: () => this.byPhone(this.list.phone) }, `← ${t('lookup.back')}`));
    if (answer.pending || !answer.ticket) {
      el.append(h('div.lookup-case', { testid: 'lookup-case', dataset: { pending: 'true' } },
        h('div.lookup-title', h('span.mono.lookup-id', ref)),
        h('p.lookup-words', { testid: 'lookup-status' }, h('span.spinner', { 'aria-hidden': 'true' }), ' ', t('words.pending'))));
      return;
    }
    const tk = answer.ticket;
    // A view lists at most the opening report and the newest 99 (reportCount counts them
    // all): a reference found by GetTicket but not listed is one of the others.
    const listed = tk.reports || [];
    const complete = listed.length >= Number(tk.reportCount || 0);
    const merged = tk.id !== ref && (!complete || listed.some((r) => r.reference === ref && r.reference !== tk.id));
    const reply = (tk.reports || []).some((r) => r.replyRequired);
    el.append(h('div.lookup-case', { testid: 'lookup-case', dataset: { ticketId: tk.id, state: tk.state || '' } },
      h('div.lookup-title',
        h('span.mono.lookup-id', { testid: 'lookup-case-id' }, tk.id),
        stateBadge(tk),
        h('button.btn.small.ghost', { type: 'button', testid: 'lookup-refresh', onclick: () => this.byRef(ref, Boolean(this.list)) }, t('lookup.refresh'))),
      merged ? h('p.lookup-merged', { testid: 'lookup-merged' }, t('lookup.mergedInto', { ref, id: tk.id })) : null,
      h('p.lookup-words', { testid: 'lookup-status' }, callerWords(tk)),
      reply && isOpen(tk) ? h('p.small.muted', t('words.reply')) : null,
      h('dl.fields',
        h('dt', t('lookup.category')), h('dd', tk.categoryName || tk.category || '—'),
        h('dt', t('lookup.address')), h('dd', tk.address || '—'),
        h('dt', t('lookup.filedAt')), h('dd', fmtTime(tk.createdAt)),
        h('dt', t('lookup.squad')), h('dd', tk.squadName || tk.squadId || '—'),
        h('dt', t('lookup.deadline')), h('dd', fmtTime(tk.handlingDeadline))),
      h('h4', `${t('lookup.reports')} (${Number(tk.reportCount || listed.length)})`),
      h('ul.plain.lookup-reports', (tk.reports || []).map((r) => h('li', { testid: 'lookup-report', dataset: { reference: r.reference } },
        h('span.mono', r.reference), ' ',
        h('span.muted', `${tEnum('channel', r.channel)} · ${fmtTime(r.receivedAt)}`),
        r.contactMasked ? [' ', h('span.mono', { testid: 'lookup-report-phone' }, r.contactMasked)] : null)))));
  }
}

function stateBadge(tk) {
  return h(`span.state-badge.${(tk.state || '').toLowerCase()}`, { testid: 'lookup-state', dataset: { state: tk.state || '' } }, tEnum('state', tk.state));
}

/** The masked form of the number, as the server shows it on the cases' reports. */
function maskedOf(tickets, phone) {
  const mine = maskPhone(phone);
  for (const tk of tickets) {
    for (const r of tk.reports || []) if (r.contactMasked && r.contactMasked.slice(-4) === phone.slice(-4)) return r.contactMasked;
  }
  return mine;
}

function contactOf(tk, phone) {
  const r = (tk.reports || []).find((x) => x.contactMasked && x.contactMasked.slice(-4) === phone.slice(-4));
  return r ? r.contactMasked : maskPhone(phone);
}
