// The call form: hotline, caller, category (searched by name, pinyin initials or code), filing
// condition, address, point and description; submitted with LogHotlineCall. A refused field is
// marked with the server's reason next to it.
//
// One idempotency key per call, made when the form starts a call and kept until the next one:
// a double click, or submitting again after a network failure, can never file the call twice.

import * as api from '../api.js';
import { t, tEnum } from '../i18n.js';
import { h, clear, errorText, showRefusal, debounce } from '../dom.js';
import { className, terms, termsText, limitText } from './catalogue.js';

const $ = (id) => document.getElementById(id);
const MAX_DESCRIPTION = 2000;
const BROWSE_LIMIT = 60;

/** The form's fields: the control to focus, the box for its error, its label. */
const FIELDS = {
  hotline: { input: 'hotline-12345', err: 'err-hotline', label: 'call.hotline' },
  external: { input: 'external-id', err: 'err-external', label: 'call.external' },
  phone: { input: 'caller-phone', err: 'err-caller-phone', label: 'call.callerPhone' },
  name: { input: 'caller-name', err: 'err-caller-name', label: 'call.callerName' },
  category: { input: 'category-input', err: 'err-category', label: 'call.category' },
  condition: { input: 'condition-select', err: 'err-condition', label: 'call.condition' },
  address: { input: 'address-input', err: 'err-address', label: 'call.address' },
  point: { input: 'point-input', err: 'err-point', label: 'call.point' },
  description: { input: 'description-input', err: 'err-description', label: 'call.description' },
  attach: { input: 'attach-undo', err: 'err-attach', label: 'call.attach.undo' },
};

/** The form field a server error names ("caller.phone", "location.lon", "attachTo" …). */
export function fieldOf(serverField) {
  const f = (serverField || '').replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  if (!f) return null;
  if (f.startsWith('location')) return 'point';
  if (f.startsWith('caller.name')) return 'name';
  if (f.startsWith('caller')) return 'phone';
  const direct = { hotline: 'hotline', external_ticket_id: 'external', category: 'category', condition: 'condition', address: 'address', description: 'description', attach_to: 'attach' };
  return direct[f.split('.')[0]] || null;
}

/** "118.35,34.372" (also with a space or a Chinese comma) -> {lon, lat}; lat,lon is swapped. */
export function parsePoint(text) {
  const m = /^\s*(-?\d+(?:\.\d+)?)\s*[,，\s]\s*(-?\d+(?:\.\d+)?)\s*$/.exec(text || '');
  if (!m) return null;
  let lon = Number(m[1]);
  let lat = Number(m[2]);
  // Chinese latitudes are 3..54 and longitudes 73..136: an operator reading "34.37, 118.35"
  // from another system gave them the other way round.
  if (Math.abs(lon) <= 60 && Math.abs(lat) > 60) [lon, lat] = [lat, lon];
  if (!(Math.abs(lon) <= 180 && Math.abs(lat) <= 90)) return null;
  return { lon, lat };
}

export class CallForm {
  /**
   * onContext({point, category}) after the point or the category changed; onAttach(id) after
   * the case to merge into changed; onSubmitted(receipt, request) after the call was logged.
   */
  constructor({ catalogue, onContext, onAttach, onSubmitted, onPointTyped }) {
    Object.assign(this, { catalogue, onContext, onAttach, onSubmitted, onPointTyped });
    this.form = $('call-form');
    this.key = api.newUuid();
    this.category = null;
    this.point = null;
    this.attach = null; // the ticket chosen to merge into
    this.busy = false;
    this.errors = new Map(); // field -> { key } (ours) or { err } (the server's)
    this.generalError = null; // { key, err }
    this.matches = [];
    this.active = -1;
    this.clearArmed = 0;
    this.bind();
    this.renderTerms();
    this.renderCount();
    this.renderAttach();
  }

