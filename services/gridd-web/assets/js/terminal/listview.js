// The task list: the squad's current tasks, most pressing first, each a link to its task view
// with its warning light, live countdown and any of the member's actions waiting to be sent.
// Shows what is going on when there is nothing to list: loading, empty, offline.

import { t, tEnum } from '../i18n.js';
import { h, clear, reconcile, fmtTime } from '../dom.js';
import { lightOf, countdown, lightDot, shownState, stateBadge, pendingBadge } from './common.js';

export class TaskList {
  /** els: { list, state, count, note }; store: TaskStore; outbox: Outbox; status(): {online, synced, syncedAt} */
  constructor({ els, store, outbox, status }) {
    Object.assign(this, { els, store, outbox, status });
  }

  render() {
    const { list, state, count, note } = this.els;
    const tasks = this.store.list();
    const st = this.status();
    count.textContent = tasks.length ? t('term.list.count', { n: tasks.length }) : '';
    count.dataset.count = String(tasks.length);
    note.textContent = st.syncedAt ? t('term.list.syncedAt', { time: fmtTime(new Date(st.syncedAt).toISOString(), true) }) : '';
    clear(state);
    if (!tasks.length) {
      list.hidden = true;
      clear(list);
      if (!st.online) {
        state.append(h('div.panel-state.offline', { testid: 'list-offline' }, t('term.list.offlineEmpty')));
      } else if (!st.synced) {
        state.append(h('div.panel-state.loading', { role: 'status', testid: 'list-loading' }, h('span.spinner', { 'aria-hidden': 'true' }), t('term.list.loading')));
      } else {
        state.append(h('div.panel-state.empty', { testid: 'list-empty' },
          h('strong', t('term.list.empty')), h('span.muted', t('term.list.emptyHint'))));
      }
      return;
    }
    if (!st.online) state.append(h('div.list-note.offline', { testid: 'list-offline' }, t('term.list.offlineCached')));
    list.hidden = false;
    const sendingId = this.outbox.sending ? this.outbox.sending.actionId : '';
    reconcile(list, tasks, (tk) => tk.id, () => h('li'), (li, tk) => this.fill(li, tk, sendingId));
  }

  /** One card. Re-drawn whole on each render: a card is a few elements. */
  fill(li, tk, sendingId) {
    const pending = this.outbox.pendingFor(tk.id);
    const state = shownState(tk, pending);
    const light = lightOf(tk);
    const urgent = tk.urgency === 'URGENCY_URGENT';
    const sig = JSON.stringify([tk.version, state, light, pending.map((p) => p.actionId), sendingId && pending.some((p) => p.actionId === sendingId), document.documentElement.lang]);
    if (li.dataset.sig === sig) return;
    li.dataset.sig = sig;
    clear(li).append(h(`a.task-card.light-${light}`, {
      href: `#/task/${encodeURIComponent(tk.id)}`,
      testid: 'task-item',
      dataset: { ticketId: tk.id, state, light, version: String(tk.version || '') },
    },
    h('div.card-top', lightDot(light, 'task-light'), h('span.card-title', tk.categoryName || tk.category || tk.id), stateBadge(state, 'task-state')),
    h('div.card-addr', tk.address || tk.description || (tk.cell && [tk.cell.streetName, tk.cell.communityName].filter(Boolean).join(' ')) || '—'),
    h('div.card-bottom',
      countdown(tk, 'task-countdown'),
      urgent ? h('span.urgent', tEnum('urgency', tk.urgency)) : null,
      h('span.card-id.mono', tk.id)),
    pendingBadge(pending, sendingId, 'task-pending')));
  }
}
