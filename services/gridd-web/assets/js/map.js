// The live map on a <canvas>: city outline, street and community boundaries, unit-grid cells
// coloured by the worst warning light of their open cases, street labels, and case markers
// clustered in screen space. Equirectangular projection scaled by cos(latitude), in metres.

import * as api from './api.js';
import { lightRank, RANK_NAME } from './store.js';
import { debounce } from './dom.js';
import { t } from './i18n.js';

const M_PER_DEG_LAT = 110574;
const M_PER_DEG_LON = 111320;
const CLUSTER_PX = 46;
const MIN_SCALE_FACTOR = 0.5; // relative to the whole-city fit
const MAX_SCALE = 4; // px per metre (a 100 m cell is 400 px)

const PALETTES = {
  light: {
    outside: '#e4e9ee',
    land: '#fbfcfd',
    cellStroke: [118, 128, 140],
    community: 'rgba(96, 112, 128, 0.55)',
    street: '#4a5a6b',
    boundary: '#16324f',
    label: '#1d2b38',
    halo: 'rgba(255,255,255,0.92)',
    fill: { 1: 'rgba(46,160,67,0.32)', 2: 'rgba(227,160,8,0.45)', 3: 'rgba(222,45,38,0.50)' },
    marker: { 0: '#6b7785', 1: '#2ea043', 2: '#d99800', 3: '#d93025' },
    markerStroke: '#ffffff',
    selected: '#0b63ce',
  },
  dark: {
    outside: '#03060a',
    land: '#0d1520',
    cellStroke: [110, 132, 156],
    community: 'rgba(120, 150, 180, 0.5)',
    street: '#8fb2d6',
    boundary: '#cfe4ff',
    label: '#f2f7fc',
    halo: 'rgba(0,0,0,0.85)',
    fill: { 1: 'rgba(46,200,90,0.40)', 2: 'rgba(255,190,20,0.55)', 3: 'rgba(255,60,50,0.62)' },
    marker: { 0: '#8896a5', 1: '#35d46a', 2: '#ffc21a', 3: '#ff4d45' },
    markerStroke: '#000000',
    selected: '#58a6ff',
  },
};