  bind() {
    this.form.addEventListener('submit', (e) => { e.preventDefault(); this.submit(); });
    this.form.addEventListener('keydown', (e) => this.enterKey(e));
    for (const [name, f] of Object.entries(FIELDS)) {
      const el = $(f.input);
      if (name !== 'attach' && el) el.addEventListener('input', () => this.clearError(name));
    }
    for (const r of this.form.querySelectorAll('input[name="hotline"]')) r.addEventListener('change', () => this.hotlineChanged());
    const cat = $('category-input');
    cat.addEventListener('input', () => this.categoryTyped());
    cat.addEventListener('keydown', (e) => this.categoryKey(e));
    cat.addEventListener('blur', () => this.closeList());
    $('category-list').addEventListener('mousedown', (e) => {
      const li = e.target.closest('[data-code]');
      if (!li) return;
      e.preventDefault(); // keep the focus in the input
      this.choose(this.catalogue.get(li.dataset.code));
    });
    $('condition-select').addEventListener('change', () => { this.clearError('condition'); this.renderTerms(); });
    const point = $('point-input');
    const typed = debounce(() => this.pointTyped(false), 400);
    point.addEventListener('input', typed);
    point.addEventListener('change', () => { typed.cancel(); this.pointTyped(true); });
    $('point-clear').addEventListener('click', () => { this.setPoint(null); $('point-input').focus(); });
    $('description-input').addEventListener('input', () => this.renderCount());
    $('attach-undo').addEventListener('click', () => this.setAttach(null));
    $('call-clear').addEventListener('click', () => this.clearClicked());
  }

