// The HTTP API of gridd: sign-in and token refresh, RPCs in the proto3 JSON mapping, map data,
// photos. Every call sends `Authorization: Bearer <access token>`. Tokens live in sessionStorage
// (one browser tab, gone with it); a page with <meta name="gridd-session" content="local"> (the
// installed squad terminal, which must survive being closed on a phone) keeps them in
// localStorage instead, under a key of its own.

const PERSISTENT = (() => {
  const meta = typeof document !== 'undefined' && document.querySelector('meta[name="gridd-session"]');
  return Boolean(meta && meta.content === 'local');
})();
const SESSION_KEY = PERSISTENT ? 'gridd.session.local' : 'gridd.session';

function sessionStore() {
  return PERSISTENT ? localStorage : sessionStorage;
}

/** An error answered by the server (or a network failure: status 0, code "network"). */
export class ApiError extends Error {
  constructor(status, code, message, field, retryAfter) {
    super(message || code || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code || '';
    this.field = field || '';
    this.retryAfter = retryAfter;
    this.serverMessage = Boolean(message);
  }
}

let session = loadSession();
let refreshTimer = 0;
let refreshing = null;
const expiredListeners = new Set();
const sessionListeners = new Set();

function loadSession() {
  try {
    const raw = sessionStore().getItem(SESSION_KEY);
    if (!raw) return null;
    const s = JSON.parse(raw);
    return s && s.accessToken && s.refreshToken ? s : null;
  } catch {
    return null;
  }
}

function storeSession(s) {
  session = s;
  try {
    if (s) sessionStore().setItem(SESSION_KEY, JSON.stringify(s));
    else sessionStore().removeItem(SESSION_KEY);
  } catch { /* storage unavailable: keep in memory */ }
  for (const fn of sessionListeners) fn(s);
}

// A persistent session is shared by the tabs of one browser: when another tab refreshes the
// tokens (the old refresh token then no longer works) or signs out, this one follows.
if (PERSISTENT && typeof window !== 'undefined') {
  window.addEventListener('storage', (e) => {
    if (e.key !== SESSION_KEY) return;
    const next = loadSession();
    if (next) {
      session = next;
      for (const fn of sessionListeners) fn(next);
      scheduleRefresh();
    } else if (session) {
      clearTimeout(refreshTimer);
      session = null;
      for (const fn of expiredListeners) fn();
    }
  });
}

export function currentSession() {
  return session;
}

export function principal() {
  return session ? session.principal || {} : null;
}

/**
 * Whether the signed-in role may call operation `op` (e.g. "WatchTickets"), as the principal's
 * permissions list it ("WatchTickets (city)"). A session without that list (signed in before
 * the server sent it) is assumed allowed: the server still refuses what it must.
 */
export function can(op) {
  const perms = session && session.principal && session.principal.permissions;
  if (!Array.isArray(perms) || !perms.length) return true;
  return perms.some((p) => p === op || p.startsWith(`${op} `));
}

/** fn() is called when the session can no longer be refreshed (then the app shows sign-in). */
export function onSessionExpired(fn) {
  expiredListeners.add(fn);
}

export function onSessionChange(fn) {
  sessionListeners.add(fn);
}

async function errorFrom(res) {
  let body = null;
  try {
    const text = await res.text();
    body = text ? JSON.parse(text) : null;
  } catch { body = null; }
  const retry = res.headers.get('Retry-After');
  const retryAfter = retry !== null && /^\d+$/.test(retry.trim()) ? Number(retry.trim()) : undefined;
  if (body && typeof body === 'object' && (body.message || body.code)) {
    return new ApiError(res.status, body.code, body.message, body.field, retryAfter);
  }
  return new ApiError(res.status, httpCode(res.status), '', '', retryAfter);
}

function httpCode(status) {
  return {
    400: 'invalid_argument', 401: 'unauthenticated', 403: 'permission_denied', 404: 'not_found',
    409: 'failed_precondition', 429: 'resource_exhausted', 503: 'unavailable',
  }[status] || 'http';
}

function networkError(err) {
  const e = new ApiError(0, 'network', '', '');
  e.cause = err;
  return e;
}

/**
 * fetch() with the failures as ApiErrors: no answer is a network error (status 0; an abort stays
 * the AbortError it is), an answer other than 2xx the server's error. Answers the Response.
 */
async function send(url, init) {
  let res;
  try {
    res = await fetch(url, init);
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw networkError(err);
  }
  if (!res.ok) throw await errorFrom(res);
  return res;
}

async function postJson(path, body, headers = {}, signal) {
  const res = await send(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...headers },
    body: JSON.stringify(body ?? {}),
    signal,
    cache: 'no-store',
    credentials: 'omit',
  });
  const text = await res.text();
  return text ? JSON.parse(text) : {};
}

