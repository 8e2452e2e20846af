// The live ticket stream: GET /v1/watch/tickets read with fetch() (EventSource cannot send the
// Authorization header), parsed as server-sent events, resumed from the last id with backoff.

import { openWatch, ApiError } from './api.js';

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
 * Keeps a ticket stream open. Options:
 *   onTicketEvent(event)  each TicketEvent
 *   onStatus(up: boolean) connected / down (reconnecting)
 *   onResync()            reconnected without a known position (the caller reloads its state)
 *   onAuthLost(err)       the session ended
 */
export class TicketStream {
  constructor(opts) {
    this.opts = opts;
    this.lastId = null;
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
    const query = resuming ? `?after=${encodeURIComponent(this.lastId)}` : '?tail=1';
    let gotData = false;
    try {
      const res = await openWatch(query, resuming ? this.lastId : null, controller.signal);
      if (this.stopped || controller.signal.aborted) return;
      this.setStatus(true);
      if (this.connectedOnce && !resuming && this.opts.onResync) this.opts.onResync();
      this.connectedOnce = true;
      this.backoff = 1000;
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      const parser = new SseParser((ev) => {
        if (ev.id !== null && ev.id !== '') this.lastId = ev.id;
        if (ev.event !== 'ticket' || !ev.data) return;
        let msg;
        try { msg = JSON.parse(ev.data); } catch { return; }
        try { this.opts.onTicketEvent(msg); } catch (err) { reportQuietly(err); }
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

function reportQuietly(err) {
  // A bug in a handler must not kill the stream; keep it visible without a console error.
  if (window.__gridd) (window.__gridd.handlerErrors ||= []).push(String(err && err.stack || err));
}