export class CityMap {
  constructor(canvas, opts) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.opts = opts; // { store, onCellClick(info), onMarkerClick(ticket), onCellsState(state), onFirstFullRender(ms), drawOverlay(ctx, map) }
    this.palette = PALETTES.light;
    this.layers = null;
    this.cells = [];
    this.cellsByCode = new Map();
    this.cellsMeta = { simplified: false, total: 0 };
    this.fetched = null; // { bbox, zoom }
    this.view = { cx: 0, cy: 0, scale: 0.02 };
    this.fitScale = 0.02;
    this.width = 0;
    this.height = 0;
    this.dpr = 1;
    this.frame = 0;
    this.targets = [];
    this.selectedCell = null;
    this.selectedTicket = null;
    this.firstFullRenderDone = false;
    this.pendingBuildMs = 0;
    this.cellsController = null;
    this.loadCellsSoon = debounce(() => this.loadCells(), 250);
    this.bindEvents();
  }

  /** Forgets the cells and the first-render measurement (a new session starts). */
  reset() {
    if (this.cellsController) this.cellsController.abort();
    this.cellsController = null;
    this.loadCellsSoon.cancel();
    this.fetched = null;
    this.cells = [];
    this.cellsByCode = new Map();
    this.outlines = [];
    this.firstFullRenderDone = false;
    this.selectedCell = null;
    this.selectedTicket = null;
  }

  setTheme(dark) {
    this.palette = dark ? PALETTES.dark : PALETTES.light;
    this.requestRender();
  }

  // ---- projection -------------------------------------------------------------------------

  project(lon, lat) {
    return [(lon - this.lon0) * this.kx, -(lat - this.lat0) * M_PER_DEG_LAT];
  }

  unproject(x, y) {
    return [x / this.kx + this.lon0, -y / M_PER_DEG_LAT + this.lat0];
  }

  toScreen(x, y) {
    const v = this.view;
    return [(x - v.cx) * v.scale + this.width / 2, (y - v.cy) * v.scale + this.height / 2];
  }

  toWorld(sx, sy) {
    const v = this.view;
    return [(sx - this.width / 2) / v.scale + v.cx, (sy - this.height / 2) / v.scale + v.cy];
  }

  /** The zoom the server's /v1/map/cells takes: CSS pixels per degree of longitude. */
  zoomLevel() {
    return Math.round(this.view.scale * this.kx * 10) / 10;
  }

  viewBbox(pad = 0) {
    const [x0, y0] = this.toWorld(-this.width * pad, -this.height * pad);
    const [x1, y1] = this.toWorld(this.width * (1 + pad), this.height * (1 + pad));
    const [lonA, latA] = this.unproject(x0, y0);
    const [lonB, latB] = this.unproject(x1, y1);
    return [Math.min(lonA, lonB), Math.min(latA, latB), Math.max(lonA, lonB), Math.max(latA, latB)];
  }

  // ---- data -------------------------------------------------------------------------------

  /** True if the server sent nothing to draw. */
  isEmpty() {
    return !this.hasShapes && !this.cells.length;
  }

  setLayers(layers) {
    this.hasShapes = ['boundary', 'streets', 'communities'].some((k) => Array.isArray(layers[k]) && layers[k].length > 0);
    const bbox = Array.isArray(layers.bbox) && layers.bbox.length === 4 ? layers.bbox.map(Number) : null;
    this.bbox = bbox || [118.0, 34.0, 118.7, 34.7];
    this.lon0 = (this.bbox[0] + this.bbox[2]) / 2;
    this.lat0 = (this.bbox[1] + this.bbox[3]) / 2;
    this.kx = M_PER_DEG_LON * Math.cos((this.lat0 * Math.PI) / 180);
    // The server may send boundaries as short segments (one per cell edge): join them into
    // polylines first, so the outline can be filled and lines get proper joins.
    const toPath = (lines, fillable) => {
      const p = new Path2D();
      for (const line of chainLines(lines || [])) {
        if (line.length < 4) continue;
        for (let i = 0; i + 1 < line.length; i += 2) {
          const [x, y] = this.project(Number(line[i]), Number(line[i + 1]));
          if (i === 0) p.moveTo(x, y);
          else p.lineTo(x, y);
        }
        const n = line.length;
        if (fillable && line[0] === line[n - 2] && line[1] === line[n - 1]) p.closePath();
      }
      return p;
    };
    this.layers = {
      boundary: toPath(layers.boundary, true),
      streets: toPath(layers.streets, false),
      communities: toPath(layers.communities, false),
      labels: (layers.streetLabels || []).map((l) => ({ name: l.name || l.code || '', xy: this.project(Number(l.lon), Number(l.lat)) })),
    };
    this.resize();
    this.fit();
  }

  fit() {
    if (!this.bbox || !this.width) return;
    const [x0, y0] = this.project(this.bbox[0], this.bbox[3]);
    const [x1, y1] = this.project(this.bbox[2], this.bbox[1]);
    const scale = Math.min(this.width / (x1 - x0), this.height / (y1 - y0)) * 0.94;
    this.fitScale = scale;
    this.view = { cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, scale };
    this.viewChanged();
  }

  async loadCells() {
    if (!this.layers || !this.width) return;
    const zoom = this.zoomLevel();
    const want = this.viewBbox(0);
    const f = this.fetched;
    // Cells already here cover the view: detailed ones serve every zoom, simplified ones until
    // the view is zoomed in well past the pixel size they were simplified for.
    if (f && contains(f.bbox, want) && (!f.simplified || zoom / f.zoom < 1.6)) return;
    const bbox = this.viewBbox(0.25);
    if (this.cellsController) this.cellsController.abort();
    const controller = new AbortController();
    this.cellsController = controller;
    this.opts.onCellsState?.({ loading: true });
    try {
      const resp = await api.mapCells(bbox, zoom, controller.signal);
      if (controller.signal.aborted) return;
      const t0 = performance.now();
      this.setCells(resp);
      this.fetched = { bbox, zoom, simplified: Boolean(resp.simplified) };
      this.pendingBuildMs = performance.now() - t0;
      this.opts.onCellsState?.({ loading: false, shown: this.cells.length, total: Number(resp.total) || this.cells.length, simplified: Boolean(resp.simplified) });
      this.renderNow();
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      this.opts.onCellsState?.({ loading: false, error: err, retry: () => { this.fetched = null; this.loadCells(); } });
    } finally {
      if (this.cellsController === controller) this.cellsController = null;
    }
  }

  setCells(resp) {
    const cells = [];
    const byCode = new Map();
    const groups = [{ path: new Path2D(), sizes: [] }, { path: new Path2D(), sizes: [] }];
    for (const c of resp.cells || []) {
      const ring = c.ring || [];
      if (ring.length < 6) continue;
      const pts = new Float64Array(ring.length);
      const path = new Path2D();
      let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
      for (let i = 0; i + 1 < ring.length; i += 2) {
        const [x, y] = this.project(Number(ring[i]), Number(ring[i + 1]));
        pts[i] = x;
        pts[i + 1] = y;
        if (i === 0) path.moveTo(x, y);
        else path.lineTo(x, y);
        if (x < minX) minX = x;
        if (x > maxX) maxX = x;
        if (y < minY) minY = y;
        if (y > maxY) maxY = y;
      }
      path.closePath();
      const size = Math.max(maxX - minX, maxY - minY);
      const group = groups[size < 250 ? 0 : 1];
      group.path.addPath(path);
      group.sizes.push(size);
      const cell = { code: c.code, street: c.street || '', community: c.community || '', pts, path, bbox: [minX, minY, maxX, maxY], size };
      cells.push(cell);
      byCode.set(c.code, cell);
    }
    this.cells = cells;
    this.cellsByCode = byCode;
    this.outlines = groups.filter((g) => g.sizes.length).map((g) => ({ path: g.path, size: median(g.sizes) }));
    this.cellsMeta = { simplified: Boolean(resp.simplified), total: Number(resp.total) || cells.length };
  }

  cellAt(x, y) {
    for (const c of this.cells) {
      const b = c.bbox;
      if (x < b[0] || x > b[2] || y < b[1] || y > b[3]) continue;
      if (pointInRing(c.pts, x, y)) return c;
    }
    return null;
  }

  // ---- view changes -------------------------------------------------------------------------

  viewChanged() {
    this.requestRender();
    this.loadCellsSoon();
  }

  zoomAt(factor, sx, sy) {
    const v = this.view;
    const min = this.fitScale * MIN_SCALE_FACTOR;
    const next = Math.max(min, Math.min(MAX_SCALE, v.scale * factor));
    if (next === v.scale) return;
    const [wx, wy] = this.toWorld(sx, sy);
    v.scale = next;
    // keep (wx, wy) under the cursor
    v.cx = wx - (sx - this.width / 2) / next;
    v.cy = wy - (sy - this.height / 2) / next;
    this.viewChanged();
  }

  panBy(dx, dy) {
    this.view.cx -= dx / this.view.scale;
    this.view.cy -= dy / this.view.scale;
    this.viewChanged();
  }

  centreOn(lon, lat, minScale) {
    const [x, y] = this.project(lon, lat);
    this.view.cx = x;
    this.view.cy = y;
    if (minScale && this.view.scale < minScale) this.view.scale = Math.min(MAX_SCALE, minScale);
    this.viewChanged();
  }

  select(cellCode, ticket) {
    this.selectedCell = cellCode || null;
    this.selectedTicket = ticket || null;
    this.requestRender();
  }

  resize() {
    const rect = this.canvas.parentElement.getBoundingClientRect();
    const w = Math.max(1, Math.floor(rect.width));
    const hgt = Math.max(1, Math.floor(rect.height));
    const dpr = window.devicePixelRatio || 1;
    if (w === this.width && hgt === this.height && dpr === this.dpr) return false;
    const first = !this.width;
    this.width = w;
    this.height = hgt;
    this.dpr = dpr;
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(hgt * dpr);
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${hgt}px`;
    if (!first && this.layers) {
      const [x0, y0] = this.project(this.bbox[0], this.bbox[3]);
      const [x1, y1] = this.project(this.bbox[2], this.bbox[1]);
      this.fitScale = Math.min(w / (x1 - x0), hgt / (y1 - y0)) * 0.94;
    }
    this.viewChanged();
    return true;
  }

  // ---- events -------------------------------------------------------------------------------

  bindEvents() {
    const c = this.canvas;
    let drag = null;
    c.addEventListener('pointerdown', (e) => {
      if (e.button !== 0) return;
      drag = { id: e.pointerId, x: e.clientX, y: e.clientY, moved: false };
      try { c.setPointerCapture(e.pointerId); } catch { /* ignore */ }
    });
    c.addEventListener('pointermove', (e) => {
      if (drag && drag.id === e.pointerId) {
        const dx = e.clientX - drag.x;
        const dy = e.clientY - drag.y;
        if (!drag.moved && Math.hypot(dx, dy) < 4) return;
        drag.moved = true;
        c.classList.add('dragging');
        drag.x = e.clientX;
        drag.y = e.clientY;
        this.panBy(dx, dy);
        return;
      }
      const rect = c.getBoundingClientRect();
      const hit = this.targetAt(e.clientX - rect.left, e.clientY - rect.top);
      c.classList.toggle('pointer', Boolean(hit));
      const tip = hit ? (hit.tickets.length === 1 ? `${hit.tickets[0].id} ${hit.tickets[0].categoryName || ''}` : t('map.openCases', { n: hit.tickets.length })) : '';
      if (c.title !== tip) c.title = tip;
    });
    const end = (e) => {
      if (!drag || drag.id !== e.pointerId) return;
      const wasClick = !drag.moved && e.type === 'pointerup';
      drag = null;
      c.classList.remove('dragging');
      if (wasClick) {
        const rect = c.getBoundingClientRect();
        this.click(e.clientX - rect.left, e.clientY - rect.top);
      }
    };
    c.addEventListener('pointerup', end);
    c.addEventListener('pointercancel', end);
    c.addEventListener('wheel', (e) => {
      e.preventDefault();
      const rect = c.getBoundingClientRect();
      const delta = e.deltaMode === 1 ? e.deltaY * 33 : e.deltaY;
      this.zoomAt(Math.exp(-delta * 0.0015), e.clientX - rect.left, e.clientY - rect.top);
    }, { passive: false });
    c.addEventListener('keydown', (e) => {
      if (e.altKey || e.ctrlKey || e.metaKey) return;
      const step = 80;
      const cx = this.width / 2;
      const cy = this.height / 2;
      switch (e.key) {
        case 'ArrowLeft': this.panBy(step, 0); break;
        case 'ArrowRight': this.panBy(-step, 0); break;
        case 'ArrowUp': this.panBy(0, step); break;
        case 'ArrowDown': this.panBy(0, -step); break;
        case '+': case '=': this.zoomAt(1.5, cx, cy); break;
        case '-': case '_': this.zoomAt(1 / 1.5, cx, cy); break;
        case '0': this.fit(); break;
        case 'Enter': case ' ': this.click(cx, cy); break;
        default: return;
      }
      e.preventDefault();
    });
    if (typeof ResizeObserver !== 'undefined') {
      new ResizeObserver(() => { if (this.layers) this.resize(); }).observe(c.parentElement);
    } else {
      window.addEventListener('resize', () => { if (this.layers) this.resize(); });
    }
  }

  targetAt(sx, sy) {
    for (let i = this.targets.length - 1; i >= 0; i--) {
      const tg = this.targets[i];
      if (Math.hypot(sx - tg.x, sy - tg.y) <= tg.r + 3) return tg;
    }
    return null;
  }

  click(sx, sy) {
    const tg = this.targetAt(sx, sy);
    if (tg) {
      if (tg.tickets.length === 1) {
        this.opts.onMarkerClick?.(tg.tickets[0]);
        return;
      }
      if (this.view.scale < MAX_SCALE * 0.99 && tg.spread > 2) {
        this.zoomAt(2.5, tg.x, tg.y);
        return;
      }
    }
    const [wx, wy] = this.toWorld(sx, sy);
    const [lon, lat] = this.unproject(wx, wy);
    const cell = this.cellAt(wx, wy);
    this.opts.onCellClick?.({ lon, lat, cell, tickets: tg ? tg.tickets : null });
  }

  // ---- drawing ------------------------------------------------------------------------------

  requestRender() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  renderNow() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.render();
  }

  render() {
    if (!this.layers || !this.width) return;
    const t0 = performance.now();
    const ctx = this.ctx;
    const p = this.palette;
    const v = this.view;
    const dpr = this.dpr;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = p.outside;
    ctx.fillRect(0, 0, this.width, this.height);

    // world transform
    const s = v.scale;
    ctx.setTransform(dpr * s, 0, 0, dpr * s, dpr * (this.width / 2 - v.cx * s), dpr * (this.height / 2 - v.cy * s));
    ctx.lineJoin = 'round';
    ctx.fillStyle = p.land;
    ctx.fill(this.layers.boundary, 'evenodd');

    const store = this.opts.store;
    const derived = store ? store.derive() : null;
    if (this.cells.length) {
      // fills by worst light of the cell's open cases
      if (derived) {
        for (const [code, rank] of derived.cellWorst) {
          if (!rank) continue;
          const cell = this.cellsByCode.get(code);
          if (!cell) continue;
          ctx.fillStyle = p.fill[rank];
          ctx.fill(cell.path);
        }
      }
      // outlines: fade out when cells get tiny on screen
      const [r, g, b] = p.cellStroke;
      ctx.lineWidth = 0.7 / s;
      for (const o of this.outlines) {
        const alpha = Math.max(0.1, Math.min(0.85, (o.size * s - 2) / 14));
        ctx.strokeStyle = `rgba(${r},${g},${b},${alpha.toFixed(3)})`;
        ctx.stroke(o.path);
      }
    }
    ctx.strokeStyle = p.community;
    ctx.lineWidth = 1 / s;
    ctx.stroke(this.layers.communities);
    ctx.strokeStyle = p.street;
    ctx.lineWidth = 2.2 / s;
    ctx.stroke(this.layers.streets);
    ctx.strokeStyle = p.boundary;
    ctx.lineWidth = 3 / s;
    ctx.stroke(this.layers.boundary);

    if (this.selectedCell) {
      const cell = this.cellsByCode.get(this.selectedCell);
      if (cell) {
        ctx.strokeStyle = p.selected;
        ctx.lineWidth = 3 / s;
        ctx.stroke(cell.path);
      }
    }

    // screen-space overlays
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.drawLabels(ctx);
    this.drawMarkers(ctx, store);
    // An app's own marks in screen space (e.g. the console's picked point), over everything.
    this.opts.drawOverlay?.(ctx, this);

    const ms = performance.now() - t0;
    if (!this.firstFullRenderDone && this.cells.length) {
      this.firstFullRenderDone = true;
      this.opts.onFirstFullRender?.(ms + this.pendingBuildMs, this.cells.length);
    }
  }

  drawLabels(ctx) {
    const p = this.palette;
    const size = this.width > 1400 ? 15 : 13;
    ctx.font = `600 ${size}px system-ui, "Noto Sans CJK SC", "Microsoft YaHei", sans-serif`;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.lineWidth = 3.5;
    ctx.strokeStyle = p.halo;
    ctx.fillStyle = p.label;
    for (const l of this.layers.labels) {
      const [sx, sy] = this.toScreen(l.xy[0], l.xy[1]);
      if (sx < -50 || sy < -20 || sx > this.width + 50 || sy > this.height + 20) continue;
      ctx.strokeText(l.name, sx, sy);
      ctx.fillText(l.name, sx, sy);
    }
  }

  drawMarkers(ctx, store) {
    this.targets = [];
    if (!store) return;
    const p = this.palette;
    const buckets = new Map();
    for (const tk of store.open.values()) {
      const loc = tk.location;
      if (!loc || loc.lon === undefined || loc.lat === undefined) continue;
      const [x, y] = this.project(Number(loc.lon), Number(loc.lat));
      const [sx, sy] = this.toScreen(x, y);
      if (sx < -CLUSTER_PX || sy < -CLUSTER_PX || sx > this.width + CLUSTER_PX || sy > this.height + CLUSTER_PX) continue;
      const key = `${Math.floor(sx / CLUSTER_PX)},${Math.floor(sy / CLUSTER_PX)}`;
      let b = buckets.get(key);
      if (!b) buckets.set(key, (b = { sx: 0, sy: 0, tickets: [], worst: 0, minX: Infinity, maxX: -Infinity, minY: Infinity, maxY: -Infinity }));
      b.sx += sx;
      b.sy += sy;
      b.tickets.push(tk);
      b.worst = Math.max(b.worst, lightRank(tk));
      b.minX = Math.min(b.minX, sx); b.maxX = Math.max(b.maxX, sx);
      b.minY = Math.min(b.minY, sy); b.maxY = Math.max(b.maxY, sy);
    }
    const list = [...buckets.values()].sort((a, b) => a.worst - b.worst);
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    for (const b of list) {
      const n = b.tickets.length;
      const x = b.sx / n;
      const y = b.sy / n;
      const colour = p.marker[b.worst];
      let r;
      if (n === 1) {
        r = 6.5;
        ctx.beginPath();
        ctx.arc(x, y, r, 0, Math.PI * 2);
        ctx.fillStyle = colour;
        ctx.fill();
        ctx.lineWidth = 2;
        ctx.strokeStyle = p.markerStroke;
        ctx.stroke();
      } else {
        r = Math.min(24, 11 + Math.log2(n) * 2.6);
        ctx.beginPath();
        ctx.arc(x, y, r + 3, 0, Math.PI * 2);
        ctx.fillStyle = withAlpha(colour, 0.35);
        ctx.fill();
        ctx.beginPath();
        ctx.arc(x, y, r, 0, Math.PI * 2);
        ctx.fillStyle = colour;
        ctx.fill();
        ctx.lineWidth = 1.5;
        ctx.strokeStyle = p.markerStroke;
        ctx.stroke();
        ctx.fillStyle = b.worst === 2 ? '#1a1a1a' : '#ffffff';
        ctx.font = `700 ${n > 99 ? 11 : 12}px system-ui, sans-serif`;
        ctx.fillText(String(n), x, y + 0.5);
      }
      this.targets.push({ x, y, r, tickets: b.tickets, spread: Math.max(b.maxX - b.minX, b.maxY - b.minY) });
    }
    if (this.selectedTicket && this.selectedTicket.location) {
      const loc = this.selectedTicket.location;
      const [x, y] = this.project(Number(loc.lon), Number(loc.lat));
      const [sx, sy] = this.toScreen(x, y);
      ctx.beginPath();
      ctx.arc(sx, sy, 14, 0, Math.PI * 2);
      ctx.lineWidth = 3;
      ctx.strokeStyle = p.selected;
      ctx.stroke();
      ctx.beginPath();
      ctx.arc(sx, sy, 4, 0, Math.PI * 2);
      ctx.fillStyle = p.selected;
      ctx.fill();
    }
  }
}

/** Draws a small static map around a point (the case view): nearby cells, the case's cell, the point. */
export function drawMiniMap(canvas, { point, cells, cellCode, dark }) {
  const p = dark ? PALETTES.dark : PALETTES.light;
  const rect = canvas.getBoundingClientRect();
  const w = Math.max(1, Math.floor(rect.width));
  const hgt = Math.max(1, Math.floor(rect.height));
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(hgt * dpr);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.fillStyle = p.land;
  ctx.fillRect(0, 0, w, hgt);
  const kx = M_PER_DEG_LON * Math.cos((point.lat * Math.PI) / 180);
  const scale = Math.min(w, hgt) / 700; // ~700 m across
  const proj = (lon, lat) => [w / 2 + (lon - point.lon) * kx * scale, hgt / 2 - (lat - point.lat) * M_PER_DEG_LAT * scale];
  const [r, g, b] = p.cellStroke;
  for (const c of cells || []) {
    const ring = c.ring || [];
    if (ring.length < 6) continue;
    ctx.beginPath();
    for (let i = 0; i + 1 < ring.length; i += 2) {
      const [x, y] = proj(Number(ring[i]), Number(ring[i + 1]));
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    }
    ctx.closePath();
    if (c.code === cellCode) {
      ctx.fillStyle = withAlpha(p.selected, 0.18);
      ctx.fill();
      ctx.strokeStyle = p.selected;
      ctx.lineWidth = 2;
    } else {
      ctx.strokeStyle = `rgba(${r},${g},${b},0.7)`;
      ctx.lineWidth = 1;
    }
    ctx.stroke();
  }
  ctx.beginPath();
  ctx.arc(w / 2, hgt / 2, 7, 0, Math.PI * 2);
  ctx.fillStyle = p.marker[3];
  ctx.fill();
  ctx.lineWidth = 2;
  ctx.strokeStyle = p.markerStroke;
  ctx.stroke();
}

export function miniMapBbox(point) {
  const dLat = 400 / M_PER_DEG_LAT;
  // the case view's mini map is about three times as wide as it is high
  const dLon = 1100 / (M_PER_DEG_LON * Math.cos((point.lat * Math.PI) / 180));
  return [point.lon - dLon, point.lat - dLat, point.lon + dLon, point.lat + dLat];
}

export { RANK_NAME };

/**
 * Joins polylines (flat lon,lat arrays) that meet end to end where exactly two meet, so a
 * boundary sent as thousands of edges becomes a few long lines and closed rings.
 */
export function chainLines(lines) {
  const valid = lines.filter((l) => Array.isArray(l) && l.length >= 4);
  if (valid.length < 2) return valid;
  const key = (x, y) => `${x},${y}`;
  const ends = new Map();
  const addEnd = (k, i) => {
    const list = ends.get(k);
    if (list) list.push(i);
    else ends.set(k, [i]);
  };
  valid.forEach((l, i) => {
    addEnd(key(l[0], l[1]), i);
    addEnd(key(l[l.length - 2], l[l.length - 1]), i);
  });
  const used = new Uint8Array(valid.length);
  const out = [];
  // next line at a point: the one other unused line ending there, when only two meet
  const nextAt = (k) => {
    const list = ends.get(k);
    if (!list || list.length !== 2) return -1;
    for (const j of list) if (!used[j]) return j;
    return -1;
  };
  for (let i = 0; i < valid.length; i++) {
    if (used[i]) continue;
    used[i] = 1;
    let pts = Array.from(valid[i]);
    for (let dir = 0; dir < 2; dir++) {
      for (;;) {
        const n = pts.length;
        const k = key(pts[n - 2], pts[n - 1]);
        if (pts[0] === pts[n - 2] && pts[1] === pts[n - 1] && n > 4) break; // closed ring
        const j = nextAt(k);
        if (j < 0) break;
        used[j] = 1;
        const l = valid[j];
        if (key(l[0], l[1]) === k) {
          for (let m = 2; m < l.length; m++) pts.push(l[m]);
        } else {
          for (let m = l.length - 4; m >= 0; m -= 2) pts.push(l[m], l[m + 1]);
        }
      }
      // then extend the other end: reverse and repeat
      if (dir === 0) pts = reversePairs(pts);
    }
    out.push(pts);
  }
  return out;
}

function reversePairs(pts) {
  const r = new Array(pts.length);
  for (let i = 0, n = pts.length; i < n; i += 2) {
    r[n - 2 - i] = pts[i];
    r[n - 1 - i] = pts[i + 1];
  }
  return r;
}

function pointInRing(pts, x, y) {
  let inside = false;
  const n = pts.length;
  for (let i = 0, j = n - 2; i < n; j = i, i += 2) {
    const xi = pts[i], yi = pts[i + 1], xj = pts[j], yj = pts[j + 1];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function contains(outer, inner) {
  return outer[0] <= inner[0] && outer[1] <= inner[1] && outer[2] >= inner[2] && outer[3] >= inner[3];
}

function median(values) {
  if (!values.length) return 0;
  const s = values.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function withAlpha(hex, a) {
  const m = /^#([0-9a-f]{6})$/i.exec(hex);
  if (!m) return hex;
  const n = parseInt(m[1], 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
}
