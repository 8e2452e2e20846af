// Telling the member something happened: a short toast on screen, and for a new task a
// vibration or a short beep. Browsers allow both only after the member has touched the page
// (sign-in counts); before that the toast alone is shown rather than a refused call.

import { h, clear } from '../dom.js';

let audio = null;
let toastTimer = 0;

function mayAlert() {
  const ua = navigator.userActivation;
  return !ua || ua.hasBeenActive;
}

/** A new or returned task: vibrate where the phone can, else beep twice. */
export function alertNewTask() {
  if (!mayAlert()) return 'none';
  if (typeof navigator.vibrate === 'function' && navigator.vibrate([180, 90, 180])) return 'vibrate';
  return beep() ? 'beep' : 'none';
}

function beep() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return false;
  try {
    audio ||= new Ctx();
    if (audio.state === 'suspended') audio.resume().catch(() => {});
    const now = audio.currentTime;
    for (const start of [0, 0.22]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, now + start);
      gain.gain.exponentialRampToValueAtTime(0.25, now + start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + start + 0.16);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + start);
      osc.stop(now + start + 0.18);
    }
    return true;
  } catch {
    return false;
  }
}

/** Shows `text` in the toast strip for a few seconds (read out by screen readers). */
export function toast(text, kind = 'info') {
  const box = document.getElementById('toast');
  if (!box) return;
  clear(box).append(h(`div.toast-msg.${kind}`, { testid: 'toast' }, text));
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, 4000);
}
