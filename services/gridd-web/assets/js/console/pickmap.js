// The console's map: the city's own shapes (js/map.js) to pick the problem's location on. It
// draws the picked point as a pin, the auto-merge radius around it, and the similar open cases
// nearby (the one the call would merge into, or is attached to, stands out).

import * as api from '../api.js';
import { CityMap } from '../map.js';
import { t } from '../i18n.js';
import { loadingState, errorState, emptyState } from '../dom.js';

// A first click on the whole-city view zooms in around the point, so a second click can place it
// to the metre; closer than this (pixels per metre) a click only moves the pin.
const PICK_SCALE = 0.6;

export class PickMap {
  constructor({ canvas, stateBox, statusEl, onPick }) {
    this.stateBox = stateBox;
    this.statusEl = statusEl;
    this.onPick = onPick;
    this.point = null;
    this.similar = [];
    this.mergeRadiusM = 0;
    this.attachedId = '';
    this.ready = false;
    this.map = new CityMap(canvas, {
      onCellClick: (info) => this.clicked(info),
      onCellsState: (s) => this.cellsState(s),
      drawOverlay: (ctx, map) => this.draw(ctx, map),
    });
  }

  async load() {
    loadingState(this.stateBox, t('map.loading'));
    try {
      const layers = await api.mapLayers();
      this.stateBox.textContent = '';
      this.map.setLayers(layers || {});
      this.map.loadCellsSoon.cancel();
      await this.map.loadCells();
      if (this.map.isEmpty()) emptyState(this.stateBox, t('map.empty'));
    } catch (err) {
      errorState(this.stateBox, err, () => this.load());
    } finally {
      this.ready = true;
    }
  }

  reset() {
    this.map.reset();
    this.point = null;
    this.similar = [];
    this.attachedId = '';
  }

  clicked({ lon, lat }) {
    if (this.map.view.scale < PICK_SCALE) {
      const [x, y] = this.map.toScreen(...this.map.project(lon, lat));
      this.map.zoomAt(PICK_SCALE / this.map.view.scale, x, y);
    }
    this.onPick({ lon: round6(lon), lat: round6(lat) });
  }

  cellsState(s) {
    if (s.loading) {
      this.statusEl.textContent = t('map.cellsLoading');
    } else if (s.error) {
      this.statusEl.textContent = '';
      errorState(this.stateBox, s.error, () => { this.stateBox.textContent = ''; s.retry(); });
    } else {
      this.statusEl.textContent = '';
    }
  }

  /** Shows a point (or none); `centre` brings it into view (typed, not clicked). */
  setPoint(point, centre) {
    this.point = point;
    if (point && centre) this.map.centreOn(point.lon, point.lat, PICK_SCALE);
    if (!point) this.map.select(null);
    this.map.requestRender();
  }

  setCell(cellCode) {
    this.map.select(cellCode || null);
  }

  setSimilar(cases, mergeRadiusM) {
    this.similar = cases || [];
    this.mergeRadiusM = mergeRadiusM || 0;
    this.map.requestRender();
  }

  setAttached(id) {
    this.attachedId = id || '';
    this.map.requestRender();
  }

  /** Where a point is on the screen, in CSS pixels of the page (for tests and tooltips). */
  screenOf(lon, lat) {
    const [x, y] = this.map.toScreen(...this.map.project(lon, lat));
    const r = this.map.canvas.getBoundingClientRect();
    return { x: r.left + x, y: r.top + y, inside: x >= 0 && y >= 0 && x <= this.map.width && y <= this.map.height };
  }

  draw(ctx, map) {
    if (!this.point) return;
    const [px, py] = map.toScreen(...map.project(this.point.lon, this.point.lat));
    const radius = this.mergeRadiusM * map.view.scale;
    if (radius > 6) {
      ctx.beginPath();
      ctx.arc(px, py, radius, 0, Math.PI * 2);
      ctx.setLineDash([6, 5]);
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = 'rgba(11, 99, 206, 0.8)';
      ctx.fillStyle = 'rgba(11, 99, 206, 0.07)';
      ctx.fill();
      ctx.stroke();
      ctx.setLineDash([]);
    }
    for (const c of this.similar) this.drawCase(ctx, map, c);
    drawPin(ctx, px, py);
  }

  drawCase(ctx, map, c) {
    const loc = c.ticket && c.ticket.location;
    if (!loc) return;
    const [x, y] = map.toScreen(...map.project(Number(loc.lon), Number(loc.lat)));
    const attached = c.ticket.id === this.attachedId;
    ctx.beginPath();
    ctx.arc(x, y, attached || c.wouldMerge ? 7 : 5.5, 0, Math.PI * 2);
    ctx.fillStyle = attached ? '#0b63ce' : c.wouldMerge ? '#d93025' : '#d99800';
    ctx.fill();
    ctx.lineWidth = 2;
    ctx.strokeStyle = '#ffffff';
    ctx.stroke();
  }
}

/** A map pin whose tip is at (x, y). */
function drawPin(ctx, x, y) {
  ctx.save();
  ctx.translate(x, y);
  ctx.beginPath();
  ctx.moveTo(0, 0);
  ctx.bezierCurveTo(-4, -9, -11, -14, -11, -22);
  ctx.arc(0, -22, 11, Math.PI, 0);
  ctx.bezierCurveTo(11, -14, 4, -9, 0, 0);
  ctx.closePath();
  ctx.fillStyle = '#c62828';
  ctx.shadowColor = 'rgba(0, 0, 0, 0.35)';
  ctx.shadowBlur = 4;
  ctx.shadowOffsetY = 2;
  ctx.fill();
  ctx.shadowColor = 'transparent';
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = '#ffffff';
  ctx.stroke();
  ctx.beginPath();
  ctx.arc(0, -22, 4, 0, Math.PI * 2);
  ctx.fillStyle = '#ffffff';
  ctx.fill();
  ctx.restore();
}

function round6(v) {
  return Math.round(v * 1e6) / 1e6;
}
