// The member's actions (accept, start, resolve, return) go through a queue kept on the device,
// online or not: each is stored first (with its photos as Blobs), then sent in order when the
// network allows, so an action taken in a basement or a lift is never lost.
//
// Each action carries a client-chosen actionId: if the answer is lost and the action is sent
// again, the server recognises it and changes nothing, so every action is applied once. Each
// carries the version of the task the member saw (expectedVersion): when the centre changed
// the task meanwhile, the server refuses it rather than act on a task the member has not seen.
// Actions on one task are sent one after the other; once one is applied, the next ones expect
// the version it produced (the member saw their own action's result).
//
// A refusal (the centre changed the task, re-assigned it to another squad, or its state no
// longer allows the action) is shown to the member in the conflict list until dismissed — never
// dropped silently. A network failure or a server error keeps the action queued and retries.

import * as api from '../api.js';
import { errorText } from '../dom.js';

export const COMMANDS = { accept: 'AcceptTask', start: 'StartTask', resolve: 'ResolveTask', return: 'ReturnTask' };

// The squad's part of the case's state machine, to show what a queued action will do before
// the server has seen it (optimistic display) and which action may follow it offline.
const TRANSITIONS = {
  accept: { from: ['TICKET_STATE_DISPATCHED', 'TICKET_STATE_REWORK'], to: 'TICKET_STATE_ACCEPTED' },
  start: { from: ['TICKET_STATE_ACCEPTED'], to: 'TICKET_STATE_IN_PROGRESS' },
  resolve: { from: ['TICKET_STATE_IN_PROGRESS'], to: 'TICKET_STATE_CHECKING' },
  return: { from: ['TICKET_STATE_DISPATCHED', 'TICKET_STATE_ACCEPTED', 'TICKET_STATE_IN_PROGRESS'], to: 'TICKET_STATE_RETURNED' },
};

/** The state a task will be in once `pending` (its queued actions, in order) are applied. */
export function stateAfter(state, pending) {
  let s = state;
  for (const item of pending) {
    const tr = TRANSITIONS[item.action];
    if (tr && tr.from.includes(s)) s = tr.to;
  }
  return s;
}

/** The squad actions the state machine admits in `state`, among those the role may take. */
export function actionsIn(state, permitted) {
  return Object.keys(TRANSITIONS).filter((a) => TRANSITIONS[a].from.includes(state) && (!permitted || permitted.has(a)));
}

const RETRY_MIN_MS = 3000;
const RETRY_MAX_MS = 60000;
const PERIODIC_MS = 30000;

/** True when an error means "try again later" rather than "the server refused this". */
function retryable(err) {
  if (!(err instanceof api.ApiError)) return true;
  if (err.status === 0) return err.code === 'network' || err.code === 'unknown';
  return err.status >= 500 || err.status === 429 || err.status === 408;
}

export class Outbox {
  /**
   * opts.onApplied(ticket, item)  an action was applied (the answer is the task as it is now)
   * opts.onRefused(item, err)     an action was refused (the app refreshes the task)
   * opts.onChange()               the queue, the conflicts or the sending state changed
   * opts.onAuthLost()             the session ended while sending (the queue is kept)
   */
  constructor(opts) {
    this.opts = opts;
    this.db = null;
    this.items = [];
    this.conflicts = [];
    this.watchers = new Map();
    this.flushing = null;
    this.again = false;
    this.active = false;
    this.retryTimer = 0;
    this.periodic = 0;
    this.backoff = RETRY_MIN_MS;
    this.sending = null; // the item being sent
    this.lastError = null;
    this.onOnline = () => { this.backoff = RETRY_MIN_MS; this.flush(); };
  }

  async load(db) {
    this.db = db;
    this.items = (await db.all('outbox')).sort((a, b) => a.n - b.n);
    this.conflicts = (await db.all('conflicts')).sort((a, b) => a.n - b.n);
    this.changed();
  }

