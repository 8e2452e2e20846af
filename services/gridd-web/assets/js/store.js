// The open cases the dashboard shows, kept from ListTickets and the ticket stream, and the
// values derived from them (cell colours, manual queue, overdue list).

export const OPEN_STATES = [
  'TICKET_STATE_REGISTERED',
  'TICKET_STATE_DISPATCHED',
  'TICKET_STATE_ACCEPTED',
  'TICKET_STATE_IN_PROGRESS',
  'TICKET_STATE_RETURNED',
  'TICKET_STATE_CHECKING',
  'TICKET_STATE_REWORK',
  'TICKET_STATE_SUSPENDED',
  'TICKET_STATE_VERIFYING',
];
export const MANUAL_STATES = ['TICKET_STATE_REGISTERED', 'TICKET_STATE_RETURNED'];
// Not filed after verification (不予立案) ends the case like a close: the reply that may still
// be owed to its callers is the hotline's work, not the map's.
const TERMINAL = new Set(['TICKET_STATE_CLOSED', 'TICKET_STATE_CANCELLED', 'TICKET_STATE_NOT_FILED']);

export const LIGHT_RANK = { LIGHT_GREEN: 1, LIGHT_YELLOW: 2, LIGHT_RED: 3 };
export const RANK_NAME = ['none', 'green', 'yellow', 'red'];

export function isOpen(ticket) {
  return ticket && ticket.state && !TERMINAL.has(ticket.state);
}

export function num(v) {
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
}

export function lightRank(ticket) {
  return LIGHT_RANK[ticket.light] || 0;
}

export function ts(v) {
  if (!v) return NaN;
  return Date.parse(v);
}

// The engine's clock as far as the browser can tell: wall time, unless ticket events carry later
// times (e.g. the demo's accelerated clock), then the last event time plus the wall time since.
let clockBase = { at: 0, wall: 0 };
export function observeEngineTime(iso) {
  const at = ts(iso);
  if (!Number.isFinite(at)) return;
  const wall = Date.now();
  const projected = clockBase.at + (wall - clockBase.wall);
  if (at > projected || wall - clockBase.wall > 5000) clockBase = { at, wall };
}
export function engineNow() {
  const wall = Date.now();
  if (!clockBase.wall) return wall;
  return Math.max(wall, clockBase.at + (wall - clockBase.wall));
}

export class TicketStore {
  constructor() {
    this.open = new Map(); // id -> Ticket
    this.gone = new Map(); // id -> version at which it closed (so an older listing cannot revive it)
    this.listeners = new Set();
    this.derived = null;
  }

  onChange(fn) {
    this.listeners.add(fn);
  }

  emit() {
    this.derived = null;
    for (const fn of this.listeners) fn();
  }

  clear() {
    this.open.clear();
    this.gone.clear();
    this.emit();
  }

  /** Applies one ticket (from a listing, a command answer or an event); true if it changed. */
  put(ticket, quiet) {
    if (!ticket || !ticket.id) return false;
    const v = num(ticket.version);
    const cur = this.open.get(ticket.id);
    if (cur && num(cur.version) > v) return false;
    const goneAt = this.gone.get(ticket.id);
    if (goneAt !== undefined && goneAt >= v) return false;
    if (isOpen(ticket)) {
      if (cur && num(cur.version) === v && cur.state === ticket.state && cur.light === ticket.light) {
        this.open.set(ticket.id, ticket);
        return false;
      }
      this.open.set(ticket.id, ticket);
    } else {
      this.gone.set(ticket.id, v);
      if (!this.open.delete(ticket.id)) return false;
    }
    if (!quiet) this.emit();
    return true;
  }

  /** Replaces the whole set from a fresh listing, keeping anything newer that arrived meanwhile. */
  replaceAll(tickets) {
    const fresh = new Map();
    for (const t of tickets) {
      if (!t || !t.id) continue;
      const goneAt = this.gone.get(t.id);
      if (goneAt !== undefined && goneAt >= num(t.version)) continue;
      const cur = this.open.get(t.id);
      fresh.set(t.id, cur && num(cur.version) > num(t.version) ? cur : t);
    }
    // Cases the stream delivered after the listing was taken stay.
    for (const [id, t] of this.open) if (!fresh.has(id) && t.__live) fresh.set(id, t);
    this.open = fresh;
    this.emit();
  }

  applyEvent(ev) {
    const ticket = ev.ticket;
    if (!ticket) return false;
    if (!ticket.state && ev.state) ticket.state = ev.state;
    ticket.__live = true;
    return this.put(ticket);
  }

  get(id) {
    return this.open.get(id);
  }

  list() {
    return [...this.open.values()];
  }

  derive() {
    if (this.derived) return this.derived;
    const cellWorst = new Map();
    const byCell = new Map();
    const manual = [];
    const verifying = [];
    const overdue = [];
    for (const t of this.open.values()) {
      const code = t.cell && t.cell.cellCode;
      if (code) {
        const r = lightRank(t);
        if ((cellWorst.get(code) || 0) < r) cellWorst.set(code, r);
        else if (!cellWorst.has(code)) cellWorst.set(code, 0);
        let list = byCell.get(code);
        if (!list) byCell.set(code, (list = []));
        list.push(t);
      }
      if (MANUAL_STATES.includes(t.state)) manual.push(t);
      if (t.state === 'TICKET_STATE_VERIFYING') verifying.push(t);
      if (t.overdue || num(t.escalationLevel) > 0) overdue.push(t);
    }
    manual.sort((a, b) => (ts(a.createdAt) || 0) - (ts(b.createdAt) || 0));
    // The verification due first comes first.
    verifying.sort((a, b) => (ts(a.stageDeadline) || Infinity) - (ts(b.stageDeadline) || Infinity) || (ts(a.createdAt) || 0) - (ts(b.createdAt) || 0));
    overdue.sort((a, b) => {
      const d = num(b.escalationLevel) - num(a.escalationLevel);
      if (d) return d;
      // Later deadline = less late; same "now" for both, so compare deadlines directly.
      const da = ts(a.stageDeadline);
      const db = ts(b.stageDeadline);
      const fa = Number.isFinite(da) ? da : Infinity;
      const fb = Number.isFinite(db) ? db : Infinity;
      return fa - fb;
    });
    this.derived = { cellWorst, byCell, manual, verifying, overdue };
    return this.derived;
  }

  cellColour(code) {
    const r = this.derive().cellWorst.get(code);
    return RANK_NAME[r || 0];
  }
}
