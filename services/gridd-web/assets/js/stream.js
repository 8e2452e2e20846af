// Live streams of server-sent events read with fetch() (EventSource cannot send the
// Authorization header): the ticket stream GET /v1/watch/tickets (the dashboard) and the squad's
// task feed GET /v1/watch/tasks (the terminal), resumed from the last id with backoff.

import { openStream, ApiError } from './api.js';

const WATCHDOG_MS = 45000; // keep-alive comments come every 15 s

/** Splits a text/event-stream into events. feed(text) calls onEvent({id, event, data}). */
export class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = '';
    this.reset();
  }

  reset() {
    this.data = [];
    this.event = '';
    this.id = null;
  }

  feed(text) {
    this.buffer += text;
    let start = 0;
    for (;;) {
      let nl = -1;
      let skip = 1;
      for (let i = start; i < this.buffer.length; i++) {
        const c = this.buffer.charCodeAt(i);
        if (c === 10) { nl = i; break; }
        if (c === 13) {
          if (i + 1 >= this.buffer.length) { nl = -2; break; } // wait: \r\n may be split
          nl = i;
          skip = this.buffer.charCodeAt(i + 1) === 10 ? 2 : 1;
          break;
        }
      }
      if (nl < 0) break;
      this.line(this.buffer.slice(start, nl));
      start = nl + skip;
    }
    this.buffer = this.buffer.slice(start);
  }

  line(line) {
    if (line === '') {
      if (this.data.length || this.id !== null) {
        this.onEvent({ id: this.id, event: this.event || 'message', data: this.data.join('\n') });
      }
      this.reset();
      return;
    }
    if (line.charCodeAt(0) === 58) return; // ':' comment (keep-alive)
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id') { if (!value.includes('\0')) this.id = value; }
  }
}

/**
 * Keeps a stream open. Options:
 *   onTicketEvent(event)  each event's JSON data (a TicketEvent, or a TaskEvent on the task feed)
 *   onStatus(up: boolean) connected / down (reconnecting)
 *   onResync()            reconnected without a known position (the caller reloads its state)
 *   onAuthLost(err)       the session ended
 *   onPosition(id)        the id of each event, once its handler ran (to keep it on the device)
 *   onRefused(err)        the server refused the stream (the caller shows why; retries go on)
 *   path                  default /v1/watch/tickets
 *   eventName             the events handled, default 'ticket'
 *   lastId                resume after this id from the start (a position kept on the device)
 *   startQuery            the query without a position, default '?tail=1' (from now on)
 */
export class TicketStream {
  constructor(opts) {
    this.opts = opts;
    this.path = opts.path || '/v1/watch/tickets';
    this.eventName = opts.eventName || 'ticket';
    this.lastId = opts.lastId === undefined || opts.lastId === '' ? null : opts.lastId;
    this.stopped = true;
    this.controller = null;
    this.backoff = 1000;
    this.timer = 0;
    this.watchdog = 0;
    this.up = null;
    this.connectedOnce = false;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.watchdog);
    if (this.controller) this.controller.abort();
    this.controller = null;
  }

  setStatus(up) {
    if (this.up === up) return;
    this.up = up;
    if (this.opts.onStatus) this.opts.onStatus(up);
  }

  async connect() {
    if (this.stopped) return;
    const controller = new AbortController();
    this.controller = controller;
    const resuming = this.lastId !== null;
    const query = resuming ? `?after=${encodeURIComponent(this.lastId)}` : (this.opts.startQuery ?? '?tail=1');
    let gotData = false;
    try {
      const res = await openStream(this.path, query, resuming ? this.lastId : null, controller.signal);
      if (this.stopped || controller.signal.aborted) return;
      this.setStatus(true);
      if (this.connectedOnce && !resuming && this.opts.onResync) this.opts.onResync();
      this.connectedOnce = true;
      this.backoff = 1000;
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      const parser = new SseParser((ev) => {
        if (ev.event === 'error') {
          if (this.opts.onRefused) this.opts.onRefused(refusedBy(ev.data));
          return;
        }
        if (ev.id !== null && ev.id !== '') this.lastId = ev.id;
        if (ev.event !== this.eventName || !ev.data) return;
        let msg;
        try { msg = JSON.parse(ev.data); } catch { return; }
        try { this.opts.onTicketEvent(msg); } catch (err) { reportQuietly(err); }
        if (this.opts.onPosition && ev.id) this.opts.onPosition(ev.id);
      });
      this.arm(controller);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        gotData = true;
        this.arm(controller);
        parser.feed(decoder.decode(value, { stream: true }));
      }
    } catch (err) {
      if (this.stopped) return;
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        // authed() already tried a refresh; the session is over (or the role may not watch).
        if (err.status === 401) {
          this.stop();
          if (this.opts.onAuthLost) this.opts.onAuthLost(err);
          return;
        }
        if (this.opts.onRefused) this.opts.onRefused(err);
      }
    } finally {
      clearTimeout(this.watchdog);
    }
    if (this.stopped) return;
    this.setStatus(false);
    const wait = gotData ? 1000 : this.backoff;
    this.backoff = Math.min(this.backoff * 2, 10000);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), wait);
  }

  arm(controller) {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => controller.abort(), WATCHDOG_MS);
  }
}

/** The ApiError of an `error` event's data ({code, message}). */
function refusedBy(data) {
  let body = null;
  try { body = JSON.parse(data); } catch { body = null; }
  return new ApiError(0, (body && body.code) || 'unknown', (body && body.message) || String(data || ''), '');
}

function reportQuietly(err) {
  // A bug in a handler must not kill the stream; keep it visible without a console error.
  if (window.__gridd) (window.__gridd.handlerErrors ||= []).push(String(err && err.stack || err));
}
