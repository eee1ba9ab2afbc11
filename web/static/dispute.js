/* The dispute view: click a point or draw a polygon; every containing unit, the matching rules, the winner and
   why, the distance to the boundary, or each unit's and team's share of the area — as of a chosen date; for one
   matter or for every matter at once (grouped by who is responsible); and the lookup's result sheet, to print or
   to file as a PDF. */
;(function () {
  "use strict";
  const GG = window.GG;
  const t = GG.t;
  const EVERY = "*"; // the matter choice "every matter, grouped by who is responsible"
  let map, groups, byCode = {}, published = [];
  const unitName = (code) => (byCode[code] ? byCode[code].name + " (" + code + ")" : code);

  const when = () => GG.$("#dq-date").value;
  const matter = () => GG.$("#dq-matter").value;

  function rulesList(rules, winner) {
    if (!rules || !rules.length) return "<p>" + GG.esc(t("No rule matches")) + "</p>";
    return '<ol class="gg-events">' + rules.map((r) => "<li" + (winner && r.code === winner.code ? ' class="gg-ok"' : "") + ' data-rule="' + GG.esc(r.code) + '">' +
      GG.esc(GG.teamName(r.team)) + " · " + GG.esc(t("priority {n}", {n: r.priority})) +
      (r.legal_basis ? ' · <span class="gg-data">' + GG.esc(r.legal_basis) + "</span>" : "") + " · " + GG.esc(r.code) + "</li>").join("") + "</ol>";
  }

  // ---- which boundaries a date has --------------------------------------------------------------------------
  /** The published version in force on a day (YYYY-MM-DD), from the list the page keeps: none before the first. */
  function versionOn(day) {
    return published.find((v) => v.effective_from <= day && (!v.effective_to || day < v.effective_to)) || null;
  }
  const firstDay = () => (published.length ? published.map((v) => v.effective_from).sort()[0] : null);
  /** Why a day has no answer, in the reader's words (asked before any request, so nothing fails in the console). */
  function noVersion(day) {
    const first = firstDay();
    return first ? t("No boundaries were in force on {day}: the first version took effect on {first}. Choose {first} or later.", {day: day, first: first})
      : t("No boundary version is published yet.");
  }
  async function loadVersions() {
    published = (await GG.api("/versions")).filter((v) => v.status === "published" && v.effective_from);
    const first = firstDay();
    if (first) GG.$("#dq-date").min = first;
    GG.$("#dq-first").textContent = first ? t("Boundaries on record from {first}", {first: first}) : "";
  }

  let last = null; // the last question asked, to ask again when the date or the matter changes
  let drawing = 0;

  function clearUnits(day) {
    ["township", "village", "grid", "zone"].forEach((g) => groups[g].clearLayers());
    document.body.dataset.unitsVersion = "";
    document.body.dataset.unitsDay = day;
  }

  /** The boundaries in force on the chosen date (a dispute about last year is argued on last year's map). */
  async function drawUnits() {
    const ticket = ++drawing;
    const day = when();
    if (!versionOn(day)) { // no version in force that day: no map of another day's boundaries either
      clearUnits(day);
      throw new Error(noVersion(day));
    }
    const units = await GG.loadUnits(["county", "township", "village", "grid", "zone"], null, day);
    if (ticket !== drawing) return units; // a later date was picked meanwhile: its answer draws
    byCode = units.byCode;
    ["township", "village", "grid", "zone"].forEach((g) => groups[g].clearLayers());
    GG.unitLayer(units.layers.township, units.byCode, {fill: 0.05, weight: 3, label: true}).addTo(groups.township);
    GG.unitLayer(units.layers.village, units.byCode, {fill: 0.1, weight: 1}).addTo(groups.village);
    GG.unitLayer(units.layers.grid, units.byCode, {fill: 0.03, weight: 1, dash: "3 3"}).addTo(groups.grid);
    GG.unitLayer(units.layers.zone, units.byCode, {fill: 0.05, weight: 2, dash: "6 4"}).addTo(groups.zone);
    const first = units.layers.township.features[0];
    document.body.dataset.unitsVersion = first ? String(first.properties.version) : "";
    document.body.dataset.unitsDay = day;
    return units;
  }

  let asked = 0; // each question's ticket: only the newest one's answer is shown
  let sheetQuery = null; // the point question the result sheet answers

  function answered() {
    document.body.dataset.answered = String(Number(document.body.dataset.answered || 0) + 1);
  }

  function placeRows(latlng, at, version, day) {
    return "<dt>" + GG.esc(t("Point")) + "</dt><dd>" + latlng.lat.toFixed(6) + ", " + latlng.lng.toFixed(6) + "</dd>" +
      "<dt>" + GG.esc(t("As of")) + "</dt><dd>" + GG.esc(day) + " · " + GG.esc(t("Version #{id}", {id: version.id})) + " " + GG.esc(version.name || "") + "</dd>" +
      '<dt>' + GG.esc(t("To the boundary")) + '</dt><dd id="dq-distance">' + GG.esc(GG.distance(at.distance_to_boundary_m)) + (at.on_boundary ? " · " + GG.esc(t("on the boundary")) : "") + "</dd>";
  }
  function unitsList(at) {
    return "<h3>" + GG.esc(t("Containing units")) + "</h3><ul class=\"gg-list\" id=\"dq-units\">" + at.units.map((u) => '<li data-code="' + GG.esc(u.code) + '">' + GG.esc(GG.term("layer", u.layer)) + " · " + GG.esc(u.name) + " (" + GG.esc(u.code) + ")" + (u.selected ? "" : " · " + GG.esc(t("not selected"))) + "</li>").join("") + "</ul>";
  }
  const teamsOf = (g) => GG.esc(g.team_name) + (g.co_owners.length ? " + " + GG.esc(g.co_owners.map((c) => c.name).join("、")) : "");

  async function point(latlng) {
    last = () => point(latlng);
    const ticket = ++asked;
    groups.query.clearLayers();
    L.marker(latlng).addTo(groups.query);
    document.body.dataset.point = latlng.lat.toFixed(7) + "," + latlng.lng.toFixed(7);
    const box = GG.$("#dq-result");
    GG.$("#dq-sheet-actions").hidden = true;
    sheetQuery = null;
    if (!versionOn(when())) { box.textContent = noVersion(when()); answered(); return; }
    box.textContent = "…";
    const q = "lat=" + latlng.lat.toFixed(7) + "&lon=" + latlng.lng.toFixed(7) + "&at=" + when();
    try {
      if (matter() === EVERY) {
        const [at, sheet] = await Promise.all([GG.api("/jurisdictions/at?" + q), GG.api("/disputes/sheet?" + q)]);
        if (ticket !== asked) return;
        box.innerHTML = '<dl class="gg-kv">' + placeRows(latlng, at, sheet.version, sheet.day) + "</dl>" +
          "<h3>" + GG.esc(t("Responsible, by matter")) + '</h3><table class="gg-table gg-wrap" id="dq-groups"><thead><tr><th>' + GG.esc(t("Team")) + "</th><th>" +
          GG.esc(t("Finding")) + "</th><th>" + GG.esc(t("Matters")) + "</th></tr></thead><tbody>" +
          sheet.groups.map((g) => '<tr data-team="' + GG.esc(g.team) + '" data-matters="' + g.matters.length + '"><td><b>' + teamsOf(g) + "</b>" +
            (g.rule && g.rule.legal_basis ? '<br><span class="gg-small gg-data">' + GG.esc(g.rule.legal_basis) + "</span>" : "") + "</td><td class=\"" +
            (g.status === "ok" ? "gg-ok" : "gg-bad") + '">' + GG.esc(GG.term("routing_status", g.status)) + "</td><td>" +
            "<details><summary>" + GG.esc(t("{n} matter(s)", {n: g.matters.length})) + "</summary>" + GG.esc(g.matters.map((m) => m.name).join("、")) + "</details></td></tr>").join("") +
          "</tbody></table>" + unitsList(at);
      } else {
        const [at, route] = await Promise.all([
          GG.api("/jurisdictions/at?" + q),
          GG.api("/route", {method: "POST", json: {matter: matter(), lat: latlng.lat, lon: latlng.lng, at: when()}}),
        ]);
        if (ticket !== asked) return; // a newer question (another date or place) answers instead
        const d = route.decisions[0];
        box.innerHTML = '<dl class="gg-kv">' + placeRows(latlng, at, route.version, route.day) +
          '<dt>' + GG.esc(t("Responsible")) + '</dt><dd id="dq-team" data-team="' + GG.esc(d.team) + '"><b>' + GG.esc(d.team_name) + "</b>" +
          (d.co_owners && d.co_owners.length ? " + " + GG.esc(d.co_owners.map(GG.teamName).join("、")) : "") + "</dd>" +
          '<dt>' + GG.esc(t("Finding")) + '</dt><dd class="' + (d.status === "ok" ? "gg-ok" : "gg-bad") + '">' + GG.esc(GG.term("routing_status", d.status)) + (d.candidates && d.candidates.length ? " · " + GG.esc(d.candidates.map(GG.teamName).join(" / ")) : "") + "</dd>" +
          "<dt>" + GG.esc(t("Reason")) + "</dt><dd>" + GG.esc(d.reason) + "</dd></dl>" +
          unitsList(at) + "<h3>" + GG.esc(t("Matching rules")) + "</h3>" + rulesList(d.matched_rules, d.winning_rule);
      }
      sheetQuery = q + (matter() === EVERY ? "" : "&matter=" + encodeURIComponent(matter()));
      GG.$("#dq-sheet-actions").hidden = false;
      answered();
    } catch (e) {
      if (ticket === asked) box.textContent = e.message;
    }
  }

  async function area(layer) {
    last = () => area(layer);
    const ticket = ++asked;
    const box = GG.$("#dq-result");
    GG.$("#dq-sheet-actions").hidden = true;
    sheetQuery = null;
    if (!versionOn(when())) { box.textContent = noVersion(when()); answered(); return; }
    if (matter() === EVERY) { box.textContent = t("An area is answered for one matter: choose it above."); answered(); return; }
    box.textContent = "…";
    try {
      const r = await GG.api("/disputes/area", {method: "POST", json: {geometry: layer.toGeoJSON(false).geometry, matter: matter(), at: when()}});
      if (ticket !== asked) return;
      const pct = (s) => (100 * s).toFixed(2) + "%";
      box.innerHTML = "<p>" + GG.esc(t("Area")) + " " + (r.area_m2 != null ? GG.esc(GG.area(Number(r.area_m2))) : "") + " · " + GG.esc(r.day || when()) + "</p>" +
        '<table class="gg-table" id="dq-team-shares"><thead><tr><th>' + GG.esc(t("Team")) + "</th><th>" + GG.esc(t("Area")) + "</th><th>" + GG.esc(t("Share")) + "</th></tr></thead><tbody>" +
        r.teams.map((x) => '<tr data-team="' + GG.esc(x.team) + '" data-m2="' + x.area_m2 + '"><td>' + GG.esc(x.name) + "</td><td>" + GG.esc(GG.area(x.area_m2)) + "</td><td>" + pct(x.share) + "</td></tr>").join("") + "</tbody></table>" +
        '<table class="gg-table"><thead><tr><th>' + GG.esc(t("Unit")) + "</th><th>" + GG.esc(t("Area")) + "</th><th>" + GG.esc(t("Share")) + "</th></tr></thead><tbody>" +
        r.units.map((u) => '<tr data-code="' + GG.esc(u.code) + '" data-m2="' + u.area_m2 + '"><td>' + GG.esc(GG.term("layer", u.layer) + " " + unitName(u.code)) + "</td><td>" + GG.esc(GG.area(u.area_m2)) + "</td><td>" + pct(u.share) + "</td></tr>").join("") + "</tbody></table>" +
        "<p>" + Object.entries(r.status || {}).map(([s, v]) => GG.esc(GG.term("routing_status", s)) + " " + pct(v)).join(" · ") + "</p>";
      answered();
    } catch (e) {
      if (ticket === asked) box.textContent = e.message;
    }
  }

  // ---- the result sheet --------------------------------------------------------------------------------------
  /** The sheet for the last point question, drawn into #dq-sheet (what the print stylesheet prints). */
  async function prepareSheet() {
    const s = await GG.api("/disputes/sheet?" + sheetQuery);
    const v = s.version;
    const row = (k, val) => "<tr><th>" + GG.esc(k) + "</th><td>" + val + "</td></tr>";
    const asker = s.asked_by;
    GG.$("#dq-sheet").innerHTML = "<h1>" + GG.esc(t("Jurisdiction lookup result sheet")) + "</h1>" +
      '<p class="gg-sheet-sub">' + GG.esc(t("GridGov · who is responsible for this place, as of the date asked")) + "</p>" +
      '<table id="dq-sheet-facts">' +
      row(t("Place"), GG.esc(s.place.lat.toFixed(6) + ", " + s.place.lon.toFixed(6)) + " (WGS84)") +
      row(t("As of"), '<span data-field="day">' + GG.esc(s.day) + "</span>") +
      row(t("Boundaries in force"), '<span data-field="version">' + GG.esc(t("Version #{id}", {id: v.id})) + "</span> " + GG.esc(v.name) + " · " + GG.esc(v.effective_from || "—") + " — " + GG.esc(v.effective_to || t("open-ended"))) +
      row(t("Matter"), GG.esc(s.matter_name || t("Every matter (grouped by who is responsible)"))) +
      row(t("To the boundary"), GG.esc(GG.distance(s.place.distance_to_boundary_m)) + (s.place.on_boundary ? " · " + GG.esc(t("on the boundary")) : "")) +
      row(t("Asked by"), '<span data-field="asker">' + GG.esc(asker.display_name + " (" + asker.username + ", " + GG.term("role", asker.role) + ")") + "</span>") +
      row(t("Asked at"), '<span data-field="asked-at">' + GG.esc(GG.fmtTime(s.asked_at)) + "</span>") + "</table>" +
      "<h2>" + GG.esc(t("Containing units")) + '</h2><table id="dq-sheet-units"><tr><th>' + GG.esc(t("Layer")) + "</th><th>" + GG.esc(t("Name")) + "</th><th>" + GG.esc(t("Code")) + "</th></tr>" +
      s.place.units.map((u) => '<tr data-code="' + GG.esc(u.code) + '"><td>' + GG.esc(GG.term("layer", u.layer)) + "</td><td>" + GG.esc(u.name) + "</td><td>" + GG.esc(u.code) + "</td></tr>").join("") + "</table>" +
      "<h2>" + GG.esc(t("Responsible")) + '</h2><table id="dq-sheet-teams"><tr><th>' + GG.esc(t("Team")) + "</th><th>" + GG.esc(t("Finding")) + "</th><th>" + GG.esc(t("Matters")) + "</th><th>" + GG.esc(t("Basis")) + "</th></tr>" +
      s.groups.map((g) => '<tr data-team="' + GG.esc(g.team) + '"><td>' + teamsOf(g) + " (" + GG.esc(g.team) + ")</td><td>" + GG.esc(GG.term("routing_status", g.status)) + "</td><td>" +
        GG.esc(t("{n} matter(s)", {n: g.matters.length}) + ": " + g.matters.map((m) => m.name).join("、")) + "</td><td>" +
        GG.esc((g.rule && g.rule.legal_basis ? g.rule.legal_basis + " · " : "") + g.reason) + "</td></tr>").join("") + "</table>" +
      '<p class="gg-sheet-note">' + GG.esc(t("This sheet records the lookup's answer; it is not a ruling. A dispute is settled by the arbiter's ruling.")) + "</p>";
    document.body.classList.add("gg-sheet-ready");
    document.body.dataset.sheet = sheetQuery;
    return s;
  }

  /** The same sheet as a PDF from the server, saved by the browser (fetched with the sign-in, as a file). */
  async function downloadPdf() {
    const headers = {"Accept-Language": GG.lang};
    const token = localStorage.getItem("gg.token");
    if (token) headers.Authorization = "Bearer " + token;
    const r = await fetch("/disputes/sheet?" + sheetQuery + "&format=pdf", {headers: headers});
    if (!r.ok) throw new Error(GG.message(await r.json().catch(() => null), r.status + " " + r.statusText));
    const url = URL.createObjectURL(await r.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = (/filename="([^"]+)"/.exec(r.headers.get("content-disposition") || "") || [null, "gridgov-sheet.pdf"])[1];
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  function matterChoices() {
    const select = GG.$("#dq-matter");
    const every = document.createElement("option");
    every.value = EVERY;
    every.textContent = t("Every matter (grouped by who is responsible)");
    select.appendChild(every);
    GG.matterOptions(select);
    select.value = EVERY; // no arbitrary first matter: every matter, until one is chosen
  }

  GG.pages.dispute = async function (ctx) {
    map = ctx.map;
    groups = ctx.groups;
    document.body.classList.add("gg-page-dispute");
    map.invalidateSize();
    GG.$("#dq-date").value = GG.isoDay(new Date());
    await Promise.all([GG.loadReference(), loadVersions()]);
    matterChoices();
    groups.grid.remove();
    // Listeners first: a day with no version in force still leaves the page usable (pick another date).
    GG.$("#dq-date").addEventListener("change", async () => {
      try {
        await drawUnits();
        GG.status(t("Boundaries in force on {day}", {day: when()}), "ok"); // the last day's refusal goes
      } catch (e) { GG.status(e.message, "error"); }
      if (last) await last(); // the same question, asked again for the new date (its answer may be "none")
    });
    GG.$("#dq-matter").addEventListener("change", () => { if (last) last(); });
    GG.$("#dq-print").addEventListener("click", () => prepareSheet().then(() => window.print()).catch((e) => GG.status(e.message, "error")));
    GG.$("#dq-pdf").addEventListener("click", () => downloadPdf().catch((e) => GG.status(e.message, "error")));
    map.on("click", (ev) => { if (!map.pm.globalDrawModeEnabled()) point(ev.latlng); });
    try {
      const units = await drawUnits();
      const county = L.geoJSON(units.layers.county);
      if (county.getLayers().length) map.fitBounds(county.getBounds(), {animate: false, padding: [8, 8]});
    } catch (e) { GG.status(e.message, "error"); }
    map.pm.addControls({position: "topleft", drawMarker: false, drawCircleMarker: false, drawPolyline: false, drawCircle: false,
      drawText: false, editMode: false, dragMode: false, cutPolygon: false, removalMode: true, rotateMode: false});
    map.on("pm:create", (ev) => {
      groups.query.clearLayers();
      ev.layer.addTo(groups.query);
      area(ev.layer);
    });
    GG.ready = true;
    document.body.dataset.ready = "1";
  };
})();
