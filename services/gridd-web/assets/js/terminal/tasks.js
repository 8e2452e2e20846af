// The squad's current tasks, folded from the task feed (TaskEvent per ticket: ASSIGNED and
// REWORK add or update, WITHDRAWN and CLOSED remove, ESCALATED and UPDATED update), from the
// tickets the squad's own commands answer, and from a listing of the squad's open cases. Kept
// on the device with the feed's last seq, so a reload resumes the feed where it stopped.
//
// Every source may bring an older picture of a ticket than one already held (a replayed feed
// entry, a listing taken before a command): a ticket only ever moves forward by its version,
// and a removed task leaves a marker with its version so an older entry cannot bring it back.

import { num } from '../store.js';

/** States in which a task is the squad's to work on (others leave the list). */
export const ACTIVE_STATES = new Set([
  'TICKET_STATE_DISPATCHED',
  'TICKET_STATE_ACCEPTED',
  'TICKET_STATE_IN_PROGRESS',
  'TICKET_STATE_REWORK',
  'TICKET_STATE_SUSPENDED',
]);

const REMOVING = new Set(['TASK_EVENT_KIND_WITHDRAWN', 'TASK_EVENT_KIND_CLOSED']);
const MARKER_DAYS = 7;

export class TaskStore {
  constructor() {
    this.tasks = new Map(); // id -> ticket
    this.gone = new Map(); // id -> { version, at } of removed tasks
    this.touched = new Map(); // id -> when this device last learnt something of it (ms)
    this.seq = ''; // last feed seq folded
    this.squadId = '';
    this.dirty = new Set();
    this.seqDirty = false;
    this.listeners = new Set();
    this.db = null;
    this.saveTimer = 0;
    this.saving = Promise.resolve();
  }

  onChange(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(info) {
    for (const fn of this.listeners) fn(info);
  }

  /** Reads what the device kept for this account. */
  async load(db, squadId) {
    this.db = db;
    this.squadId = squadId || '';
    this.tasks.clear();
    this.gone.clear();
    this.seq = (await db.get('kv', 'feedSeq')) || '';
    const cutoff = Date.now() - MARKER_DAYS * 86400000;
    for (const row of await db.all('tasks')) {
      if (row.gone) {
        if (row.at > cutoff) this.gone.set(row.id, { version: row.version, at: row.at });
      } else if (row.ticket) {
        this.tasks.set(row.id, row.ticket);
      }
    }
    this.emit({ loaded: true });
  }

  get(id) {
    return this.tasks.get(id) || null;
  }

  /** The tasks, the most pressing first: by stage deadline (none last), then by age. */
  list() {
    const key = (tk) => {
      const d = Date.parse(tk.stageDeadline || '');
      return Number.isFinite(d) ? d : Number.POSITIVE_INFINITY;
    };
    return [...this.tasks.values()].sort((a, b) => key(a) - key(b)
      || String(a.createdAt || '').localeCompare(String(b.createdAt || ''))
      || String(a.id).localeCompare(String(b.id)));
  }

  /**
   * Folds one feed entry. Answers what changed: { added, removed, updated } (all false when the
   * entry was older than what is held).
   */
  fold(event) {
    const tk = event && event.ticket;
    if (event && event.seq) this.setSeq(event.seq);
    if (!tk || !tk.id) return { added: false, removed: false, updated: false };
    if (REMOVING.has(event.kind)) return this.remove(tk.id, tk.version);
    return this.put(tk);
  }

  /**
   * A ticket as the server answered it (a command, GetTicket, a listing): kept when it is the
   * squad's and active, else the task leaves the list.
   */
  put(tk) {
    const none = { added: false, removed: false, updated: false };
    if (!tk || !tk.id) return none;
    const v = num(tk.version);
    const held = this.tasks.get(tk.id);
    if (held && num(held.version) > v) return none;
    const marker = this.gone.get(tk.id);
    if (!held && marker && marker.version >= v) return none;
    const mine = !this.squadId || !tk.squadId || tk.squadId === this.squadId;
    if (!mine || !ACTIVE_STATES.has(tk.state)) return this.remove(tk.id, tk.version);
    this.tasks.set(tk.id, tk);
    this.touched.set(tk.id, Date.now());
    this.gone.delete(tk.id);
    this.dirty.add(tk.id);
    this.saveSoon();
    const change = { added: !held, removed: false, updated: Boolean(held), id: tk.id, ticket: tk };
    this.emit(change);
    return change;
  }

  remove(id, version) {
    const v = num(version);
    const held = this.tasks.get(id);
    if (held && num(held.version) > v) return { added: false, removed: false, updated: false };
    const marker = this.gone.get(id);
    if (!marker || marker.version < v) this.gone.set(id, { version: v, at: Date.now() });
    this.dirty.add(id);
    this.saveSoon();
    if (!held) return { added: false, removed: false, updated: false };
    this.tasks.delete(id);
    const change = { added: false, removed: true, updated: false, id };
    this.emit(change);
    return change;
  }

  /**
   * A complete listing of the squad's open cases, asked for at `askedAt` (ms): tasks missing
   * from it have left the squad unseen (e.g. another member resolved them) and are removed,
   * unless this device learnt of them after the listing was asked for, or `keep(id)` (an action
   * of the member's still waiting to be sent).
   */
  reconcile(tickets, askedAt, keep) {
    const seen = new Set();
    for (const tk of tickets) {
      seen.add(tk.id);
      this.put(tk);
    }
    for (const [id, tk] of [...this.tasks]) {
      if (seen.has(id) || (this.touched.get(id) || 0) >= askedAt || (keep && keep(id))) continue;
      this.remove(id, tk.version);
    }
  }

  setSeq(seq) {
    const s = String(seq);
    if (num(s) <= num(this.seq)) return;
    this.seq = s;
    this.seqDirty = true;
    this.saveSoon();
  }

  /** Writes the changes of the last moments in one transaction (tasks and seq together). */
  saveSoon() {
    if (this.saveTimer || !this.db) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = 0;
      this.saving = this.saving.then(() => this.flush()).catch(() => { /* kept in memory; saved next time */ });
    }, 150);
  }

  async flush() {
    if (!this.db) return;
    const ops = [];
    for (const id of this.dirty) {
      const tk = this.tasks.get(id);
      if (tk) ops.push(['put', 'tasks', { id, ticket: tk }]);
      else if (this.gone.has(id)) ops.push(['put', 'tasks', { id, gone: true, ...this.gone.get(id) }]);
      else ops.push(['delete', 'tasks', id]);
    }
    if (this.seqDirty) ops.push(['put', 'kv', this.seq, 'feedSeq']);
    this.dirty.clear();
    this.seqDirty = false;
    await this.db.batch(ops);
  }

  /** Forgets everything in memory (sign-out); the device's copy stays with its account. */
  clear() {
    clearTimeout(this.saveTimer);
    this.saveTimer = 0;
    this.db = null;
    this.tasks.clear();
    this.gone.clear();
    this.touched.clear();
    this.seq = '';
    this.dirty.clear();
    this.seqDirty = false;
  }
}
