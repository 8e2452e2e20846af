// The panel shown when a map cell is clicked: its code, community and street, the squads
// responsible there (Locate at the clicked point) and its open cases.

import { t, tEnum, escalationLevelLabel } from './i18n.js';
import { h, clear, errorText } from './dom.js';
import { RANK_NAME, lightRank, num } from './store.js';

export class CellPanel {
  constructor({ root, store, locator, map, openCase }) {
    Object.assign(this, { root, store, locator, map, openCase });
    this.info = null;
    this.located = null;
    this.seq = 0;
    store.onChange(() => { if (this.info) this.renderCases(); });
  }

  isOpen() {
    return !this.root.hidden;
  }

  close() {
    if (!this.isOpen()) return;
    this.root.hidden = true;
    this.info = null;
    this.seq++;
    this.map.select(null, this.map.selectedTicket);
  }

  show(info) {
    this.info = info;
    this.located = { loading: true };
    this.root.hidden = false;
    this.map.select(info.cell ? info.cell.code : null, this.map.selectedTicket);
    this.render();
    const seq = ++this.seq;
    this.locator.locate({ lon: info.lon, lat: info.lat }, '').then((resp) => {
      if (seq !== this.seq) return;
      this.located = { resp: resp || {} };
      const cell = this.located.resp.cell;
      if (!this.info.cell && cell && cell.cellCode) this.map.select(cell.cellCode, this.map.selectedTicket);
      this.render();
    }, (err) => {
      if (seq !== this.seq) return;
      this.located = { error: err };
      this.render();
    });
  }

  cellCode() {
    const resp = this.located && this.located.resp;
    if (resp && resp.cell && resp.cell.cellCode) return resp.cell.cellCode;
    return this.info && this.info.cell ? this.info.cell.code : '';
  }

  render() {
    const info = this.info;
    if (!info) return;
    const root = this.root;
    clear(root);
    const close = h('button.btn.icon', { type: 'button', testid: 'cell-panel-close', 'aria-label': t('close'), title: t('close') }, '×');
    close.addEventListener('click', () => this.close());
    root.append(h('div.cell-head', h('h3', { id: 'cell-panel-title' }, t('cell.title')), close));

    const resp = this.located && this.located.resp;
    const cellRef = resp && resp.cell;
    const local = info.cell;
    const code = this.cellCode();
    if (!code && resp && !resp.found) {
      root.append(h('p.muted', { testid: 'cell-outside' }, t('cell.outside')));
    }
    if (code) {
      root.append(h('dl.fields.compact',
        h('dt', t('cell.code')), h('dd.mono', { testid: 'cell-code' }, code),
        h('dt', t('cell.community')), h('dd', { testid: 'cell-community' }, (cellRef && cellRef.communityName) || (local && local.community) || '—'),
        h('dt', t('cell.street')), h('dd', { testid: 'cell-street' }, (cellRef && cellRef.streetName) || (local && local.street) || '—')));
    }

    const resp2 = h('div.cell-responsible', { testid: 'cell-responsible' }, h('h4', t('cell.responsible')));
    if (this.located && this.located.loading) {
      resp2.append(h('div.panel-state.loading', h('span.spinner', { 'aria-hidden': 'true' }), t('state.loading')));
    } else if (this.located && this.located.error) {
      const retry = h('button.btn.small', { type: 'button' }, t('state.retry'));
      retry.addEventListener('click', () => this.show(this.info));
      resp2.append(h('div.panel-state.error', { role: 'alert' }, t('state.error', { message: errorText(this.located.error) }), retry));
    } else {
      const list = (resp && resp.responsible) || [];
      if (!list.length) resp2.append(h('p.muted.small', t('cell.responsible.none')));
      const ul = h('ul.plain');
      list.forEach((r, i) => {
        const isDefault = i === list.length - 1 && list.length > 0;
        ul.append(h('li', { testid: 'cell-squad', dataset: { squadId: r.squadId || '' } },
          h('strong', r.squadName || r.squadId || '—'),
          isDefault ? h('span.badge.small', t('cell.responsible.default')) : null,
          r.routing && r.routing.reason ? h('div.muted.small', r.routing.reason) : null));
      });
      resp2.append(ul);
    }
    root.append(resp2);
    this.casesBox = h('div.cell-cases', { testid: 'cell-cases' });
    root.append(this.casesBox);
    this.renderCases();
  }

  renderCases() {
    const box = this.casesBox;
    if (!box || !this.info) return;
    const code = this.cellCode();
    let tickets = code ? this.store.derive().byCell.get(code) || [] : [];
    if (this.info.tickets && this.info.tickets.length) {
      const ids = new Set(tickets.map((x) => x.id));
      tickets = tickets.concat(this.info.tickets.filter((x) => !ids.has(x.id) && this.store.get(x.id)));
    }
    tickets = tickets.slice().sort((a, b) => lightRank(b) - lightRank(a) || num(b.escalationLevel) - num(a.escalationLevel));
    clear(box).append(h('h4', `${t('cell.openCases')} (${tickets.length})`));
    if (!tickets.length) {
      box.append(h('p.muted.small', { testid: 'cell-no-cases' }, t('cell.noCases')));
      return;
    }
    const ul = h('ul.item-list.compact');
    for (const tk of tickets) {
      const b = h('button.item-button', { type: 'button' },
        h('div.item-row', h(`span.light-dot.${RANK_NAME[lightRank(tk)]}`, { 'aria-hidden': 'true' }),
          h('span.item-title', `${tk.id} · ${tk.categoryName || tk.category || ''}`)),
        h('div.item-meta.muted.small', [tEnum('state', tk.state), tk.squadName || '', num(tk.escalationLevel) ? escalationLevelLabel(tk.escalationLevel) : ''].filter(Boolean).join(' · ')));
      b.addEventListener('click', () => this.openCase(tk.id));
      ul.append(h('li.item', { testid: 'cell-case', dataset: { ticketId: tk.id } }, b));
    }
    box.append(ul);
  }
}
