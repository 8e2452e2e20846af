// Photos on the phone: a camera picture is reduced before it is stored or sent (a 12-megapixel
// JPEG is 4–8 MB; 1600 px on the long side is plenty to judge a pavement or a bin, and a tenth
// of the bytes on a mobile connection), and photos stored by gridd are shown from blob: URLs
// fetched with the member's token.

import * as api from '../api.js';

const MAX_SIDE = 1600;
const QUALITY = 0.85;
const KEEP_BYTES = 1200 * 1024;
const SENDABLE = new Set(['image/jpeg', 'image/png', 'image/webp']);

/**
 * The photo to store for `file`: the file itself when it is already small and of a type the
 * server takes, else a JPEG of at most 1600 px on its long side. Rejects when the browser
 * cannot decode the image.
 */
export async function preparePhoto(file) {
  const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  try {
    const { width, height } = bitmap;
    const long = Math.max(width, height);
    if (long <= MAX_SIDE && SENDABLE.has(file.type) && file.size <= KEEP_BYTES) {
      return new Blob([file], { type: file.type });
    }
    const scale = Math.min(1, MAX_SIDE / long);
    const w = Math.max(1, Math.round(width * scale));
    const h = Math.max(1, Math.round(height * scale));
    const canvas = document.createElement('canvas');
    canvas.width = w;
    canvas.height = h;
    const ctx = canvas.getContext('2d');
    // JPEG has no transparency: a transparent PNG becomes white, not black.
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, w, h);
    ctx.drawImage(bitmap, 0, 0, w, h);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', QUALITY));
    if (!blob) throw new Error('the image could not be encoded');
    return blob;
  } finally {
    bitmap.close();
  }
}

/**
 * blob: URLs of one screen, freed together when it goes away (a task view is re-drawn on every
 * live update; each stored photo is fetched once per open task).
 */
export class PhotoUrls {
  constructor() {
    this.stored = new api.PhotoCache();
    this.local = new Set(); // blob urls of the member's own Blobs
  }

  /** A blob: URL of a photo stored by gridd (`/v1/photos/…`). */
  server(path) {
    return this.stored.get(path);
  }

  /** A blob: URL of a Blob held on the device (a photo waiting to be sent). */
  blob(blob) {
    const u = URL.createObjectURL(blob);
    this.local.add(u);
    return u;
  }

  release(url) {
    if (this.local.delete(url)) URL.revokeObjectURL(url);
  }

  clear() {
    this.stored.revokeAll();
    for (const u of this.local) URL.revokeObjectURL(u);
    this.local.clear();
  }
}
