// A small SVG sketch of where a task is: the city's own outline and street boundaries (from
// GET /v1/map/layers, no map tiles, so it works offline once the layers are kept), the task's
// pin and, when known, the member's own position. Two framings: the whole city, or about 2 km
// around the task.

import { chainLines } from '../map.js';

const SVG = 'http://www.w3.org/2000/svg';
const M_PER_DEG_LAT = 110574;
const M_PER_DEG_LON = 111320;
const NEAR_M = 2200; // width of the "nearby" framing
const PIN_PX = 9; // pin radius in screen pixels at the map's usual width
const MAP_PX = 358;

function el(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  return e;
}

/** The projection of a city: metres east and south of the centre of its bbox. */
export class Projection {
  constructor(bbox) {
    this.bbox = bbox;
    this.lon0 = (bbox[0] + bbox[2]) / 2;
    this.lat0 = (bbox[1] + bbox[3]) / 2;
    this.kx = M_PER_DEG_LON * Math.cos((this.lat0 * Math.PI) / 180);
  }

  xy(lon, lat) {
    return [(lon - this.lon0) * this.kx, -(lat - this.lat0) * M_PER_DEG_LAT];
  }
}

/** Path data of polylines given as flat lon,lat arrays, joined end to end first. */
function pathData(proj, lines, closeRings) {
  const parts = [];
  for (const line of chainLines(lines || [])) {
    if (line.length < 4) continue;
    let d = '';
    for (let i = 0; i + 1 < line.length; i += 2) {
      const [x, y] = proj.xy(Number(line[i]), Number(line[i + 1]));
      d += `${i === 0 ? 'M' : 'L'}${x.toFixed(1)} ${y.toFixed(1)}`;
    }
    const n = line.length;
    if (closeRings && line[0] === line[n - 2] && line[1] === line[n - 1]) d += 'Z';
    parts.push(d);
  }
  return parts.join('');
}

/**
 * The shapes of a city once (they are the same for every task): answers { proj, group } where
 * group is an SVG <g> to clone into each map.
 */
export function cityShapes(layers) {
  const bbox = Array.isArray(layers.bbox) && layers.bbox.length === 4 ? layers.bbox.map(Number) : null;
  if (!bbox) return null;
  const proj = new Projection(bbox);
  const g = el('g', { class: 'mm-city' });
  const outline = pathData(proj, layers.boundary, true);
  if (outline) g.append(el('path', { d: outline, class: 'mm-land' }));
  const communities = pathData(proj, layers.communities, false);
  if (communities) g.append(el('path', { d: communities, class: 'mm-community' }));
  const streets = pathData(proj, layers.streets, false);
  if (streets) g.append(el('path', { d: streets, class: 'mm-street' }));
  if (outline) g.append(el('path', { d: outline, class: 'mm-outline' }));
  const labels = el('g', { class: 'mm-labels' });
  for (const l of layers.streetLabels || []) {
    const [x, y] = proj.xy(Number(l.lon), Number(l.lat));
    const text = el('text', { x: x.toFixed(0), y: y.toFixed(0), class: 'mm-label' });
    text.textContent = l.name || '';
    labels.append(text);
  }
  g.append(labels);
  return { proj, group: g, hasShapes: Boolean(outline || streets) };
}

/** One task's map: an <svg> with the city, the pin and (later) the member's position. */
export class TaskMap {
  constructor(shapes, point, label) {
    this.shapes = shapes;
    this.point = point;
    this.framing = 'near';
    this.me = null;
    this.svg = el('svg', { class: 'minimap', role: 'img', 'aria-label': label, preserveAspectRatio: 'xMidYMid meet' });
    this.svg.dataset.testid = 'task-map';
    this.svg.append(shapes.group.cloneNode(true));
    this.meDot = el('circle', { class: 'mm-me', r: 0 });
    this.pinRing = el('circle', { class: 'mm-pin-ring', r: 0 });
    this.pin = el('circle', { class: 'mm-pin', r: 0 });
    this.meDot.style.display = 'none';
    this.svg.append(this.meDot, this.pinRing, this.pin);
    const [x, y] = shapes.proj.xy(point.lon, point.lat);
    this.xy = [x, y];
    for (const c of [this.pinRing, this.pin]) {
      c.setAttribute('cx', x.toFixed(1));
      c.setAttribute('cy', y.toFixed(1));
    }
    this.frame('near');
  }

  /** 'city' (the whole outline) or 'near' (about 2 km around the task). */
  frame(framing) {
    this.framing = framing;
    const proj = this.shapes.proj;
    let x0, y0, w, h;
    if (framing === 'city') {
      const [ax, ay] = proj.xy(proj.bbox[0], proj.bbox[3]);
      const [bx, by] = proj.xy(proj.bbox[2], proj.bbox[1]);
      const pad = 0.03 * Math.max(bx - ax, by - ay);
      [x0, y0, w, h] = [ax - pad, ay - pad, bx - ax + 2 * pad, by - ay + 2 * pad];
    } else {
      w = NEAR_M;
      h = NEAR_M * 0.62;
      [x0, y0] = [this.xy[0] - w / 2, this.xy[1] - h / 2];
    }
    this.svg.setAttribute('viewBox', `${x0.toFixed(0)} ${y0.toFixed(0)} ${w.toFixed(0)} ${h.toFixed(0)}`);
    this.svg.dataset.framing = framing;
    // Marks keep their size on screen whatever the framing (lines do so by CSS).
    const unit = Math.max(w / MAP_PX, h / (MAP_PX * 0.62)); // metres per screen pixel
    this.pin.setAttribute('r', (PIN_PX * unit).toFixed(1));
    this.pinRing.setAttribute('r', (PIN_PX * 2 * unit).toFixed(1));
    this.meDot.setAttribute('r', (6 * unit).toFixed(1));
    this.svg.style.setProperty('--label-size', `${(12 * unit).toFixed(1)}px`);
  }

  /** Shows the member's position (or hides it with null). */
  setMe(point) {
    this.me = point;
    if (!point) {
      this.meDot.style.display = 'none';
      return;
    }
    const [x, y] = this.shapes.proj.xy(point.lon, point.lat);
    this.meDot.setAttribute('cx', x.toFixed(1));
    this.meDot.setAttribute('cy', y.toFixed(1));
    this.meDot.style.display = '';
  }
}

/** Great-circle distance in metres. */
export function distanceM(a, b) {
  const R = 6371008.8;
  const rad = (d) => (d * Math.PI) / 180;
  const dLat = rad(b.lat - a.lat);
  const dLon = rad(b.lon - a.lon);
  const s = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLon / 2) ** 2;
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(s)));
}

export function fmtDistance(m) {
  if (m < 1000) return `${Math.max(1, Math.round(m / 10) * 10)} m`;
  return `${(m / 1000).toFixed(m < 10000 ? 1 : 0)} km`;
}