  /** Starts sending: now, whenever the browser is back online, and every half minute. */
  start() {
    this.active = true;
    window.addEventListener('online', this.onOnline);
    clearInterval(this.periodic);
    this.periodic = setInterval(() => { if (this.items.length) this.flush(); }, PERIODIC_MS);
    this.flush();
  }

  stop() {
    this.active = false;
    window.removeEventListener('online', this.onOnline);
    clearInterval(this.periodic);
    clearTimeout(this.retryTimer);
    this.db = null;
    this.items = [];
    this.conflicts = [];
    this.watchers.clear();
    this.sending = null;
    this.lastError = null;
  }

  changed() {
    if (this.opts.onChange) this.opts.onChange();
  }

  count() {
    return this.items.length;
  }

  /** The queued actions of one task, in order. */
  pendingFor(ticketId) {
    return this.items.filter((i) => i.ticketId === ticketId);
  }

  /**
   * Stores an action and starts sending. `photos` are Blobs (already reduced). Answers the
   * stored item (its actionId identifies it to watch()).
   */
  async enqueue({ ticketId, action, expectedVersion, note, reason, photos, category }) {
    const item = {
      actionId: api.newUuid(),
      ticketId,
      action,
      expectedVersion: expectedVersion ? String(expectedVersion) : '',
      note: note || '',
      reason: reason || '',
      photos: photos || [],
      uploaded: [],
      category: category || '',
      queuedAt: Date.now(),
      attempts: 0,
      lastError: '',
    };
    item.n = await this.db.put('outbox', item);
    this.items.push(item);
    this.changed();
    this.flush();
    return item;
  }

  /**
   * Calls fn({ status: 'applied', ticket } | { status: 'refused', err } | { status: 'retry', err })
   * for the action `actionId`. On a refusal, fn answering true means the member saw it where
   * they took the action (the form shows the server's message), so it is not listed again.
   */
  watch(actionId, fn) {
    this.watchers.set(actionId, fn);
    return () => { if (this.watchers.get(actionId) === fn) this.watchers.delete(actionId); };
  }

  tell(item, outcome) {
    const fn = this.watchers.get(item.actionId);
    if (!fn) return false;
    try {
      return fn(outcome) === true;
    } catch {
      return false;
    }
  }

  /** Sends what is queued, one at a time; calls made meanwhile run it once more afterwards. */
  flush() {
    if (!this.active || !this.db) return Promise.resolve();
    if (this.flushing) {
      this.again = true;
      return this.flushing;
    }
    clearTimeout(this.retryTimer);
    this.flushing = (async () => {
      do {
        this.again = false;
        await this.drain();
      } while (this.again && this.active);
    })().finally(() => {
      this.flushing = null;
      this.sending = null;
      this.changed();
    });
    return this.flushing;
  }

  async drain() {
    while (this.active && this.items.length) {
      // The browser knows it has no network: wait for its `online` event (no doomed request).
      if (navigator.onLine === false) return;
      const item = this.items[0];
      this.sending = item;
      this.changed();
      let ticket;
      try {
        ticket = await this.send(item);
      } catch (err) {
        if (!this.active) return;
        if (err instanceof api.ApiError && err.status === 401) {
          // The session ended (authed() already tried a refresh): keep everything for later.
          if (this.opts.onAuthLost) this.opts.onAuthLost();
          return;
        }
        if (retryable(err)) {
          await this.keepForRetry(item, err);
          return;
        }
        await this.refuse(item, err);
        continue;
      }
      if (!this.active) return;
      await this.applied(item, ticket);
    }
    this.backoff = RETRY_MIN_MS;
    this.lastError = null;
  }

