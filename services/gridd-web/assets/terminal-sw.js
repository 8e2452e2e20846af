// The squad terminal's service worker (served at /terminal/sw.js, scope /terminal/): keeps the
// app shell — the page, its scripts and styles, the shared modules, the icons — so the app
// opens on a phone without a network and works from what the device kept.
//
// The shell is fetched from the network first (a new version of gridd brings a new app at
// once) and from the cache when the network fails or hangs. The API (/v1/…) never goes
// through the cache: its answers carry the city's cases and the member's tokens; where the
// browser can, API requests bypass this worker altogether.

const CACHE = 'gridd-terminal-v1';
const SHELL = [
  '/terminal/',
  '/terminal/manifest.webmanifest',
  '/assets/terminal.css',
  '/assets/js/terminal/app.js',
  '/assets/js/terminal/strings.js',
  '/assets/js/terminal/db.js',
  '/assets/js/terminal/tasks.js',
  '/assets/js/terminal/outbox.js',
  '/assets/js/terminal/listview.js',
  '/assets/js/terminal/taskview.js',
  '/assets/js/terminal/common.js',
  '/assets/js/terminal/photos.js',
  '/assets/js/terminal/minimap.js',
  '/assets/js/terminal/notify.js',
  '/assets/js/api.js',
  '/assets/js/signin.js',
  '/assets/js/dom.js',
  '/assets/js/i18n.js',
  '/assets/js/stream.js',
  '/assets/js/map.js',
  '/assets/js/store.js',
  '/assets/icons/terminal.svg',
  '/assets/icons/terminal-192.png',
  '/assets/icons/terminal-512.png',
];
const NETWORK_WAIT_MS = 4000;

self.addEventListener('install', (event) => {
  // Static routing (where supported): API calls go straight to the network, without waking
  // this worker — the task feed is a long-lived request.
  if (event.addRoutes) {
    try {
      event.addRoutes({ condition: { urlPattern: new URLPattern({ pathname: '/v1/*' }) }, source: 'network' });
    } catch { /* the fetch handler below lets them through as well */ }
  }
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key.startsWith('gridd-terminal-') && key !== CACHE) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith('/v1/')) return; // the network, as if there were no worker
  const isPage = req.mode === 'navigate' && url.pathname.startsWith('/terminal/');
  if (!isPage && !SHELL.includes(url.pathname)) return;
  event.respondWith(networkFirst(req, isPage ? '/terminal/' : url.pathname));
});

/** The network's answer (kept for next time), or the kept one when the network fails or is slow. */
async function networkFirst(req, key) {
  const cache = await caches.open(CACHE);
  const network = fetch(req).then((res) => {
    if (res.ok && res.type === 'basic') cache.put(key, res.clone()).catch(() => {});
    return res;
  });
  network.catch(() => { /* answered from the cache, or the caller gets this error below */ });
  const timeout = new Promise((resolve) => setTimeout(resolve, NETWORK_WAIT_MS, null));
  try {
    const first = await Promise.race([network, timeout]);
    if (first) return first;
  } catch { /* offline: the kept copy below */ }
  const kept = await cache.match(key);
  if (kept) return kept;
  return network; // nothing kept: wait for the network after all (or its error)
}
