/* The command-centre map wall: jurisdictions by team, live cases by state, H3 hotspots, backlog panels. */
;(function () {
  "use strict";
  const GG = window.GG;
  const t = GG.t;
  const cases = new Map(); // id -> {row, marker}
  let columns = null, openStates = new Set(), cursor = null, clockOffset = 0, polls = 0;
  let map, groups, triageKind = "all";

  const HOT_RAMP = GG.HOT_RAMP, resFor = GG.hexRes; // shared with the big screen (gg.js)

  // Address options: ?res=9 fixes the hexagons' resolution, ?days=90 the window, ?matter=CODE the category.
  // Hotspots start hidden (the case dots are the wall's first job) unless the address asks for them: ?hot=1 or any
  // of the options above.
  const params = new URLSearchParams(location.search);
  const fixedRes = Number(params.get("res")) || null;
  const hotAtStart = ["hot", "res", "days", "matter"].some((k) => params.has(k)) && params.get("hot") !== "0";

  /** How much larger than on a 1080-line screen the map's symbols are drawn (2 on a 4K wall): dots in pixels
      would otherwise shrink to specks on a 65-inch screen read from 3 m. */
  function symbolScale() { return Math.max(1, Math.min(3, Math.min(window.innerHeight / 1080, window.innerWidth / 1920))); }

  function serverNow() { return Date.now() + clockOffset; }
  function get(row, name) { return row[columns.indexOf(name)]; }
  function isOpen(row) { return openStates.has(get(row, "status")); }
  function overdue(row) {
    const d = get(row, "deadline");
    return isOpen(row) && get(row, "status") !== "suspended" && d && Date.parse(d) < serverNow();
  }
  function triage(row) { return get(row, "status") === "reported" && get(row, "triage") ? get(row, "triage") : null; }

  function markerStyle(row) {
    const late = overdue(row), esc = get(row, "escalation_level") > 0, k = symbolScale();
    return {radius: (esc ? 7 : 5) * k, color: late ? "#000" : "#fff", weight: (late || esc ? 2 : 1) * k,
      fillColor: GG.stateColour(get(row, "status")), fillOpacity: 0.9, dashArray: triage(row) ? 2 * k + " " + 2 * k : null};
  }

  // The case being looked at: a ring around its dot, drawn above everything, until another is opened or it closes.
  let ring = null, ringId = null;
  function highlight(id) {
    if (ring) { ring.remove(); ring = null; }
    ringId = id;
    const entry = id != null ? cases.get(id) : null;
    if (!entry || !entry.marker) { document.body.dataset.highlighted = ""; return; }
    const k = symbolScale();
    ring = L.circleMarker(entry.marker.getLatLng(), {pane: "gg-focus", radius: 14 * k, color: "#ff00ff", weight: 4 * k,
      fill: false, interactive: false, className: "gg-focus-ring"}).addTo(map);
    entry.marker.bringToFront();
    document.body.dataset.highlighted = String(id);
  }

  function upsert(row) {
    const id = get(row, "id");
    const old = cases.get(id);
    const keep = isOpen(row) || Date.parse(get(row, "updated_at")) > serverNow() - 24 * 3600e3;
    if (!keep || get(row, "lon") == null) {
      if (old && old.marker) groups.cases.removeLayer(old.marker);
      if (keep) cases.set(id, {row: row, marker: null}); else cases.delete(id);
      return;
    }
    if (old && old.marker) {
      old.row = row;
      old.marker.setLatLng([get(row, "lat"), get(row, "lon")]);
      old.marker.setStyle(markerStyle(row));
      if (ring && ringId === id) ring.setLatLng(old.marker.getLatLng());
      return;
    }
    const marker = L.circleMarker([get(row, "lat"), get(row, "lon")], markerStyle(row));
    marker.caseId = id; // one click handler and one tooltip for all (caseEvents), not one of each per case
    marker.addTo(groups.cases);
    cases.set(id, {row: row, marker: marker});
  }

  /** Clicks and hovers on any case dot, handled once for the layer of cases: 10^4 cases, no 10^4 handlers. */
  function caseEvents() {
    const tip = L.tooltip({direction: "top", offset: [0, -4]});
    groups.cases.on("click", (e) => { if (e.layer.caseId != null) showCase(e.layer.caseId); });
    groups.cases.on("mouseover", (e) => {
      const entry = cases.get(e.layer.caseId);
      if (!entry) return;
      const r = entry.row;
      tip.setLatLng(e.layer.getLatLng()).setContent("#" + get(r, "id") + " · " + GG.esc(GG.matterName(get(r, "matter"))) + " · " +
        GG.esc(GG.term("status", get(r, "status"))) + " · " + GG.esc(GG.teamName(get(r, "team"))));
      map.openTooltip(tip);
    });
    groups.cases.on("mouseout", () => map.closeTooltip(tip));
  }

  /** Fetch the cases changed since the last poll (all of them the first time) and draw them. */
  async function poll() {
    const q = cursor ? "?since=" + encodeURIComponent(cursor) : "";
    return applyCases(await GG.api("/wall/cases" + q));
  }

  function applyCases(data) {
    columns = data.columns;
    openStates = new Set(data.open_states);
    clockOffset = Date.parse(data.now) - Date.now();
    data.cases.forEach(upsert);
    cursor = data.cursor;
    polls += 1;
    renderPanels();
    document.body.dataset.polls = String(polls);
    document.body.dataset.cases = String(groups.cases.getLayers().length);
    return data;
  }

  function caseItem(row) {
    const id = get(row, "id");
    const li = document.createElement("li");
    li.dataset.caseId = id;
    const dl = get(row, "deadline");
    li.innerHTML = '<span class="gg-dot" style="background:' + GG.stateColour(get(row, "status")) + '"></span>#' + id + " " +
      GG.esc(GG.matterName(get(row, "matter"))) + " · " + GG.esc(GG.teamName(get(row, "team"))) +
      (get(row, "escalation_level") ? ' · <b class="gg-bad">' + GG.esc(t("Escalated, level {level}", {level: get(row, "escalation_level")})) + "</b>" : "") +
      (overdue(row) && dl ? ' · <span class="gg-bad">' + GG.esc(t("Overdue")) + " " + GG.esc(GG.fmtTime(dl, {short: true})) + "</span>" : "") +
      (triage(row) ? ' · <span class="gg-bad">' + GG.esc(GG.term("triage", triage(row))) + "</span>" : "");
    li.addEventListener("click", () => showCase(id, true));
    return li;
  }

  function renderPanels() {
    const teams = {};
    const late = [], tri = [];
    cases.forEach(({row}) => {
      if (!isOpen(row)) return;
      const t = get(row, "team");
      const s = (teams[t] = teams[t] || {open: 0, overdue: 0, escalated: 0});
      s.open += 1;
      if (overdue(row)) s.overdue += 1;
      if (get(row, "escalation_level") > 0) s.escalated += 1;
      if (overdue(row) || get(row, "escalation_level") > 0) late.push(row);
      if (triage(row)) tri.push(row);
    });
    const body = GG.$("#gg-backlog tbody");
    body.innerHTML = "";
    Object.entries(teams).sort((a, b) => b[1].open - a[1].open).forEach(([code, s]) => {
      const tr = document.createElement("tr");
      // The whole name, wrapped: what tells the urban squadron from the development-zone one is at its end.
      tr.innerHTML = '<td title="' + GG.esc(code) + '" class="gg-team-name"><span class="gg-dot" style="background:' + GG.teamColour(code) + '"></span>' +
        GG.esc(GG.teamName(code)) + "</td><td>" + s.open + '</td><td class="' + (s.overdue ? "gg-bad" : "") + '">' + s.overdue +
        "</td><td>" + s.escalated + "</td>";
      body.appendChild(tr);
    });
    late.sort((a, b) => (get(b, "escalation_level") - get(a, "escalation_level")) || String(get(a, "deadline")).localeCompare(String(get(b, "deadline"))));
    const lateList = GG.$("#gg-overdue");
    lateList.replaceChildren(...late.slice(0, 200).map(caseItem));
    GG.$("#gg-overdue-count").textContent = String(late.length);
    const kinds = {};
    tri.forEach((r) => { kinds[triage(r)] = (kinds[triage(r)] || 0) + 1; });
    const tabs = GG.$("#gg-triage-tabs");
    tabs.replaceChildren(...["all", ...Object.keys(kinds).sort()].map((k) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = (k === "all" ? t("All") : GG.term("triage", k)) + " " + (k === "all" ? tri.length : kinds[k]);
      b.dataset.kind = k;
      b.setAttribute("aria-pressed", String(k === triageKind));
      b.addEventListener("click", () => { triageKind = k; renderPanels(); });
      return b;
    }));
    const shown = tri.filter((r) => triageKind === "all" || triage(r) === triageKind).sort((a, b) => get(b, "id") - get(a, "id"));
    GG.$("#gg-triage").replaceChildren(...shown.slice(0, 200).map(caseItem));
    GG.$("#gg-triage-count").textContent = String(tri.length);
  }

  async function showCase(id, fly) {
    const entry = cases.get(id);
    if (fly && entry && entry.marker) map.flyTo(entry.marker.getLatLng(), Math.max(map.getZoom(), 14), {duration: 0.5});
    highlight(id);
    const box = GG.$("#gg-case");
    box.hidden = false;
    box.scrollIntoView({block: "nearest"}); // the card sits at the panel's top: bring it back into view
    GG.$("#gg-case-id").textContent = "#" + id;
    const body = GG.$("#gg-case-body");
    body.textContent = "…";
    try {
      const [c, history] = await Promise.all([GG.api("/cases/" + id), GG.api("/cases/" + id + "/history")]);
      const routing = c.routing || {};
      body.innerHTML = '<dl class="gg-kv">' +
        "<dt>" + GG.esc(t("State")) + "</dt><dd>" + GG.esc(GG.term("status", c.status)) + (c.overdue ? ' <b class="gg-bad">' + GG.esc(t("Overdue")) + "</b>" : "") + "</dd>" +
        "<dt>" + GG.esc(t("Matter")) + "</dt><dd>" + GG.esc(GG.matterName(c.matter)) + "</dd>" +
        "<dt>" + GG.esc(t("Team")) + "</dt><dd>" + GG.esc(GG.teamName(c.team)) + (c.co_owners.length ? " + " + GG.esc(c.co_owners.map(GG.teamName).join("、")) : "") + "</dd>" +
        "<dt>" + GG.esc(t("Deadline")) + "</dt><dd>" + GG.esc(GG.fmtTime(c.deadline)) + "</dd>" +
        "<dt>" + GG.esc(t("Escalation level")) + "</dt><dd>" + GG.esc(c.escalation_level) + "</dd>" +
        "<dt>" + GG.esc(t("Triage")) + "</dt><dd>" + GG.esc(GG.term("triage", c.triage)) + "</dd>" +
        "<dt>" + GG.esc(t("Why this team")) + "</dt><dd class=\"gg-data\">" + GG.esc(routing.reason || "") + "</dd>" +
        "<dt>" + GG.esc(t("Note")) + "</dt><dd class=\"gg-data\">" + GG.esc(c.description || "") + "</dd></dl>" +
        '<ol class="gg-events">' + history.map((e) => "<li>" + GG.esc(GG.fmtTime(e.at)) + " · " +
          GG.esc(GG.term("action", e.action)) + " · " + GG.esc(e.actor) + (e.to ? " → " + GG.esc(GG.term("status", e.to)) : "") + (e.reason ? ' · <span class="gg-data">' + GG.esc(e.reason) + "</span>" : "") + "</li>").join("") + "</ol>";
      body.dataset.caseId = String(id);
    } catch (e) {
      body.textContent = e.message;
    }
  }

  // ---- hotspots ----------------------------------------------------------------------------
  // Significance (the default, GET /hotspots?mode=significance): Getis–Ord Gi* bins over the whole county,
  // hot reds and cold blues at 99/95/90 % confidence after the FDR correction; ?hotmode=counts or the
  // select switches to raw counts per cell.
  const BIN_COLOURS = {"3": "#d62f27", "2": "#ed7551", "1": "#fab984", "0": "#d9d9d9", "-1": "#c0ccbe", "-2": "#849eba", "-3": "#4575b5"};
  function binWords() {
    return {"3": t("Hot spot, 99 % confidence"), "2": t("Hot spot, 95 % confidence"), "1": t("Hot spot, 90 % confidence"),
      "0": t("Reports, not significant"), "-1": t("Cold spot, 90 % confidence"), "-2": t("Cold spot, 95 % confidence"),
      "-3": t("Cold spot, 99 % confidence")};
  }
  function hotMode() { return GG.$("#hot-mode") ? GG.$("#hot-mode").value : "significance"; }
  /** The mode select, made here so the hotspot panel's template stays as it is. */
  function addModeSelect() {
    const mode = document.createElement("select");
    mode.id = "hot-mode";
    mode.setAttribute("aria-label", t("What the hexagons show"));
    [["significance", t("Significant hot and cold spots")], ["counts", t("Report counts")]].forEach(([v, label]) => {
      const o = document.createElement("option");
      o.value = v;
      o.textContent = label;
      mode.appendChild(o);
    });
    mode.value = params.get("hotmode") === "counts" ? "counts" : "significance";
    GG.$("#hot-window").after(mode);
  }

  let hotSeq = 0;
  /** Ask for the hexagons the controls choose; `whole`: the whole county, without a box (the first load, sent
      before the view is set: the resolution is fixed with ?res=). What drawHotspots needs. */
  function askHotspots(whole) {
    const seq = ++hotSeq;
    if (!GG.$("#hot-on").checked) return {seq: seq, off: true};
    const z = map.getZoom(), mode = hotMode();
    // Significance tests the whole county at once: resolution 5 to 9 (finer cells hold too few reports to mean
    // anything, and a county holds ~100,000 of them at 10).
    const res = mode === "significance" ? Math.min(9, Math.max(5, fixedRes || resFor(z))) : fixedRes || resFor(z);
    const days = Number(GG.$("#hot-window").value);
    let q = "/hotspots?res=" + res + "&days=" + days + (mode === "significance" ? "&mode=significance" : ""); // the window ends at the server's now
    const matter = GG.$("#hot-matter").value;
    if (matter) q += "&matter=" + encodeURIComponent(matter);
    if (res >= 8 && !whole) {
      const b = map.getBounds().pad(0.2);
      q += "&bbox=" + [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(5)).join(",");
    }
    const data = GG.api(q);
    data.catch(() => {}); // its failure is reported where it is awaited (drawHotspots), not as an unhandled one
    return {seq: seq, q: q, mode: mode, matter: matter, days: days, data: data};
  }
  function loadHotspots() { return drawHotspots(askHotspots(false)); }

  async function drawHotspots(asked) {
    groups.hotspots.clearLayers();
    legend();
    if (asked.off) {
      GG.$("#hot-info").textContent = "";
      GG.wallState.hexes = [];
      document.body.dataset.hexes = "0";
      return;
    }
    const {seq, q, mode, matter, days} = asked;
    const data = await asked.data;
    if (seq !== hotSeq) return; // a newer request replaced this one
    const max = Math.max(1, data.max);
    // One category (the coal-slurry sites): its hexagons above the case dots, which would hide them; all categories
    // together stay under the dots, as a backdrop.
    const pane = matter ? {renderer: hotRenderer} : {};
    // Multipolygons per colour (a bin, or a step of the ramp) of GG.HEX_CHUNK cells each: 10^4 cells cost some fifty
    // layers (gg.js says why not one per colour), each keeping its cells for the tooltip (hexEvents).
    const byColour = new Map();
    data.cells.forEach((c) => {
      let key, style;
      if (mode === "significance") {
        key = String(c.bin);
        style = {stroke: true, color: c.bin ? BIN_COLOURS[key] : "#999", weight: c.bin ? (matter ? 1.5 : 0.8) : 0.4,
          fillColor: BIN_COLOURS[key], fillOpacity: c.bin ? (matter ? 0.75 : 0.6) : 0.25};
      } else {
        const level = Math.min(HOT_RAMP.length - 1, Math.floor((c.n / max) * (HOT_RAMP.length - 1) + 0.5));
        key = String(level);
        style = {stroke: true, color: "#7f2704", weight: matter ? 1.5 : 0.5, fillColor: HOT_RAMP[level], fillOpacity: matter ? 0.75 : 0.55};
      }
      let group = byColour.get(key);
      if (!group) byColour.set(key, (group = {style: style, rings: [], cells: []}));
      const ring = [];
      for (let i = 0; i < c.b.length; i += 2) ring.push([c.b[i + 1], c.b[i]]);
      group.rings.push([ring]);
      group.cells.push(c);
    });
    byColour.forEach((group) => {
      for (let i = 0; i < group.rings.length; i += GG.HEX_CHUNK) {
        const layer = L.polygon(group.rings.slice(i, i + GG.HEX_CHUNK), Object.assign({}, group.style, {interactive: true}, pane));
        layer.ggCells = group.cells.slice(i, i + GG.HEX_CHUNK);
        layer.ggMode = mode;
        layer.addTo(groups.hotspots);
      }
    });
    GG.$("#hot-info").textContent = t("H3 resolution {res} · {cells} cells · {n} reports", {res: data.res, cells: data.cells.length, n: data.total}) +
      (matter ? " · " + GG.matterName(matter) : "") +
      (mode === "significance" ? " · " + t("{hot} hot, {cold} cold (Gi*, FDR)", {
        hot: data.bins["1"] + data.bins["2"] + data.bins["3"], cold: data.bins["-1"] + data.bins["-2"] + data.bins["-3"]}) : "");
    GG.wallState.hexes = data.cells.map((c) => c.h);
    GG.wallState.hexCounts = Object.fromEntries(data.cells.map((c) => [c.h, c.n]));
    GG.wallState.hexBins = mode === "significance" ? Object.fromEntries(data.cells.map((c) => [c.h, c.bin])) : null;
    GG.wallState.hexQuery = q.replace("&days=" + days, "&from=" + data.from + "&to=" + data.to); // the same cells again
    document.body.dataset.hexes = String(data.cells.length);
    document.body.dataset.hexRes = String(data.res);
  }

  /** Whether the point (x, y) lies inside a flat lon,lat ring (ray casting). */
  function inRing(b, x, y) {
    let inside = false;
    for (let i = 0, j = b.length - 2; i < b.length; j = i, i += 2) {
      const xi = b[i], yi = b[i + 1], xj = b[j], yj = b[j + 1];
      if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  }
  /** The tooltip of the hexagon under the pointer: the cell found in its colour's multipolygon. */
  function hexEvents() {
    const tip = L.tooltip({sticky: true, direction: "top", offset: [0, -6]});
    let shown = null;
    groups.hotspots.on("mousemove", (e) => {
      const cells = e.layer.ggCells || [];
      const c = cells.find((cell) => inRing(cell.b, e.latlng.lng, e.latlng.lat));
      if (!c) { map.closeTooltip(tip); shown = null; return; }
      tip.setLatLng(e.latlng);
      if (c !== shown) {
        let text = GG.esc(t("{n} reports", {n: c.n})) + " · " + c.h;
        if (e.layer.ggMode === "significance") {
          text += "<br>" + GG.esc(binWords()[String(c.bin)]) + " · z = " + c.z.toFixed(2) + " · p = " + c.p.toPrecision(2);
        }
        tip.setContent(text);
        shown = c;
      }
      if (!map.hasLayer(tip)) map.openTooltip(tip);
    });
    groups.hotspots.on("mouseout", () => { map.closeTooltip(tip); shown = null; });
  }

  // ---- recurring sites (GET /hotspots/sites): listed under the hotspots when one category is chosen ----
  let siteSeq = 0, siteLayer = null;
  async function loadSites() {
    const seq = ++siteSeq, matter = GG.$("#hot-matter").value;
    let list = GG.$("#hot-sites");
    if (!list) {
      list = document.createElement("ol");
      list.id = "hot-sites";
      list.className = "gg-list";
      list.setAttribute("aria-label", t("Recurring sites"));
      GG.$("#hot-info").after(list);
    }
    if (!siteLayer) siteLayer = L.layerGroup().addTo(map);
    siteLayer.clearLayers();
    list.replaceChildren();
    GG.wallState.sites = [];
    if (!matter) return;
    // A site recurs over months: look back at least 120 days, whatever window the hexagons show.
    const data = await GG.api("/hotspots/sites?matter=" + encodeURIComponent(matter) + "&days=" + Math.max(120, Number(GG.$("#hot-window").value)));
    if (seq !== siteSeq) return;
    const head = document.createElement("li");
    head.className = "gg-small";
    head.textContent = t("{n} recurring sites of {matter}", {n: data.sites.length, matter: GG.matterName(matter)});
    list.appendChild(head);
    data.sites.forEach((s) => {
      const li = document.createElement("li");
      li.dataset.siteId = String(s.id);
      li.innerHTML = "<b>" + GG.esc(t("Site {id}", {id: s.id})) + "</b> " + GG.esc(s.village_name || "") + (s.township_name ? " · " + GG.esc(s.township_name) : "") +
        "<br>" + GG.esc(t("{weeks} weeks active, {n} reports, {first} to {last}", {weeks: s.active_weeks, n: s.reports, first: s.first_week, last: s.last_week})) +
        " · " + GG.esc(GG.term("hotspot_pattern", s.pattern)) + " · " + GG.esc(t("trend: {trend}", {trend: GG.term("trend", s.trend)})) +
        (s.team ? '<br><span class="gg-small">' + GG.esc(GG.teamName(s.team)) + "</span>" : "");
      li.addEventListener("click", () => map.flyTo([s.lat, s.lon], 16, {duration: 0.5}));
      list.appendChild(li);
      L.circle([s.lat, s.lon], {radius: Math.max(30, s.radius_m), color: "#000", weight: 2, fill: false, dashArray: "4 3"})
        .bindTooltip(GG.esc(t("Site {id}", {id: s.id})) + " · " + GG.esc(s.village_name || "")).addTo(siteLayer);
    });
    GG.wallState.sites = data.sites;
  }

  function legend() {
    const el = GG.$("#gg-legend");
    const sig = hotMode() === "significance", words = binWords();
    el.innerHTML = "<b>" + GG.esc(t("Case state")) + "</b><br>" + Object.entries(GG.STATE_COLOURS)
      .map(([s, c]) => '<span data-state="' + GG.esc(s) + '"><i class="gg-dot" style="background:' + c + '"></i>' + GG.esc(GG.term("status", s)) + "</span>").join("") +
      '<br><span><i class="gg-dot" style="border:2px solid #000"></i>' + GG.esc(t("Overdue")) + "</span>" +
      '<span><i class="gg-dot" style="border:2px dashed #e31a1c"></i>' + GG.esc(t("Triage")) + "</span>" +
      (sig ? "<br><b>" + GG.esc(t("Hotspots: Getis–Ord Gi*, false-discovery-rate corrected")) + "</b><br>" +
        ["3", "2", "1", "0", "-1", "-2", "-3"].map((b) => '<span data-bin="' + b + '"><i class="gg-dot" style="background:' + BIN_COLOURS[b] + '"></i>' + GG.esc(words[b]) + "</span>").join("")
        : "<br><b>" + GG.esc(t("Hotspots: reports per hexagon")) + "</b><br>" + '<span><i class="gg-dot" style="background:' + HOT_RAMP[1] + '"></i>' + GG.esc(t("few")) + "</span>" +
        '<span><i class="gg-dot" style="background:' + HOT_RAMP[5] + '"></i>' + GG.esc(t("many")) + "</span>");
  }

  const byCode = {}; // unit code -> properties, for colouring a unit by the team of its nearest owner
  let villagesP = null;
  /** The village layer, fetched the first time it is switched on. */
  function loadVillages() {
    if (!villagesP) {
      villagesP = GG.loadUnits(["village"]).then((v) => {
        Object.assign(byCode, v.byCode);
        const layer = GG.unitLayer(v.layers.village, byCode, {fill: 0.08, weight: 0.5}).addTo(groups.village);
        document.body.dataset.villages = String(layer.getLayers().length);
      }, (err) => { villagesP = null; throw err; });
    }
    return villagesP;
  }

  /** What the wall shows, for people checking it (and its browser tests). */
  GG.wallState = {caseIds: () => Array.from(cases.keys()), shown: (id) => !!(cases.get(id) && cases.get(id).marker),
    hexes: [], hexCounts: {}, hexBins: null, hexQuery: null, sites: [], showCase: showCase,
    marker: (id) => (cases.get(id) || {}).marker || null, ring: () => ring};
  let hotRenderer = null;

  GG.pages.wall = async function (ctx) {
    map = ctx.map;
    groups = ctx.groups;
    document.body.classList.add("gg-page-wall");
    map.options.zoomSnap = 0.1; // the county fills the map (whole zoom steps left up to half of it empty)
    map.options.zoomDelta = 0.5;
    map.createPane("gg-hot").style.zIndex = 450; // above the case dots (overlay pane, 400)
    map.createPane("gg-focus").style.zIndex = 640; // the opened case's ring, above everything
    map.getPane("gg-focus").style.pointerEvents = "none";
    hotRenderer = L.canvas({pane: "gg-hot"});
    caseEvents();
    hexEvents();
    map.invalidateSize();
    legend();
    GG.$("#gg-fullscreen").addEventListener("click", () => {
      if (document.fullscreenElement) document.exitFullscreen(); else document.documentElement.requestFullscreen();
    });
    GG.$("#gg-case-close").addEventListener("click", () => { GG.$("#gg-case").hidden = true; highlight(null); });
    GG.$("#hot-on").checked = hotAtStart;
    let scaled = symbolScale();
    window.addEventListener("resize", () => { // a window moved to the wall: symbols follow the screen
      if (symbolScale() === scaled) return;
      scaled = symbolScale();
      cases.forEach((e) => { if (e.marker) e.marker.setStyle(markerStyle(e.row)); });
      highlight(ringId);
    });
    setInterval(() => { GG.$("#gg-clock").textContent = GG.fmtTime(serverNow(), {seconds: true}); }, 1000);
    GG.status(t("Loading…"));
    // The hotspot controls as the address sets them, before the first requests (a category, ?matter=, once the
    // catalogue is in).
    const select = GG.$("#hot-matter");
    if (params.get("days")) {
      const o = document.createElement("option");
      o.value = String(Number(params.get("days")) || 30);
      o.textContent = t("{n} days", {n: o.value});
      GG.$("#hot-window").appendChild(o);
      GG.$("#hot-window").value = o.value;
    }
    addModeSelect();
    // Everything that does not depend on something else is asked for at once: with a fixed resolution (?res=)
    // the hexagons too, for the whole county (with ?matter= they wait for the catalogue); villages (the largest
    // layer, hidden by default so the wall stays readable) only when someone switches them on. Cases and
    // hexagons are drawn once the county's outline has set the view.
    const casesP = GG.api("/wall/cases");
    const earlyHex = fixedRes && hotAtStart && !params.get("matter") ? askHotspots(true) : null;
    const refP = GG.loadReference();
    const unitsP = GG.loadUnits(["county", "township", "zone"]);
    groups.village.remove();
    map.on("overlayadd", (e) => { if (e.layer === groups.village) loadVillages().catch((err) => GG.status(err.message, "error")); });
    await refP;
    Object.values(GG.ref.matters).forEach((m) => {
      const o = document.createElement("option");
      o.value = m.code;
      o.textContent = m.name;
      select.appendChild(o);
    });
    if (params.get("matter")) select.value = params.get("matter");
    const units = await unitsP;
    Object.assign(byCode, units.byCode);
    GG.unitLayer(units.layers.county, byCode, {fill: 0, weight: 3, line: "#333"}).addTo(groups.county);
    GG.unitLayer(units.layers.township, byCode, {fill: 0.1, weight: 2, label: true}).addTo(groups.township);
    GG.unitLayer(units.layers.zone, byCode, {fill: 0.05, weight: 2, dash: "6 4"}).addTo(groups.zone);
    const county = L.geoJSON(units.layers.county);
    if (county.getLayers().length) map.fitBounds(county.getBounds(), {animate: false, padding: [6, 6]});
    performance.mark("gg-wall-units");
    // Without a fixed resolution the hexagons' resolution and box follow the view: asked for now it is set.
    const hotP = drawHotspots(earlyHex || askHotspots(false)).then(() => performance.mark("gg-wall-hexes"));
    const feed = await casesP;
    performance.mark("gg-wall-feed");
    applyCases(feed);
    performance.mark("gg-wall-cases");
    await hotP;
    if (GG.$("#hot-matter").value) loadSites().catch((e) => GG.status(e.message, "error"));
    map.on("zoomend moveend", () => { clearTimeout(GG._hotTimer); GG._hotTimer = setTimeout(() => loadHotspots().catch((e) => GG.status(e.message, "error")), 250); });
    ["#hot-matter", "#hot-window", "#hot-on", "#hot-mode"].forEach((s) => GG.$(s).addEventListener("change", () => loadHotspots().catch((e) => GG.status(e.message, "error"))));
    ["#hot-matter", "#hot-window"].forEach((s) => GG.$(s).addEventListener("change", () => loadSites().catch((e) => GG.status(e.message, "error"))));
    GG.$("#hot-coal").addEventListener("click", () => {
      const coal = GG.coalMatter();
      if (coal) GG.$("#hot-matter").value = coal;
      GG.$("#hot-on").checked = true;
      loadHotspots().catch((e) => GG.status(e.message, "error"));
      loadSites().catch((e) => GG.status(e.message, "error")); // the drying yards themselves, listed
    });
    const every = 1000 * (ctx.config.refresh_seconds || 5);
    setInterval(() => poll().then(() => GG.status(t("Updated") + " " + GG.fmtTime(serverNow(), {time: true, seconds: true}), "ok"))
      .catch((e) => GG.status(t("Update failed: {error}", {error: e.message}), "error")), every);
    GG.status(t("{n} cases", {n: cases.size}), "ok");
    performance.mark("gg-interactive");
    GG.ready = true;
    document.body.dataset.ready = "1";
  };
})();