  /**
   * Enter in a one-line field moves on to the next field instead of submitting a half-filled
   * call (the browser's default); Ctrl+Enter or the button submits.
   */
  enterKey(e) {
    if (e.key !== 'Enter' || e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
    const el = e.target;
    if (el.tagName !== 'INPUT' || el.type === 'submit' || el.type === 'button') return;
    e.preventDefault();
    const order = [...this.form.querySelectorAll('input, select, textarea, button')]
      .filter((x) => !x.disabled && x.tabIndex >= 0 && x.offsetParent !== null && (x.type !== 'radio' || x.checked));
    const next = order[order.indexOf(el) + 1];
    if (next) next.focus();
  }

  // ---- hotline ----------------------------------------------------------------------------

  hotline() {
    const r = this.form.querySelector('input[name="hotline"]:checked');
    return r ? r.value : 'HOTLINE_12345';
  }

  /** The 12345 transfer number only means something on calls transferred from 12345. */
  hotlineChanged() {
    const on12345 = this.hotline() === 'HOTLINE_12345';
    $('external-id').disabled = !on12345;
    $('external-row').classList.toggle('disabled', !on12345);
    this.clearError('hotline');
  }

  // ---- category -----------------------------------------------------------------------------

  categoryTyped() {
    const text = $('category-input').value;
    if (this.category && text !== className(this.category)) this.setCategory(null);
    this.clearError('category');
    this.openList(this.catalogue.search(text), text.trim() !== '');
  }

  openList(matches, open) {
    this.matches = matches;
    this.active = matches.length ? 0 : -1;
    this.listOpen = open;
    this.renderList();
  }

  closeList() {
    if (!this.listOpen) return;
    this.listOpen = false;
    this.renderList();
  }

  isListOpen() {
    return Boolean(this.listOpen);
  }

  categoryKey(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return; // Ctrl+Enter submits (the page's handler)
    const n = this.matches.length;
    switch (e.key) {
      case 'ArrowDown':
      case 'ArrowUp':
        e.preventDefault();
        if (!this.listOpen) {
          const text = $('category-input').value;
          this.openList(text.trim() ? this.catalogue.search(text) : this.catalogue.classes.slice(0, BROWSE_LIMIT), true);
          return;
        }
        if (n) this.active = (this.active + (e.key === 'ArrowDown' ? 1 : n - 1)) % n;
        this.renderList();
        return;
      case 'Enter':
        // Enter chooses from an open list (and never submits the form from here).
        e.preventDefault();
        if (this.listOpen && this.active >= 0) this.choose(this.matches[this.active]);
        return;
      case 'Escape':
        if (this.listOpen) {
          e.preventDefault();
          this.closeList();
        }
        return;
      case 'Tab':
        this.closeList();
        return;
      default:
    }
  }

  renderList() {
    const list = $('category-list');
    const input = $('category-input');
    const status = $('category-status');
    const open = this.listOpen && this.catalogue.classes.length > 0;
    input.setAttribute('aria-expanded', String(open));
    list.hidden = !open;
    clear(list);
    input.removeAttribute('aria-activedescendant');
    if (!open) {
      status.textContent = '';
      return;
    }
    if (!this.matches.length) {
      list.append(h('li.combo-empty', { role: 'presentation', testid: 'category-none' }, t('call.category.none')));
      status.textContent = t('call.category.none');
      return;
    }
    status.textContent = t('call.category.count', { n: this.matches.length });
    this.matches.forEach((c, i) => {
      const active = i === this.active;
      const id = `category-option-${c.code}`;
      const x = terms(c, '');
      list.append(h(`li.combo-option${active ? '.active' : ''}`, { id, role: 'option', 'aria-selected': String(active), testid: 'category-option', dataset: { code: c.code } },
        h('span.mono.combo-code', c.code),
        h('span.combo-name', className(c)),
        c.pinyin ? h('span.combo-pinyin', c.pinyin) : null,
        h(`span.combo-terms${x.urgency === 'URGENCY_URGENT' ? '.urgent' : ''}`, `${tEnum('urgency', x.urgency)} · ${limitText(x.handling, x.urgency)}`)));
      if (active) input.setAttribute('aria-activedescendant', id);
    });
    const activeEl = list.querySelector('.active');
    if (activeEl) activeEl.scrollIntoView({ block: 'nearest' });
  }

  /** Chooses a class, then moves on: to its filing conditions if it has any, else the address. */
  choose(c) {
    if (!c) return;
    this.setCategory(c);
    $('category-input').value = className(c);
    this.closeList();
    this.clearError('category');
    (c.conditions.length ? $('condition-select') : $('address-input')).focus();
  }

  setCategory(c) {
    const before = this.category ? this.category.code : '';
    this.category = c;
    this.fillConditions();
    this.renderTerms();
    const chip = $('category-chip');
    chip.textContent = c ? c.code : '';
    chip.hidden = !c;
    if ((c ? c.code : '') !== before) this.contextChanged();
  }

  fillConditions() {
    const select = $('condition-select');
    const keep = select.value;
    const c = this.category;
    clear(select);
    select.append(h('option', { value: '' }, c ? `${t('call.condition.default')} — ${termsText(c, '')}` : t('call.condition.default')));
    for (const k of c ? c.conditions : []) {
      select.append(h('option', { value: k.name }, `${k.label} — ${termsText(c, k.name)}`));
    }
    select.disabled = !c || !c.conditions.length;
    if (c && c.conditions.some((k) => k.name === keep)) select.value = keep;
  }

  renderTerms() {
    const el = $('category-terms');
    const c = this.category;
    const x = terms(c, $('condition-select').value);
    el.dataset.urgency = x ? x.urgency : '';
    el.classList.toggle('urgent', Boolean(x && x.urgency === 'URGENCY_URGENT'));
    el.classList.toggle('none', !x);
    el.textContent = termsText(c, $('condition-select').value);
  }

  // ---- point --------------------------------------------------------------------------------

  /** The typed point: applied while typing once it parses; a wrong one is said on leaving. */
  pointTyped(final) {
    const text = $('point-input').value.trim();
    if (!text) {
      if (this.point) this.setPoint(null, false);
      return;
    }
    const p = parsePoint(text);
    if (p) {
      if (!this.point || p.lon !== this.point.lon || p.lat !== this.point.lat) this.setPoint(p, false, true);
    } else if (final) {
      this.setError('point', { key: 'call.point.bad' });
    }
  }

  /** Sets the point; `fillInput` writes it into the text box (a map pick). */
  setPoint(p, fillInput = true, typed = false) {
    this.point = p;
    if (fillInput) $('point-input').value = p ? `${p.lon},${p.lat}` : '';
    $('point-clear').hidden = !p;
    this.clearError('point');
    if (typed && this.onPointTyped) this.onPointTyped(p);
    this.contextChanged();
  }

  contextChanged() {
    this.onContext({ point: this.point, category: this.category ? this.category.code : '' });
  }

  // ---- merge into a case ----------------------------------------------------------------------

  attachedId() {
    return this.attach ? this.attach.id : '';
  }

  setAttach(ticket) {
    this.attach = ticket ? { id: ticket.id, categoryName: ticket.categoryName || '', address: ticket.address || '' } : null;
    this.clearError('attach');
    this.renderAttach();
    this.onAttach(this.attachedId());
  }

  renderAttach() {
    const box = $('attach-box');
    box.hidden = !this.attach;
    $('attach-text').textContent = this.attach ? t('call.attach', { id: this.attach.id }) : '';
  }

  // ---- errors ----------------------------------------------------------------------------------

  setError(field, e) {
    this.errors.set(field, e);
    this.renderError(field);
  }

  clearError(field) {
    if (!this.errors.delete(field)) return;
    this.renderError(field);
  }

  clearErrors() {
    const fields = [...this.errors.keys()];
    this.errors.clear();
    for (const f of fields) this.renderError(f);
    this.generalError = null;
    this.renderGeneralError();
  }

  renderError(field) {
    const f = FIELDS[field];
    const box = $(f.err);
    const input = $(f.input);
    const e = this.errors.get(field);
    box.hidden = !e;
    if (input) {
      if (e) input.setAttribute('aria-invalid', 'true');
      else input.removeAttribute('aria-invalid');
    }
    const row = box.closest('.field');
    if (row) row.classList.toggle('invalid', Boolean(e));
    if (!e) return clear(box);
    if (e.key) return showRefusal(box, { text: t(e.key), detail: '' });
    // Our words name the field; the server's reason follows as it said it.
    return showRefusal(box, { text: t('call.fieldError', { label: t(f.label) }), detail: e.err.serverMessage ? e.err.message : errorText(e.err) });
  }

  renderGeneralError() {
    const box = $('form-error');
    const g = this.generalError;
    box.hidden = !g;
    if (!g) return clear(box);
    return showRefusal(box, { text: g.key ? t(g.key) : errorText(g.err), detail: g.key && g.err && g.err.serverMessage ? g.err.message : '' });
  }

  relabel() {
    for (const f of this.errors.keys()) this.renderError(f);
    this.renderGeneralError();
    if (this.category) $('category-input').value = className(this.category);
    this.fillConditions();
    this.renderTerms();
    this.renderCount();
    this.renderAttach();
    this.renderList();
    this.renderBusy();
  }

  // ---- submit --------------------------------------------------------------------------------

  request() {
    const req = {
      idempotencyKey: this.key,
      hotline: this.hotline(),
      caller: {
        name: $('caller-name').value.trim(),
        phone: $('caller-phone').value.trim(),
        replyRequired: $('caller-reply').checked,
        confidential: $('caller-confidential').checked,
      },
      category: this.category ? this.category.code : '',
      condition: this.category ? $('condition-select').value : '',
      address: $('address-input').value.trim(),
      description: $('description-input').value.trim(),
    };
    const ext = $('external-id').value.trim();
    if (ext && req.hotline === 'HOTLINE_12345') req.externalTicketId = ext;
    if (this.point) req.location = { lon: this.point.lon, lat: this.point.lat, crs: 'COORD_SYSTEM_WGS84' };
    if (this.attach) req.attachTo = this.attach.id;
    return req;
  }

  /** What only this page can know is wrong: a category typed but not chosen, a point that does not parse. */
  localCheck() {
    const text = $('category-input').value.trim();
    if (!this.category && text) {
      const matches = this.catalogue.search(text);
      if (matches.length === 1) this.choose(matches[0]);
      else return ['category', { key: 'call.category.choose' }];
    }
    const pt = $('point-input').value.trim();
    if (pt && !parsePoint(pt)) return ['point', { key: 'call.point.bad' }];
    if (pt) this.pointTyped(true);
    return null;
  }

  async submit() {
    if (this.busy) return; // a double click sends one request
    this.clearErrors();
    const local = this.localCheck();
    if (local) {
      this.setError(...local);
      $(FIELDS[local[0]].input).focus();
      return;
    }
    const req = this.request();
    this.busy = true;
    this.renderBusy();
    try {
      const receipt = await api.rpc('gridd.v1.IntakeService', 'LogHotlineCall', req);
      this.onSubmitted(receipt, req);
    } catch (err) {
      this.refused(err);
    } finally {
      this.busy = false;
      this.renderBusy();
    }
  }

  /** Shows a refusal next to the field it names (and focuses it), else above the buttons. */
  refused(err) {
    const field = fieldOf(err.field);
    if (field && err.code !== 'already_exists') {
      this.setError(field, { err });
      const input = $(FIELDS[field].input);
      if (input && !input.disabled && !input.closest('[hidden]')) input.focus();
      return;
    }
    if (err.code === 'already_exists') this.generalError = { key: 'call.error.reused', err };
    else if (err.status === 0 || err.status >= 500) this.generalError = { key: 'call.error.unknown', err };
    else this.generalError = { err };
    this.renderGeneralError();
  }

  renderBusy() {
    const b = $('call-submit');
    b.disabled = this.busy;
    b.setAttribute('aria-busy', String(this.busy));
    $('call-submit-label').textContent = t(this.busy ? 'call.submitting' : 'call.submit');
  }

  renderCount() {
    const n = $('description-input').value.length;
    const el = $('description-count');
    el.textContent = t('call.chars', { n, max: MAX_DESCRIPTION });
    el.classList.toggle('over', n > MAX_DESCRIPTION);
  }

  // ---- clearing --------------------------------------------------------------------------------

  isDirty() {
    return ['external-id', 'caller-phone', 'caller-name', 'category-input', 'address-input', 'point-input', 'description-input']
      .some((id) => $(id).value.trim() !== '') || Boolean(this.attach);
  }

  /** A filled form needs a second click within a few seconds, so a stray click loses nothing. */
  clearClicked() {
    const b = $('call-clear');
    if (this.isDirty() && !this.clearArmed) {
      b.textContent = t('call.clear.confirm');
      b.classList.add('danger');
      this.clearArmed = setTimeout(() => this.disarmClear(), 3000);
      return;
    }
    this.disarmClear();
    this.reset();
  }

  disarmClear() {
    clearTimeout(this.clearArmed);
    this.clearArmed = 0;
    const b = $('call-clear');
    b.textContent = t('call.clear');
    b.classList.remove('danger');
  }

  /** A new call: empty fields (the hotline stays), a new idempotency key. */
  reset() {
    // form.reset() would also put the hotline back to its default: keep the operator's line.
    const line = this.hotline();
    this.form.reset();
    for (const r of this.form.querySelectorAll('input[name="hotline"]')) r.checked = r.value === line;
    this.hotlineChanged();
    this.key = api.newUuid();
    this.clearErrors();
    this.attach = null;
    this.renderAttach();
    this.category = null;
    this.point = null;
    $('point-clear').hidden = true;
    $('category-chip').hidden = true;
    this.fillConditions();
    this.renderTerms();
    this.renderCount();
    this.closeList();
    this.onAttach('');
    this.contextChanged();
  }

  focusFirst() {
    $('caller-phone').focus();
  }

  focusCategory() {
    const input = $('category-input');
    input.focus();
    input.select();
  }
}
