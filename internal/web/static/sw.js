// The checkpoint page's service worker. The server prepends VERSION and
// PRECACHE (the page and its content-hashed assets). The page is fetched
// from the network when it answers and from the cache when it does not;
// assets, whose URLs change with their content, come from the cache.
self.addEventListener('install', function (e) {
  e.waitUntil(caches.open('hc-' + VERSION).then(function (c) { return c.addAll(PRECACHE); }).then(function () { return self.skipWaiting(); }));
});
self.addEventListener('activate', function (e) {
  e.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k !== 'hc-' + VERSION; }).map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});
self.addEventListener('fetch', function (e) {
  var url = new URL(e.request.url);
  if (e.request.method !== 'GET' || url.origin !== location.origin) return;
  if (url.pathname.indexOf('/static/') === 0) {
    e.respondWith(caches.match(e.request).then(function (r) { return r || fetch(e.request); }));
  } else if (url.pathname === '/checkpoint') {
    e.respondWith(fetch(e.request).then(function (r) {
      if (r.ok) {
        var copy = r.clone();
        caches.open('hc-' + VERSION).then(function (c) { return c.put('/checkpoint', copy); });
      }
      return r;
    }).catch(function () { return caches.match('/checkpoint'); }));
  }
});
