// The category catalogue (GetCatalogue) and how an operator finds a class in it: by Chinese
// name, by pinyin initials ("bllj", or a shorter "blj" whose letters come in that order), by
// code ("E0102", "e01"), or by English name.

import * as api from '../api.js';
import { t, tEnum, getLang } from '../i18n.js';

const MAX_MATCHES = 12;

export class Catalogue {
  constructor() {
    this.version = '';
    this.classes = [];
    this.byCode = new Map();
  }

  async load() {
    const resp = await api.grid('GetCatalogue', {});
    this.version = resp.version || '';
    this.classes = (resp.categories || []).map((c) => ({
      code: c.code || '',
      name: c.name || '',
      nameEn: c.nameEn || '',
      pinyin: (c.pinyinInitials || '').toLowerCase(),
      urgency: c.urgency || 'URGENCY_NORMAL',
      handling: c.handling || '',
      conditions: (c.conditions || []).map((k) => ({
        name: k.name || '', label: k.label || k.name || '', urgency: k.urgency || 'URGENCY_NORMAL', handling: k.handling || '',
      })),
    }));
    this.byCode = new Map(this.classes.map((c) => [c.code, c]));
    return this;
  }

  get(code) {
    return this.byCode.get(code) || null;
  }

  /** The classes matching what the operator typed, best first. */
  search(query) {
    const q = query.trim().toLowerCase();
    if (!q) return [];
    const scored = [];
    for (const c of this.classes) {
      const s = score(c, q);
      if (s < Infinity) scored.push([s, c]);
    }
    scored.sort((a, b) => a[0] - b[0] || a[1].code.localeCompare(b[1].code));
    return scored.slice(0, MAX_MATCHES).map(([, c]) => c);
  }
}

/** Lower is better; Infinity for no match. */
function score(c, q) {
  const code = c.code.toLowerCase();
  if (code === q) return 0;
  if (code.startsWith(q)) return 1;
  if (c.name === q) return 0;
  if (c.name.startsWith(q)) return 2;
  if (c.name.includes(q)) return 3;
  if (c.pinyin) {
    if (c.pinyin === q) return 1;
    if (c.pinyin.startsWith(q)) return 4;
    if (isSubsequence(q, c.pinyin)) return 5;
  }
  const en = c.nameEn.toLowerCase();
  if (en && q.length >= 2 && en.includes(q)) return en.startsWith(q) ? 6 : 7;
  return Infinity;
}

/** True if the letters of q appear in s in order ("blj" in "bllj"). */
function isSubsequence(q, s) {
  if (!/^[a-z]+$/.test(q) || q.length < 2) return false;
  let i = 0;
  for (const ch of s) {
    if (ch === q[i]) i++;
    if (i === q.length) return true;
  }
  return false;
}

/** The class's display name in the page's language (Chinese name, or English when chosen). */
export function className(c) {
  if (!c) return '';
  return getLang() === 'en' && c.nameEn ? c.nameEn : c.name;
}

/** The urgency and handling limit a filing condition (or the class default) fixes. */
export function terms(c, conditionName) {
  if (!c) return null;
  const k = conditionName ? c.conditions.find((x) => x.name === conditionName) : null;
  const src = k || c;
  return { urgency: src.urgency, handling: src.handling };
}

/** "4WH" -> "4 工作时"; an urgent case's working units run on the clock, which is said too. */
export function limitText(handling, urgency) {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(WH|WD|h|min|s)\s*$/.exec(handling || '');
  if (!m) return handling || '—';
  const text = t(`limit.${m[2]}`, { n: m[1] });
  const working = m[2] === 'WH' || m[2] === 'WD';
  return urgency === 'URGENCY_URGENT' && working ? `${text}${t('limit.clock')}` : text;
}

export function termsText(c, conditionName) {
  const x = terms(c, conditionName);
  if (!x) return t('call.terms.none');
  return t('call.terms', { urgency: tEnum('urgency', x.urgency), limit: limitText(x.handling, x.urgency) });
}