  /** One action: photos first (each upload names the photo by its bytes, so a repeat is
   * harmless), then the command with the action's id. */
  async send(item) {
    const task = { ticketId: item.ticketId, actionId: item.actionId };
    if (item.expectedVersion) task.expectedVersion = item.expectedVersion;
    const squad = (method, body) => api.rpc('gridd.v1.SquadService', method, body);
    switch (item.action) {
      case 'accept': return squad('AcceptTask', task);
      case 'start': return squad('StartTask', task);
      case 'return': return squad('ReturnTask', { task, reason: item.reason });
      case 'resolve': {
        const urls = await this.uploadPhotos(item);
        return squad('ResolveTask', { task, note: item.note, photoUrls: urls.map((u) => new URL(u, location.origin).href) });
      }
      default: throw new api.ApiError(400, 'invalid_argument', `unknown action ${item.action}`);
    }
  }

  async uploadPhotos(item) {
    for (let i = 0; i < item.photos.length; i++) {
      if (item.uploaded[i]) continue;
      let answer;
      try {
        answer = await api.uploadPhoto(item.ticketId, item.photos[i]);
      } catch (err) {
        if (err instanceof api.ApiError) err.photo = true;
        throw err;
      }
      item.uploaded[i] = answer.url;
      // Kept at once: a retry after a lost connection does not send the bytes again.
      await this.db.put('outbox', item);
    }
    return item.uploaded.slice(0, item.photos.length);
  }

  async applied(item, ticket) {
    this.items = this.items.filter((i) => i !== item);
    const ops = [['delete', 'outbox', item.n]];
    // The next actions on this task follow the member's own: they expect the version it made.
    if (ticket && ticket.version) {
      for (const next of this.items) {
        if (next.ticketId !== item.ticketId) continue;
        next.expectedVersion = String(ticket.version);
        ops.push(['put', 'outbox', next]);
      }
    }
    await this.db.batch(ops);
    this.backoff = RETRY_MIN_MS;
    if (this.opts.onApplied) this.opts.onApplied(ticket, item);
    this.tell(item, { status: 'applied', ticket });
    this.changed();
  }

  async keepForRetry(item, err) {
    item.attempts += 1;
    item.lastError = errorText(err);
    this.lastError = item.lastError;
    await this.db.put('outbox', item).catch(() => {});
    this.tell(item, { status: 'retry', err });
    clearTimeout(this.retryTimer);
    const wait = err.retryAfter ? err.retryAfter * 1000 : this.backoff;
    this.backoff = Math.min(this.backoff * 2, RETRY_MAX_MS);
    this.retryTimer = setTimeout(() => this.flush(), wait);
  }

  /** A refusal: this action, and the later ones of the same task (they followed it), become
   * conflicts the member sees; the task is fetched again by the app. */
  async refuse(item, err) {
    const later = this.items.filter((i) => i !== item && i.ticketId === item.ticketId);
    this.items = this.items.filter((i) => i.ticketId !== item.ticketId);
    const seen = this.tell(item, { status: 'refused', err });
    const ops = [['delete', 'outbox', item.n], ...later.map((i) => ['delete', 'outbox', i.n])];
    const records = [];
    if (!seen) records.push(conflictOf(item, err, false));
    for (const i of later) records.push(conflictOf(i, err, true));
    await this.db.batch(ops);
    for (const r of records) {
      r.n = await this.db.put('conflicts', r);
      this.conflicts.push(r);
    }
    if (this.opts.onRefused) this.opts.onRefused(item, err);
    this.changed();
  }

  async dismiss(n) {
    this.conflicts = this.conflicts.filter((c) => c.n !== n);
    if (this.db) await this.db.delete('conflicts', n);
    this.changed();
  }
}

/** What the member is told of a refused action (the server's own message kept as it is). */
function conflictOf(item, err, blocked) {
  return {
    actionId: item.actionId,
    ticketId: item.ticketId,
    action: item.action,
    category: item.category,
    note: item.note || item.reason || '',
    photos: item.photos.length,
    queuedAt: item.queuedAt,
    refusedAt: Date.now(),
    blocked,
    photo: Boolean(err && err.photo),
    code: (err && err.code) || '',
    status: (err && err.status) || 0,
    message: err && err.serverMessage ? err.message : errorText(err),
  };
}
