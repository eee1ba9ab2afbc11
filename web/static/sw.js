/* The phone page's service worker: the page, its assets and the reference data (categories, teams,
   boundaries) are kept so the page opens and shows the map with no network; reports wait in the page's
   outbox. Network first, so an online phone always gets the current page and data. */
"use strict";
const CACHE = "gridgov-phone-v1";
const SHELL = ["/phone", "/officer", "/static/gg.js", "/static/outbox.js", "/static/phone.js", "/static/officer.js",
  "/static/gridgov.css",
  "/static/vendor/leaflet/leaflet.js", "/static/vendor/leaflet/leaflet.css",
  "/static/vendor/leaflet/images/marker-icon.png", "/static/vendor/leaflet/images/marker-icon-2x.png",
  "/static/vendor/leaflet/images/marker-shadow.png", "/static/vendor/leaflet/images/layers.png"];
const REFERENCE = [/^\/matters$/, /^\/teams$/, /^\/units$/, /^\/auth\/me$/];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  const keep = SHELL.includes(url.pathname) || url.pathname.startsWith("/static/") || REFERENCE.some((r) => r.test(url.pathname));
  if (!keep) return; // cases, routing and everything else always go to the server
  event.respondWith(fetch(event.request).then((response) => {
    if (response.ok) {
      const copy = response.clone();
      caches.open(CACHE).then((c) => c.put(event.request.url, copy));
    }
    return response;
  }).catch(() => caches.match(event.request.url).then((hit) => hit || Response.error())));
});
