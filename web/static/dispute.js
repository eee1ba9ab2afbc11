/* The dispute view: click a point or draw a polygon; every containing unit, the matching rules, the winner and
   why, the distance to the boundary, or each unit's and team's share of the area — as of a chosen date. */
;(function () {
  "use strict";
  const GG = window.GG;
  const t = GG.t;
  let map, groups, byCode = {};
  const unitName = (code) => (byCode[code] ? byCode[code].name + " (" + code + ")" : code);

  const when = () => GG.$("#dq-date").value;
  const matter = () => GG.$("#dq-matter").value;

  function rulesList(rules, winner) {
    if (!rules || !rules.length) return "<p>" + GG.esc(t("No rule matches")) + "</p>";
    return '<ol class="gg-events">' + rules.map((r) => "<li" + (winner && r.code === winner.code ? ' class="gg-ok"' : "") + ' data-rule="' + GG.esc(r.code) + '">' +
      GG.esc(GG.teamName(r.team)) + " · " + GG.esc(t("priority {n}", {n: r.priority})) +
      (r.legal_basis ? ' · <span class="gg-data">' + GG.esc(r.legal_basis) + "</span>" : "") + " · " + GG.esc(r.code) + "</li>").join("") + "</ol>";
  }

  let last = null; // the last question asked, to ask again when the date changes
  let drawing = 0;

  /** The boundaries in force on the chosen date (a dispute about last year is argued on last year's map). */
  async function drawUnits() {
    const ticket = ++drawing;
    const day = when();
    let units;
    try {
      units = await GG.loadUnits(["county", "township", "village", "grid", "zone"], null, day);
    } catch (e) {
      if (ticket === drawing) { // no version in force that day: no map of another day's boundaries either
        ["township", "village", "grid", "zone"].forEach((g) => groups[g].clearLayers());
        document.body.dataset.unitsVersion = "";
        document.body.dataset.unitsDay = day;
      }
      throw e;
    }
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

  async function point(latlng) {
    last = () => point(latlng);
    const ticket = ++asked;
    groups.query.clearLayers();
    L.marker(latlng).addTo(groups.query);
    document.body.dataset.point = latlng.lat.toFixed(7) + "," + latlng.lng.toFixed(7);
    const box = GG.$("#dq-result");
    box.textContent = "…";
    try {
      const q = "lat=" + latlng.lat.toFixed(7) + "&lon=" + latlng.lng.toFixed(7) + "&at=" + when();
      const [at, route] = await Promise.all([
        GG.api("/jurisdictions/at?" + q),
        GG.api("/route", {method: "POST", json: {matter: matter(), lat: latlng.lat, lon: latlng.lng, at: when()}}),
      ]);
      if (ticket !== asked) return; // a newer question (another date or place) answers instead
      const d = route.decisions[0];
      box.innerHTML = '<dl class="gg-kv">' +
        "<dt>" + GG.esc(t("Point")) + "</dt><dd>" + latlng.lat.toFixed(6) + ", " + latlng.lng.toFixed(6) + "</dd>" +
        "<dt>" + GG.esc(t("As of")) + "</dt><dd>" + GG.esc(route.day) + " · " + GG.esc(t("Version #{id}", {id: route.version.id})) + " " + GG.esc(route.version.name || "") + "</dd>" +
        '<dt>' + GG.esc(t("Responsible")) + '</dt><dd id="dq-team" data-team="' + GG.esc(d.team) + '"><b>' + GG.esc(d.team_name) + "</b>" +
        (d.co_owners && d.co_owners.length ? " + " + GG.esc(d.co_owners.map(GG.teamName).join("、")) : "") + "</dd>" +
        '<dt>' + GG.esc(t("Finding")) + '</dt><dd class="' + (d.status === "ok" ? "gg-ok" : "gg-bad") + '">' + GG.esc(GG.term("routing_status", d.status)) + (d.candidates && d.candidates.length ? " · " + GG.esc(d.candidates.map(GG.teamName).join(" / ")) : "") + "</dd>" +
        "<dt>" + GG.esc(t("Reason")) + "</dt><dd>" + GG.esc(d.reason) + "</dd>" +
        '<dt>' + GG.esc(t("To the boundary")) + '</dt><dd id="dq-distance">' + GG.esc(GG.distance(at.distance_to_boundary_m)) + (at.on_boundary ? " · " + GG.esc(t("on the boundary")) : "") + "</dd></dl>" +
        "<h3>" + GG.esc(t("Containing units")) + "</h3><ul class=\"gg-list\" id=\"dq-units\">" + at.units.map((u) => '<li data-code="' + GG.esc(u.code) + '">' + GG.esc(GG.term("layer", u.layer)) + " · " + GG.esc(u.name) + " (" + GG.esc(u.code) + ")" + (u.selected ? "" : " · " + GG.esc(t("not selected"))) + "</li>").join("") + "</ul>" +
        "<h3>" + GG.esc(t("Matching rules")) + "</h3>" + rulesList(d.matched_rules, d.winning_rule);
      document.body.dataset.answered = String(Number(document.body.dataset.answered || 0) + 1);
    } catch (e) {
      if (ticket === asked) box.textContent = e.message;
    }
  }

  async function area(layer) {
    last = () => area(layer);
    const ticket = ++asked;
    const box = GG.$("#dq-result");
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
      document.body.dataset.answered = String(Number(document.body.dataset.answered || 0) + 1);
    } catch (e) {
      if (ticket === asked) box.textContent = e.message;
    }
  }

  GG.pages.dispute = async function (ctx) {
    map = ctx.map;
    groups = ctx.groups;
    document.body.classList.add("gg-page-dispute");
    map.invalidateSize();
    GG.$("#dq-date").value = GG.isoDay(new Date());
    await GG.loadReference();
    const select = GG.$("#dq-matter");
    Object.values(GG.ref.matters).forEach((m) => {
      const o = document.createElement("option");
      o.value = m.code;
      o.textContent = m.name;
      select.appendChild(o);
    });
    groups.grid.remove();
    // Listeners first: a day with no version in force still leaves the page usable (pick another date).
    GG.$("#dq-date").addEventListener("change", async () => {
      try {
        await drawUnits();
      } catch (e) { GG.status(e.message, "error"); }
      if (last) await last(); // the same question, asked again for the new date (its answer may be "none")
    });
    map.on("click", (ev) => { if (!map.pm.globalDrawModeEnabled()) point(ev.latlng); });
    try {
      const units = await drawUnits();
      const county = L.geoJSON(units.layers.county);
      if (county.getLayers().length) map.fitBounds(county.getBounds(), {animate: false});
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
