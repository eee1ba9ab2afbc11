/* The grid worker's phone page: pin or locate, category, note, photo; preview who gets it; an outbox that
   survives being offline and retries with the same idempotency key until the server acknowledges. */
;(function () {
  "use strict";
  const GG = window.GG;
  const t = GG.t;
  const OUTBOX = "gg.outbox";
  let map, groups, place = null, previewSeq = 0, units = null;
  const LAST_MATTER = "gg.phone.matter"; // the category chosen last, chosen again when the page reopens
  const ROUTES = "gg.phone.routes"; // the last answers of the routing preview, by village and category (offline)
  // The queue itself is shared with the officer's page (outbox.js); sending a report is this page's part.
  const box = GG.outbox(OUTBOX, send, () => render());
  const outbox = box.items, save = box.save, mine = box.mine, flush = box.flush;

  /** Whether a GeoJSON (Multi)Polygon holds a point (ray casting over every ring). */
  function inside(geometry, lat, lng) {
    if (!geometry) return false;
    const polys = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.type === "MultiPolygon" ? geometry.coordinates : [];
    return polys.some((rings) => rings.reduce((acc, ring) => {
      let c = false;
      for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        const [xi, yi] = ring[i], [xj, yj] = ring[j];
        if ((yi > lat) !== (yj > lat) && lng < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) c = !c;
      }
      return acc !== c;
    }, false));
  }
  /** The village and township holding a place (from the boundaries the page keeps, so offline too). */
  function whereIs(lat, lng) {
    const find = (layer) => (units ? units.layers[layer].features.find((f) => inside(f.geometry, lat, lng)) : null) || null;
    return {village: find("village"), township: find("township")};
  }

  function setPlace(lat, lon, accuracy, how, fit) {
    place = {lat: lat, lon: lon, accuracy_m: accuracy};
    groups.pin.clearLayers();
    // With no basemap a zoomed-in map is an empty square: the pin's village and township are outlined and named,
    // and Locate frames the whole village, so the worker sees where the pin is.
    const here = whereIs(lat, lon);
    place.village = here.village ? here.village.properties.code : null;
    if (here.township) L.geoJSON(here.township, {style: {color: "#333", weight: 2, dashArray: "6 4", fill: false}, interactive: false}).addTo(groups.pin);
    if (here.village) L.geoJSON(here.village, {style: {color: "#b0005a", weight: 3, fillColor: "#b0005a", fillOpacity: 0.06}, interactive: false}).addTo(groups.pin);
    const names = [here.village, here.township].filter(Boolean).map((f) => f.properties.name).join(" · ") || t("Outside the county's villages");
    const pin = L.marker([lat, lon], {title: t("Pin"), alt: t("Pin")}).addTo(groups.pin);
    pin.bindTooltip(GG.esc(names), {permanent: true, direction: "bottom", offset: [-15, 12], className: "gg-pin-label"}).openTooltip();
    if (accuracy) L.circle([lat, lon], {radius: accuracy, weight: 1, fillOpacity: 0.1, interactive: false}).addTo(groups.pin);
    if (fit) {
      const bounds = here.village ? L.geoJSON(here.village).getBounds().extend([lat, lon]) : null;
      if (bounds) map.fitBounds(bounds, {padding: [24, 24], maxZoom: 17, animate: false});
      else map.setView([lat, lon], 15, {animate: false});
    }
    document.body.dataset.pinVillage = place.village || "";
    document.body.dataset.pinTownship = here.township ? here.township.properties.code : "";
    GG.$("#ph-where").textContent = how + " " + names + " · " + lat.toFixed(6) + ", " + lon.toFixed(6) + (accuracy ? " ±" + GG.distance(accuracy) : "");
    GG.$("#ph-send").disabled = false;
    document.body.dataset.pin = lat.toFixed(7) + "," + lon.toFixed(7);
    preview();
  }

  /** Who would get the report, and whether the spot is too close to a boundary to be sure. */
  async function preview() {
    const box = GG.$("#ph-route");
    const matter = GG.$("#ph-matter").value;
    if (place && !matter) {
      box.dataset.kind = "warn";
      delete box.dataset.team;
      box.textContent = t("Choose a category to see who gets it");
      return;
    }
    if (!place || !matter) return;
    const seq = ++previewSeq;
    try {
      const body = {matter: matter, lat: place.lat, lon: place.lon};
      if (place.accuracy_m) body.accuracy_m = place.accuracy_m;
      const data = await GG.api("/route", {method: "POST", json: body});
      if (seq !== previewSeq) return;
      const d = data.decisions[0];
      let kind = "ok", text = GG.th(t("Goes to {team}"), {team: "<b>" + GG.esc(d.team_name) + "</b>"});
      if (d.status !== "ok") {
        kind = "warn";
        text += "<br>⚠ " + GG.th(d.status === "dispute" ? t("Disputed: {reason}") : t("No rule covers it: {reason}"), {reason: GG.esc(d.reason)}) +
          " — " + GG.esc(t("the command centre will assign it"));
      } else if (d.near_boundary) {
        kind = "warn";
        text += "<br>⚠ " + GG.esc(t("Near a boundary ({distance}): check the place", {distance: GG.distance(d.distance_to_boundary_m)}));
      }
      box.dataset.kind = kind;
      box.dataset.team = d.team;
      box.dataset.status = d.status;
      box.dataset.nearBoundary = String(d.near_boundary);
      delete box.dataset.offline;
      box.innerHTML = text;
      remember(matter, d);
    } catch (e) {
      if (seq !== previewSeq) return;
      if (e.status) { // the server answered: its reason
        box.dataset.kind = "error";
        box.textContent = e.message;
        return;
      }
      // No network ("Failed to fetch"): say so, with the answer last given here for this category, if any.
      const hit = remembered(matter);
      box.dataset.kind = "warn";
      box.dataset.offline = "1";
      delete box.dataset.nearBoundary;
      if (hit) box.dataset.team = hit.team; else delete box.dataset.team;
      box.innerHTML = "⚠ " + GG.esc(t("Offline: the server decides who gets it when the report is sent; it waits in the outbox until then.")) +
        (hit ? "<br>" + GG.th(t("The last answer here for this category ({day}): {team}"), {day: GG.esc(GG.fmtTime(hit.at, {short: true})), team: "<b>" + GG.esc(hit.name) + "</b>"}) : "");
    }
  }

  const routes = () => { try { return JSON.parse(localStorage.getItem(ROUTES) || "{}"); } catch (e) { return {}; } };
  const routeKey = (matter) => (place && place.village ? place.village : "?") + "|" + matter;
  function remember(matter, d) {
    if (!place || !place.village || d.status !== "ok" || d.near_boundary) return; // only a clear answer stands for the village
    const all = routes();
    all[routeKey(matter)] = {team: d.team, name: d.team_name, at: new Date().toISOString()};
    const keys = Object.keys(all);
    keys.sort((a, b) => String(all[a].at).localeCompare(String(all[b].at))).slice(0, Math.max(0, keys.length - 300)).forEach((k) => delete all[k]);
    try { localStorage.setItem(ROUTES, JSON.stringify(all)); } catch (e) { /* full: the outbox matters more */ }
  }
  function remembered(matter) { return place && place.village ? routes()[routeKey(matter)] || null : null; }

  /** The categories grouped by domain, searchable, the last one chosen again. */
  function fillMatters() {
    const select = GG.$("#ph-matter");
    GG.matterOptions(select, (o, m) => {
      o.dataset.search = (m.name + " " + m.code + " " + (m.domain || "") + " " + ((m.attributes || {}).title || "")).toLowerCase();
    });
    const last = localStorage.getItem(LAST_MATTER);
    if (last && GG.ref.matters[last]) select.value = last;
  }

  function searchMatters() {
    const q = GG.$("#ph-matter-search").value.trim().toLowerCase();
    const select = GG.$("#ph-matter");
    let first = null, shown = 0;
    select.querySelectorAll("optgroup").forEach((g) => {
      let any = false;
      g.querySelectorAll("option").forEach((o) => {
        o.hidden = !!q && !o.dataset.search.includes(q);
        if (!o.hidden) { any = true; shown += 1; first = first || o; }
      });
      g.hidden = !any;
    });
    document.body.dataset.matterMatches = String(shown);
    const current = select.selectedOptions[0];
    if (q && first && (!current || current.hidden || !current.value)) {
      select.value = first.value;
      chooseMatter();
    }
  }

  function chooseMatter() {
    const value = GG.$("#ph-matter").value;
    if (value) localStorage.setItem(LAST_MATTER, value);
    preview();
  }

  function dataUrl(file) {
    return new Promise((resolve, reject) => {
      const r = new FileReader();
      r.onload = () => resolve(r.result);
      r.onerror = () => reject(r.error);
      r.readAsDataURL(file);
    });
  }

  async function compose(ev) {
    ev.preventDefault();
    if (!place) { GG.status(t("Choose a place first"), "error"); return; }
    if (!GG.$("#ph-matter").value) { GG.status(t("Choose a category first"), "error"); GG.$("#ph-matter").focus(); return; }
    const file = GG.$("#ph-photo").files[0];
    if (file && file.size > 10 * 2 ** 20) { GG.status(t("The photo is over 10 MiB"), "error"); return; }
    const item = {
      key: GG.uuid(), state: "queued", created: new Date().toISOString(), error: null,
      report: {idempotency_key: null, matter: GG.$("#ph-matter").value, lat: place.lat, lon: place.lon,
        description: GG.$("#ph-note").value, reported_at: new Date().toISOString()},
      photo: file ? {type: file.type, data: await dataUrl(file)} : null, sha: null,
    };
    item.report.idempotency_key = item.key;
    item.by = (GG.user() || {}).username || null; // sent only under this account, whoever holds the phone later
    if (place.accuracy_m) item.report.accuracy_m = place.accuracy_m;
    const items = outbox();
    items.unshift(item);
    try { save(items); } catch (e) { GG.status(t("The phone's storage is full: {error}", {error: e.message}), "error"); return; }
    GG.$("#ph-note").value = "";
    GG.$("#ph-photo").value = "";
    render();
    flush();
  }

  function render() {
    const list = GG.$("#ph-outbox");
    list.replaceChildren(...outbox().slice(0, 30).map((it) => {
      const li = document.createElement("li");
      li.dataset.state = it.state;
      li.dataset.key = it.key;
      const what = GG.esc(GG.matterName(it.report.matter)) + " · " + GG.esc(GG.fmtTime(it.created, {time: true}));
      if (it.state === "sent" && it.linked_to) li.innerHTML = "✓ " + GG.esc(t("Sent: joined case #{id}, which reports the same", {id: it.linked_to})) + " · " + what;
      else if (it.state === "sent") li.innerHTML = "✓ " + GG.esc(t("Sent")) + " · #" + it.case_id + " → " + GG.esc(GG.teamName(it.team)) + " · " + what + (it.triage ? " · " + GG.esc(t("Triage")) + ": " + GG.esc(GG.term("triage", it.triage)) : "");
      else if (it.state === "failed") li.innerHTML = "✗ " + GG.esc(t("Refused")) + " · " + what + " · " + GG.esc(it.error);
      else if (!mine(it)) li.innerHTML = "⏳ " + GG.esc(t("Waits for {user} to sign in", {user: it.by})) + " · " + what;
      else li.innerHTML = "⏳ " + GG.esc(t("Queued")) + " · " + what + (it.error ? " · " + GG.esc(it.error) : "");
      return li;
    }));
    const waiting = outbox().filter((it) => it.state === "queued" && mine(it)).length;
    document.body.dataset.queued = String(waiting);
  }

  /** One report: its photo first (once: the checksum is kept), then the report under the item's key. */
  async function send(it, update) {
    let sha = it.sha;
    if (it.photo && !sha) {
      const blob = GG.outbox.blob(it.photo.data);
      const up = await GG.api("/photos", {method: "POST", body: blob, headers: {"Content-Type": it.photo.type}, as: it.by});
      sha = up.sha256;
      update(it.key, {sha: sha});
    }
    const report = Object.assign({}, it.report, {photos: sha ? [sha] : []});
    const c = await GG.api("/reports", {method: "POST", json: report, as: it.by});
    GG.status(c.linked_to ? t("Sent: joined case #{id}, which reports the same", {id: c.linked_to}) : t("Sent") + ": #" + c.id + " → " + GG.teamName(c.team), "ok");
    return {case_id: c.id, team: c.team, triage: c.triage, linked_to: c.linked_to || null, photo: null};
  }

  GG.pages.phone = async function (ctx) {
    map = ctx.map;
    groups = ctx.groups;
    document.body.classList.add("gg-page-phone");
    map.invalidateSize();
    render();
    if ("serviceWorker" in navigator) {
      const controlled = () => navigator.serviceWorker.controller ? Promise.resolve() :
        new Promise((resolve) => navigator.serviceWorker.addEventListener("controllerchange", resolve, {once: true}));
      // Once the worker controls the page, read the reference data again through it, so it is kept.
      navigator.serviceWorker.register("/sw.js", {scope: "/"}).then(() => navigator.serviceWorker.ready)
        .then(controlled)
        .then(() => Promise.all(["/auth/me", "/matters", "/teams", "/units?layer=county", "/units?layer=township",
          "/units?layer=village"].map((u) => GG.api(u))))
        .then(() => { document.body.dataset.offlineReady = "1"; })
        .catch((e) => GG.status(t("Offline use unavailable: {error}", {error: e.message}), "info"));
    }
    GG.beforeSignOut = () => {
      const n = outbox().filter((it) => it.state === "queued" && mine(it)).length;
      return n === 0 || confirm(t("{n} report(s) not sent yet. They stay on this phone and go when you sign in again. Sign out?", {n: n}));
    };
    window.addEventListener("online", flush);
    setInterval(flush, 10000);
    GG.$("#ph-form").addEventListener("submit", compose);
    GG.$("#ph-matter").addEventListener("change", chooseMatter);
    GG.$("#ph-matter-search").addEventListener("input", searchMatters);
    GG.$("#ph-locate").addEventListener("click", () => {
      if (!navigator.geolocation) { GG.status(t("No geolocation here: tap the map"), "error"); return; }
      navigator.geolocation.getCurrentPosition(
        (p) => setPlace(p.coords.latitude, p.coords.longitude, p.coords.accuracy, t("Located"), true),
        (e) => GG.status(t("Could not locate ({error}): tap the map", {error: e.message}), "error"),
        {enableHighAccuracy: true, timeout: 15000, maximumAge: 30000});
    });
    map.on("click", (ev) => setPlace(ev.latlng.lat, ev.latlng.lng, null, t("Pinned on the map")));
    await GG.loadReference();
    fillMatters();
    units = await GG.loadUnits(["county", "township", "village"]);
    GG.unitLayer(units.layers.township, units.byCode, {fill: 0.06, weight: 2, label: true}).addTo(groups.township);
    GG.unitLayer(units.layers.village, units.byCode, {fill: 0.04, weight: 0.5}).addTo(groups.village);
    const county = L.geoJSON(units.layers.county);
    if (county.getLayers().length) map.fitBounds(county.getBounds(), {animate: false});
    render();
    flush();
    GG.ready = true;
    document.body.dataset.ready = "1";
  };
})();