function accept(answer) {
  const now = Date.now();
  const expires = Date.parse(answer.accessExpiresAt || '');
  storeSession({
    accessToken: answer.accessToken,
    accessExpiresAt: answer.accessExpiresAt || '',
    refreshToken: answer.refreshToken,
    refreshExpiresAt: answer.refreshExpiresAt || '',
    principal: answer.principal || {},
    receivedAt: now,
    // The token's life as this browser measures it (the server's clock may differ).
    lifeMs: Number.isFinite(expires) && expires > now ? expires - now : 0,
  });
  scheduleRefresh();
  return session;
}

/** Refreshes at 2/3 of the access token's life. */
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  if (!session) return;
  const life = session.lifeMs > 0 ? session.lifeMs : 10 * 60 * 1000;
  const due = session.receivedAt + (life * 2) / 3;
  const wait = Math.max(1000, due - Date.now());
  refreshTimer = setTimeout(() => {
    refresh().catch(() => { /* refresh() already reported the expiry */ });
  }, Math.min(wait, 2 ** 31 - 1));
}

export async function signIn(username, password) {
  const answer = await postJson('/v1/auth/sign-in', { username, password });
  return accept(answer);
}

/** Trades the refresh token for new tokens; one refresh at a time. On failure the session ends. */
export function refresh() {
  if (refreshing) return refreshing;
  if (!session) return Promise.reject(new ApiError(401, 'unauthenticated', ''));
  const token = session.refreshToken;
  refreshing = (async () => {
    try {
      const answer = await postJson('/v1/auth/refresh', { refreshToken: token });
      return accept(answer);
    } catch (err) {
      if (err instanceof ApiError && err.status !== 0 && err.status < 500) {
        expire();
      } else {
        // Network trouble or a server error: try again shortly, keep the session.
        clearTimeout(refreshTimer);
        refreshTimer = setTimeout(() => refresh().catch(() => {}), 5000);
      }
      throw err;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

function expire() {
  clearTimeout(refreshTimer);
  storeSession(null);
  for (const fn of expiredListeners) fn();
}

export async function signOut() {
  clearTimeout(refreshTimer);
  const s = session;
  storeSession(null);
  if (s && s.refreshToken) {
    try {
      await postJson('/v1/auth/sign-out', { refreshToken: s.refreshToken });
    } catch { /* the session ends here either way */ }
  }
}

/** Ensures a usable access token on start-up (refreshing a stored one when it is old). */
export async function resume() {
  if (!session) return null;
  const life = session.lifeMs > 0 ? session.lifeMs : 10 * 60 * 1000;
  if (Date.now() - session.receivedAt > (life * 2) / 3) {
    await refresh();
  } else {
    scheduleRefresh();
  }
  return session;
}

export function authHeader() {
  return session ? { Authorization: `Bearer ${session.accessToken}` } : {};
}

/** A call with the bearer token; on 401 refreshes once and repeats. */
export async function authed(doCall) {
  if (!session) throw new ApiError(401, 'unauthenticated', '');
  try {
    return await doCall(authHeader());
  } catch (err) {
    if (err instanceof ApiError && err.status === 401 && session) {
      await refresh();
      return doCall(authHeader());
    }
    throw err;
  }
}

/** POST /v1/rpc/<service>/<method> with the request message; answers the response message. */
export function rpc(service, method, request, signal) {
  return authed((h) => postJson(`/v1/rpc/${service}/${method}`, request || {}, h, signal));
}

export const dispatch = (method, request, signal) => rpc('gridd.v1.DispatchService', method, request, signal);
export const grid = (method, request, signal) => rpc('gridd.v1.GridService', method, request, signal);

/**
 * Every page of a DispatchService listing (`method`, e.g. "ListTickets"; `field`, the list in
 * its answer, e.g. "tickets"), up to `maxPages` pages of `pageSize`. Answers { items, more }
 * (`more`: pages were left after the last one read), or null as soon as `stale()` says the
 * answer is no longer wanted (no further page is asked for then).
 */
export async function dispatchAll(method, request, field, { pageSize, maxPages, stale = () => false }) {
  const items = [];
  let token = '';
  for (let page = 0; page < maxPages; page++) {
    const req = { ...request, page: { pageSize } };
    if (token) req.page.pageToken = token;
    const resp = await dispatch(method, req);
    if (stale()) return null;
    items.push(...((resp && resp[field]) || []));
    token = (resp && resp.nextPageToken) || '';
    if (!token) break;
  }
  return { items, more: Boolean(token) };
}

/** A v4 UUID (an idempotency key, an action's id); crypto.randomUUID exists only on https and localhost pages. */
export function newUuid() {
  if (window.crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  // Pages served over plain http on a LAN address: the same format by hand.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

async function getJson(path, signal) {
  return authed(async (h) => {
    const res = await send(path, { headers: { Accept: 'application/json', ...h }, signal, cache: 'no-store', credentials: 'omit' });
    return res.json();
  });
}

export function mapLayers(signal) {
  return getJson('/v1/map/layers', signal);
}

export function mapCells(bbox, zoom, signal) {
  const b = bbox.map((v) => v.toFixed(6)).join(',');
  return getJson(`/v1/map/cells?bbox=${b}&zoom=${zoom}`, signal);
}

/** Opens a server-sent event stream at `path` (e.g. /v1/watch/tasks); answers the Response
 * (the caller reads its body). */
export async function openStream(path, query, lastEventId, signal) {
  return authed(async (h) => {
    const headers = { Accept: 'text/event-stream', ...h };
    if (lastEventId) headers['Last-Event-ID'] = lastEventId;
    return send(`${path}${query}`, { headers, signal, cache: 'no-store', credentials: 'omit' });
  });
}

/** Opens the ticket stream; answers the Response (the caller reads its body). */
export function openWatch(query, lastEventId, signal) {
  return openStream('/v1/watch/tickets', query, lastEventId, signal);
}

// ---- photos ----------------------------------------------------------------------------------

/**
 * Uploads one photo of a case: POST /v1/tickets/{id}/photos with the image bytes as the body.
 * Answers {id, url: "/v1/photos/<id>", bytes, contentType}; the same bytes give the same id.
 */
export function uploadPhoto(ticketId, blob, signal) {
  return authed(async (h) => {
    const res = await send(`/v1/tickets/${encodeURIComponent(ticketId)}/photos`, {
      method: 'POST',
      headers: { 'Content-Type': blob.type || 'application/octet-stream', Accept: 'application/json', ...h },
      body: blob,
      signal,
      cache: 'no-store',
      credentials: 'omit',
    });
    return res.json();
  });
}

/**
 * The path of a photo stored by this server (`/v1/photos/<id>`, relative or absolute, any host:
 * the same photo is named by the URL its uploader saw), or '' for any other URL.
 */
export function serverPhotoPath(url) {
  let u;
  try { u = new URL(url, location.href); } catch { return ''; }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return '';
  return /^\/v1\/photos\/[^/]+$/.test(u.pathname) ? u.pathname : '';
}

/**
 * Fetches a stored photo with the bearer token (an <img> cannot send it) from this page's own
 * origin; answers a blob: URL the caller revokes when the image is gone.
 */
export function photoObjectUrl(path, signal) {
  return authed(async (h) => {
    const res = await send(path, { headers: { ...h }, signal, credentials: 'omit' });
    return URL.createObjectURL(await res.blob());
  });
}

/**
 * Fetches a file the server makes for download (e.g. the 考核 CSV exports) with the bearer token
 * (a plain link cannot send it). Answers { blob, filename }: the name the server suggests in its
 * Content-Disposition, or '' when it gives none.
 */
export function fetchFile(path, signal) {
  return authed(async (h) => {
    const res = await send(path, { headers: { ...h }, signal, cache: 'no-store', credentials: 'omit' });
    const disposition = res.headers.get('Content-Disposition') || '';
    const m = /filename="?([^";]+)"?/i.exec(disposition);
    return { blob: await res.blob(), filename: m ? m[1].trim() : '' };
  });
}

/**
 * blob: URLs of stored photos (photoObjectUrl), each fetched once and kept until revokeAll();
 * a fetch that failed is forgotten, so that asking again tries again.
 */
export class PhotoCache {
  constructor() {
    this.byPath = new Map(); // server path -> Promise<blob url>
  }

  get(path) {
    let p = this.byPath.get(path);
    if (!p) {
      p = photoObjectUrl(path);
      this.byPath.set(path, p);
      p.catch(() => { if (this.byPath.get(path) === p) this.byPath.delete(path); });
    }
    return p;
  }

  revokeAll() {
    for (const p of this.byPath.values()) p.then((u) => URL.revokeObjectURL(u), () => {});
    this.byPath.clear();
  }
}
