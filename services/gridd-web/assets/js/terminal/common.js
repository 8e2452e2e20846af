// Small pieces the terminal's list and task view share: the warning light of a task, the live
// countdown to its stage deadline, the badge of its state and of its actions waiting to be sent.

import { t, tEnum } from '../i18n.js';
import { h } from '../dom.js';
import { stateAfter } from './outbox.js';

const pad = (n) => String(n).padStart(2, '0');

/**
 * The light a member should see now: the server's light, turned red once the stage deadline
 * has passed on this phone's clock (the server's own turn to red may be a moment behind).
 */
export function lightOf(tk, now = Date.now()) {
  if (tk.state === 'TICKET_STATE_SUSPENDED') return 'none';
  const deadline = Date.parse(tk.stageDeadline || '');
  if (tk.overdue || (Number.isFinite(deadline) && deadline <= now)) return 'red';
  return { LIGHT_GREEN: 'green', LIGHT_YELLOW: 'yellow', LIGHT_RED: 'red' }[tk.light] || 'none';
}

/** "剩余 01:23:45" / "超时 00:05:12" (days in front when longer), or '' without a deadline. */
export function countdownText(deadlineIso, now = Date.now()) {
  const deadline = Date.parse(deadlineIso || '');
  if (!Number.isFinite(deadline)) return '';
  const ms = deadline - now;
  let s = Math.floor(Math.abs(ms) / 1000);
  const days = Math.floor(s / 86400);
  s -= days * 86400;
  const time = `${days ? t('term.days', { n: days }) : ''}${pad(Math.floor(s / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
  return ms >= 0 ? t('term.left', { time }) : t('term.late', { time });
}

/** A countdown element the app's ticker keeps current (data-deadline holds the deadline). */
export function countdown(tk, testid) {
  const frozen = tk.state === 'TICKET_STATE_SUSPENDED' || !tk.stageDeadline;
  const el = h('span.countdown', { testid, dataset: { deadline: frozen ? '' : tk.stageDeadline } });
  updateCountdown(el);
  return el;
}

export function updateCountdown(el, now = Date.now()) {
  const deadline = el.dataset.deadline;
  if (!deadline) {
    el.textContent = t('term.noDeadline');
    el.classList.remove('late');
    return;
  }
  el.textContent = countdownText(deadline, now);
  el.classList.toggle('late', Date.parse(deadline) <= now);
}

export function lightDot(light, testid) {
  return h(`span.light.${light}`, { testid, dataset: { light }, role: 'img', 'aria-label': t(`light.LIGHT_${light === 'none' ? 'UNSPECIFIED' : light.toUpperCase()}`) });
}

/** The state the member will see once their queued actions are applied. */
export function shownState(tk, pending) {
  return stateAfter(tk.state, pending);
}

export function stateBadge(state, testid) {
  return h(`span.state.${(state || '').replace('TICKET_STATE_', '').toLowerCase()}`, { testid, dataset: { state: state || '' } }, tEnum('state', state));
}

/** "待发送：签收、开始处置" for the actions of a task waiting in the queue. */
export function pendingBadge(pending, sendingId, testid) {
  if (!pending.length) return null;
  const names = pending.map((i) => t(`term.action.${i.action}`) + (i.actionId === sendingId ? `（${t('term.pending.sending')}）` : ''));
  return h('span.pending-badge', { testid, dataset: { count: String(pending.length) } }, t('term.pending.badge', { actions: names.join('、') }));
}
