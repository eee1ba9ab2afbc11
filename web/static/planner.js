/* The planner page: pick or start a draft, move villages between townships and H3 cells between units, edit
   boundaries with snapping, see topology problems on the map, preview the impact, publish with a date. */
;(function () {
  "use strict";
  const GG = window.GG;
  const t = GG.t;
  // A version's status (the API's code) in the page's language.
  const versionStatus = (s) => GG.term("version_status", s); // i18n/terms.py, shared with the API and CLI
  const unitName = (code) => (units && units.byCode[code] ? units.byCode[code].name : code);
  let map, groups, draft = null, units = null, cellIndex = {}, editing = null, allVersions = [];
  const leafletOf = {}; // unit code -> its Leaflet layer (to select a unit chosen from a list)

  // ---- one action at a time -----------------------------------------------------------------------------
  // A move, a preview or a validation takes seconds on a county: while one runs, the panel says so and its
  // buttons wait, so no second action starts from a state the first is changing and no late answer of an
  // earlier action overwrites the newer one's message (each action's messages carry its ticket).
  let busyWith = null, ticket = 0;
  function setBusy(label) {
    const panel = GG.$("#gg-panel");
    busyWith = label;
    panel.setAttribute("aria-busy", String(!!label));
    panel.querySelectorAll("button, select, input").forEach((el) => {
      if (label) { if (!el.disabled) { el.disabled = true; el.dataset.busyDisabled = "1"; } }
      else if (el.dataset.busyDisabled) { el.disabled = false; delete el.dataset.busyDisabled; }
    });
    if (label) { document.body.dataset.busy = label; GG.status(label, "busy"); } else delete document.body.dataset.busy;
    map.getContainer().style.cursor = label ? "progress" : "";
  }
  /** Run one action: the panel busy meanwhile, its message (or error) shown unless a newer action started. */
  async function run(label, action) {
    if (busyWith) { GG.status(t("Please wait: {what}", {what: busyWith}), "busy"); return undefined; }
    const mine = ++ticket;
    const started = performance.now();
    setBusy(label);
    try {
      const message = await action();
      if (mine === ticket) GG.status(message || "", message ? "ok" : "info");
      return message;
    } catch (e) {
      if (mine === ticket) GG.status(e.message, "error");
      return undefined;
    } finally {
      if (mine === ticket) setBusy(null);
      document.body.dataset.lastActionMs = String(Math.round(performance.now() - started));
    }
  }

  const units_of = (layer) => (units ? units.layers[layer].features : []);

  async function versions() {
    const all = await GG.api("/versions");
    allVersions = all;
    const select = GG.$("#pl-version");
    const drafts = all.filter((v) => v.status !== "published").sort((a, b) => b.id - a.id);
    select.replaceChildren(...drafts.map((v) => {
      const o = document.createElement("option");
      o.value = v.id;
      o.textContent = "#" + v.id + " " + v.name + " (" + versionStatus(v.status) + ")";
      return o;
    }));
    const none = !drafts.length;
    ["#pl-rename", "#pl-delete"].forEach((s) => { GG.$(s).disabled = none; delete GG.$(s).dataset.busyDisabled; });
    return {all: all, drafts: drafts};
  }

  let preview = null; // the last impact preview, for the revision in body.dataset.impactRevision

  /** A preview describes one revision of the draft: once the draft moves on, it is gone until asked again. */
  function clearPreview() {
    preview = null;
    GG.$("#pl-impact-body").innerHTML = "";
    delete document.body.dataset.impact;
    delete document.body.dataset.impactRevision;
  }

  async function refreshDraft() {
    draft = await GG.api("/versions/" + draft.id);
    if (document.body.dataset.impactRevision && document.body.dataset.impactRevision !== String(draft.revision)) clearPreview();
    GG.$("#pl-version-info").textContent = t("Version #{id}", {id: draft.id}) + " · " + versionStatus(draft.status) + " · " +
      t("revision {n}", {n: draft.revision}) + (draft.based_on ? " · " + t("based on #{id}", {id: draft.based_on}) : "");
    document.body.dataset.version = String(draft.id);
    document.body.dataset.revision = String(draft.revision);
  }

  async function open(id) {
    delete document.body.dataset.problems; // set again once this draft's layers and checks are in
    clearPreview(); // another draft's preview says nothing of this one
    draft = {id: Number(id)};
    await refreshDraft();
    await loadLayers();
    await checkTopology();
  }

  async function loadLayers() {
    units = await GG.loadUnits(["county", "township", "village", "grid", "zone"], draft.id);
    ["township", "village", "grid", "zone", "cells"].forEach((g) => groups[g].clearLayers());
    const pick = (f, layer, ev) => select(f, layer, ev && ev.latlng);
    GG.unitLayer(units.layers.township, units.byCode, {fill: 0.05, weight: 3, label: true, onClick: pick}).addTo(groups.township);
    GG.unitLayer(units.layers.village, units.byCode, {fill: 0.15, weight: 1, onClick: pick}).addTo(groups.village);
    GG.unitLayer(units.layers.grid, units.byCode, {fill: 0.05, weight: 1, dash: "3 3", onClick: pick}).addTo(groups.grid);
    GG.unitLayer(units.layers.zone, units.byCode, {fill: 0.05, weight: 2, dash: "6 4", onClick: pick}).addTo(groups.zone);
    groups.grid.remove();
    Object.keys(leafletOf).forEach((k) => delete leafletOf[k]);
    ["township", "village", "grid", "zone"].forEach((g) => groups[g].eachLayer((gj) => gj.eachLayer((l) => { leafletOf[l.feature.properties.code] = l; })));
    const data = await GG.api("/cells?version=" + draft.id);
    cellIndex = {};
    data.cells.forEach((c) => {
      cellIndex[c.h] = c;
      const ring = [];
      c.ring = [];
      for (let i = 0; i < c.b.length; i += 2) { ring.push([c.b[i + 1], c.b[i]]); c.ring.push([c.b[i], c.b[i + 1]]); }
      if (c.ring.length) c.ring.push(c.ring[0]);
      L.polygon(ring, {weight: 1, color: "#555", fillColor: GG.teamColour(c.unit), fillOpacity: 0.35, pmIgnore: true})
        .bindTooltip(c.h + " · " + c.unit).on("click", (ev) => { L.DomEvent.stopPropagation(ev); selectCell(c, ev.latlng); })
        .addTo(groups.cells);
    });
    if (!GG._fitted) {
      const county = L.geoJSON(units.layers.county);
      if (county.getLayers().length) map.fitBounds(county.getBounds(), {animate: false});
      GG._fitted = true;
    }
  }

  function option(value, text, selected) {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = text;
    o.selected = !!selected;
    return o;
  }

  /** PUT a unit change on the draft at its current revision. */
  function putUnit(code, feature) {
    return draftCall(() => GG.api("/versions/" + draft.id + "/units/" + encodeURIComponent(code) + "?revision=" + draft.revision,
      {method: "PUT", json: feature}));
  }

  /** An edit of the draft; a 409 (someone else changed it) reloads the draft and says so. */
  async function draftCall(call) {
    try {
      return await call();
    } catch (e) {
      if (e.status === 409 && e.where === "revision") { // stale, not refused for a reason of its own
        await refreshDraft();
        await loadLayers();
        throw new Error(t("The draft changed meanwhile and was reloaded: {error}", {error: e.message}));
      }
      throw e;
    } finally {
      await refreshDraft();
    }
  }

  async function afterEdit(message) {
    GG.$("#pl-selection").innerHTML = "";
    clearPreview();
    await loadLayers();
    await checkTopology();
    return message;
  }

  // ---- what lies under a click ----------------------------------------------------------------------------
  // Leaflet gives a click to the top layer only (H3 cells over zones over villages over townships): the panel
  // lists everything else under the click, so a village under a zone or a cell can still be chosen.
  const STACK = ["cells", "zone", "grid", "village", "township"];
  function featuresAt(latlng) {
    const found = [];
    STACK.forEach((g) => {
      if (!map.hasLayer(groups[g])) return;
      if (g === "cells") {
        Object.values(cellIndex).forEach((c) => {
          if (c.ring && contains({type: "Polygon", coordinates: [c.ring]}, latlng)) found.push({cell: c, key: c.h});
        });
        return;
      }
      groups[g].eachLayer((gj) => gj.eachLayer((l) => {
        const f = l.feature;
        if (f.geometry && l.getBounds().contains(latlng) && contains(f.geometry, latlng)) found.push({feature: f, layer: l, key: f.properties.code});
      }));
    });
    return found;
  }

  function alsoHere(latlng, chosen) {
    if (!latlng) return;
    const others = featuresAt(latlng).filter((x) => x.key !== chosen);
    if (!others.length) return;
    const row = document.createElement("div");
    row.className = "gg-row gg-here";
    row.id = "pl-here";
    const label = document.createElement("span");
    label.className = "gg-small";
    label.textContent = t("Also here:");
    row.appendChild(label);
    others.forEach((x) => {
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.code = x.key;
      b.textContent = x.cell ? "H3 " + x.cell.h.slice(0, 9) + "…" : GG.term("layer", x.feature.properties.layer) + " " + x.feature.properties.name;
      b.addEventListener("click", () => (x.cell ? selectCell(x.cell, latlng) : select(x.feature, x.layer, latlng)));
      row.appendChild(b);
    });
    GG.$("#pl-selection").appendChild(row);
  }

  // ---- neighbours -------------------------------------------------------------------------------------------
  const EPS = 1e-6; // degrees (~0.1 m): boundaries that share edges share their vertices to this
  const rings = (g) => (g.type === "Polygon" ? g.coordinates : g.type === "MultiPolygon" ? g.coordinates.flat() : []);
  function segDist2(p, a, b) {
    const dx = b[0] - a[0], dy = b[1] - a[1];
    const len = dx * dx + dy * dy;
    const k = len ? Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len)) : 0;
    const x = a[0] + k * dx - p[0], y = a[1] + k * dy - p[1];
    return x * x + y * y;
  }
  /** Whether two (Multi)Polygons touch: a vertex of one lies on (within EPS of) an edge of the other. */
  function touches(ga, gb) {
    if (!ga || !gb) return false;
    const ba = L.geoJSON(ga).getBounds().pad(0.001), bb = L.geoJSON(gb).getBounds();
    if (!ba.intersects(bb)) return false;
    return onEdges(ga, gb) || onEdges(gb, ga);
  }
  /** Whether a vertex of `ga` lies on an edge of `gb`. */
  function onEdges(ga, gb) {
    const segs = [];
    rings(gb).forEach((r) => { for (let i = 1; i < r.length; i++) segs.push([r[i - 1], r[i]]); });
    const near = (p) => segs.some(([a, b]) => p[0] >= Math.min(a[0], b[0]) - EPS && p[0] <= Math.max(a[0], b[0]) + EPS &&
      p[1] >= Math.min(a[1], b[1]) - EPS && p[1] <= Math.max(a[1], b[1]) + EPS && segDist2(p, a, b) < EPS * EPS);
    return rings(ga).some((r) => r.some(near));
  }

  function select(f, layer, latlng) {
    if (busyWith || editing || map.pm.globalDrawModeEnabled()) return;
    const p = f.properties;
    const box = GG.$("#pl-selection");
    box.innerHTML = "<p><b>" + GG.esc(p.name) + "</b> " + GG.esc(p.code) + " · " + GG.esc(GG.term("layer", p.layer)) + " · " +
      GG.esc(t("Parent")) + " " + GG.esc(p.parent_code ? unitName(p.parent_code) : "—") + " · " + GG.esc(t("Team")) + " " + GG.esc(GG.teamName(p.team)) + "</p>";
    document.body.dataset.selected = p.code;
    if (p.layer === "village" || p.layer === "grid") {
      const parentLayer = p.layer === "village" ? "township" : "village";
      const row = document.createElement("div");
      row.className = "gg-row";
      const sel = document.createElement("select");
      sel.id = "pl-parent";
      // The parents it touches first (a move there keeps every unit in one piece), then the others, marked.
      const parents = units_of(parentLayer).filter((x) => x.properties.code !== p.parent_code);
      const near = new Set(parents.filter((x) => touches(f.geometry, x.geometry)).map((x) => x.properties.code));
      const label = (x) => x.properties.name + " · " + GG.teamName(GG.territoryTeam(x.properties, units.byCode));
      const group = (text, list, kind) => {
        const g = document.createElement("optgroup");
        g.label = text;
        g.dataset.kind = kind;
        list.forEach((x) => g.appendChild(option(x.properties.code, label(x))));
        return g;
      };
      const touching = parents.filter((x) => near.has(x.properties.code)), apart = parents.filter((x) => !near.has(x.properties.code));
      if (touching.length) sel.appendChild(group(t("Bordering {name}", {name: p.name}), touching, "touching"));
      if (apart.length) sel.appendChild(group(t("Not bordering it (the unit would be cut off)"), apart, "apart"));
      const go = document.createElement("button");
      go.type = "button";
      go.id = "pl-move";
      go.textContent = t("Move to");
      go.disabled = !parents.length;
      go.addEventListener("click", () => {
        const target = sel.value;
        if (!near.has(target) && !confirm(t("{unit} does not border {target}: after the move {target} would be in separate pieces. Move it anyway?",
          {unit: p.name, target: unitName(target)}))) { GG.status(t("Not moved"), "info"); return; }
        run(t("Moving {unit}…", {unit: p.name}), async () => {
          const r = await draftCall(() => GG.api("/versions/" + draft.id + "/units/" + encodeURIComponent(p.code) + "/assign?revision=" + draft.revision,
            {method: "POST", json: {parent_code: target}}));
          return afterEdit(p.name + " → " + unitName(target) + (r.redrawn.length ? " (" + t("redrawn: {units}", {units: r.redrawn.map(unitName).join("、")}) + ")" : ""));
        });
      });
      row.append(go, sel);
      box.appendChild(row);
    }
    if (layer && layer.pm && f.geometry) {
      const edit = document.createElement("button");
      edit.type = "button";
      edit.id = "pl-edit";
      edit.textContent = t("Edit boundary");
      edit.addEventListener("click", () => startEdit(f, layer, edit));
      box.appendChild(edit);
    }
    alsoHere(latlng, p.code);
  }

  function startEdit(f, layer, button) {
    editing = layer;
    layer.pm.enable({snappable: true, snapDistance: 20, allowSelfIntersection: false});
    button.textContent = t("Save boundary");
    button.id = "pl-save";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.textContent = t("Cancel");
    cancel.addEventListener("click", () => run(t("Loading…"), async () => { layer.pm.disable(); editing = null; await loadLayers(); GG.$("#pl-selection").innerHTML = ""; }));
    button.after(cancel);
    button.onclick = null;
    button.replaceWith(button.cloneNode(true));
    GG.$("#pl-save").addEventListener("click", () => {
      const geometry = layer.toGeoJSON(false).geometry; // no rounding: neighbours share these vertices exactly
      layer.pm.disable();
      editing = null;
      run(t("Saving {name}…", {name: f.properties.name}), async () => {
        try {
          await putUnit(f.properties.code, {type: "Feature", geometry: geometry, properties: {}});
        } catch (e) { await loadLayers(); throw e; }
        return afterEdit(t("Saved {name}", {name: f.properties.name}));
      });
    });
  }

  function selectCell(c, latlng) {
    if (busyWith || editing || map.pm.globalDrawModeEnabled()) return;
    const box = GG.$("#pl-selection");
    box.innerHTML = "<p>H3 <b>" + GG.esc(c.h) + "</b> · " + GG.esc(unitName(c.unit)) + " " + GG.esc(c.unit) + " (" + GG.esc(GG.term("layer", c.layer)) + ")</p>";
    document.body.dataset.selected = c.h;
    const targets = [...new Set(Object.values(cellIndex).filter((x) => x.layer === c.layer && x.unit !== c.unit).map((x) => x.unit))];
    const sel = document.createElement("select");
    sel.id = "pl-cell-target";
    targets.forEach((x) => sel.appendChild(option(x, unitName(x) + " · " + x)));
    const go = document.createElement("button");
    go.type = "button";
    go.id = "pl-move-cell";
    go.textContent = t("Move the cell to");
    go.addEventListener("click", () => run(t("Moving the cell…"), async () => {
      try {
        // One edit: the cell leaves its unit and joins the other at one revision (never in both, never in neither).
        await draftCall(() => GG.api("/versions/" + draft.id + "/cells/move?revision=" + draft.revision,
          {method: "POST", json: {cells: [c.h], to: sel.value}}));
      } catch (e) { await loadLayers(); throw e; }
      return afterEdit(c.h + " → " + sel.value);
    }));
    const row = document.createElement("div");
    row.className = "gg-row";
    row.append(go, sel);
    box.appendChild(row);
    alsoHere(latlng, c.h);
  }

  async function checkTopology() {
    const fc = await GG.api("/versions/" + draft.id + "/topology");
    groups.problems.clearLayers();
    const layer = L.geoJSON(fc, {
      pmIgnore: true,
      style: (f) => ({color: f.properties.severity === "error" ? "#d00" : "#e69500", weight: 3, fillOpacity: 0.5}),
      pointToLayer: (f, ll) => L.circleMarker(ll, {radius: 8, color: "#d00"}),
      onEachFeature: (f, l) => l.bindPopup(GG.esc(GG.term("check", f.properties.check) + ": " + f.properties.message)),
    }).addTo(groups.problems);
    const list = GG.$("#pl-problems");
    list.replaceChildren(...layer.getLayers().map((l) => {
      const p = l.feature.properties;
      const li = document.createElement("li");
      li.dataset.kind = p.check;
      li.innerHTML = '<b class="' + (p.severity === "error" ? "gg-bad" : "") + '">' + GG.esc(GG.term("severity", p.severity)) + "</b> " +
        GG.esc(GG.term("check", p.check)) + ": " + GG.esc(p.message);
      li.addEventListener("click", () => { map.fitBounds(l.getBounds ? l.getBounds() : L.latLngBounds([l.getLatLng()]), {maxZoom: 16}); l.openPopup(); });
      return li;
    }));
    GG.$("#pl-problem-count").textContent = fc.errors + " / " + fc.warnings;
    document.body.dataset.errors = String(fc.errors);
    document.body.dataset.problems = String(fc.features.length);
    return fc;
  }

  // What a drawn polygon may become: a zone (its parent is the county) or a grid (inside a village).
  const NEW_KINDS = {zone: ["urban_core", "dev_zone", "scenic_area", "relocated_village"], grid: ["grid"]};
  const PARENT_LAYER = {zone: "county", grid: "village"};

  /** A polygon just drawn (with snapping): name it and save it as a new unit of the draft. */
  function drawn(layer) {
    groups.problems.addLayer(layer); // shown until saved or dropped
    const box = GG.$("#pl-selection");
    box.innerHTML = '<form id="pl-new-unit" class="gg-kv"><dt>' + GG.esc(t("Code")) + '</dt><dd><input name="code" required pattern="[A-Za-z0-9_.:\\-]{1,64}"></dd>' +
      "<dt>" + GG.esc(t("Name")) + '</dt><dd><input name="name" required maxlength="200"></dd>' +
      "<dt>" + GG.esc(t("Layer")) + '</dt><dd><select name="layer"><option value="zone">' + GG.esc(GG.term("layer", "zone")) + '</option><option value="grid">' +
      GG.esc(GG.term("layer", "grid")) + "</option></select></dd>" +
      "<dt>" + GG.esc(t("Kind")) + '</dt><dd><select name="kind"></select></dd><dt>' + GG.esc(t("Parent")) + '</dt><dd><select name="parent"></select></dd>' +
      '<dt></dt><dd><button type="submit" id="pl-save-new">' + GG.esc(t("Save")) + '</button> <button type="button" id="pl-drop-new">' + GG.esc(t("Discard")) + "</button></dd></form>";
    const form = GG.$("#pl-new-unit");
    const fill = () => {
      const l = form.layer.value;
      form.kind.replaceChildren(...NEW_KINDS[l].map((k) => option(k, l === "grid" ? GG.term("layer", k) : GG.term("zone", k))));
      const centre = layer.getBounds().getCenter();
      const parents = units_of(PARENT_LAYER[l]);
      // Preselect the parent holding the polygon's centre.
      const inside = parents.find((f) => L.geoJSON(f).getBounds().contains(centre) && contains(f.geometry, centre));
      form.parent.replaceChildren(...parents.map((f) => option(f.properties.code, f.properties.name + " · " + f.properties.code, inside && f === inside)));
    };
    form.layer.addEventListener("change", fill);
    fill();
    GG.$("#pl-drop-new").addEventListener("click", () => { groups.problems.removeLayer(layer); box.innerHTML = ""; });
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const name = form.name.value, code = form.code.value;
      const body = {type: "Feature", geometry: layer.toGeoJSON(false).geometry, properties: {
        name: name, layer: form.layer.value, kind: form.kind.value, parent_code: form.parent.value}};
      run(t("Saving {name}…", {name: name}), async () => {
        await putUnit(code, body);
        groups.problems.removeLayer(layer);
        return afterEdit(t("Created {name} ({code})", {name: name, code: code}));
      });
    });
  }

  /** Whether a GeoJSON (Multi)Polygon holds a point (ray casting over every ring). */
  function contains(geometry, ll) {
    const polys = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
    return polys.some((rings) => rings.reduce((inside, ring) => {
      let c = false;
      for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        const [xi, yi] = ring[i], [xj, yj] = ring[j];
        if ((yi > ll.lat) !== (yj > ll.lat) && ll.lng < ((xj - xi) * (ll.lat - yi)) / (yj - yi) + xi) c = !c;
      }
      return inside !== c;
    }, false));
  }


  const versionLabel = (id) => {
    const v = allVersions.find((x) => x.id === id);
    return t("#{id} {name}", {id: id, name: v ? v.name : ""}).trim();
  };

  async function impact() {
    const day = GG.$("#pl-date").value;
    const asOf = day && day >= GG.isoDay(new Date()) ? "?day=" + day : ""; // the boundaries it would replace that day
    const revision = draft.revision;
    const r = await GG.api("/versions/" + draft.id + "/impact" + asOf);
    const gained = (m2) => "+" + GG.esc(GG.area(m2 || 0)), lost = (m2) => "−" + GG.esc(GG.area(m2 || 0));
    const rows = Object.entries(r.townships).map(([code, a]) => '<tr data-code="' + GG.esc(code) + '"><td>' + GG.esc(unitName(code)) + "</td><td>" + gained(a.gained_m2) + "</td><td>" + lost(a.lost_m2) + "</td></tr>").join("");
    const teams = r.teams ? Object.entries(r.teams).map(([code, a]) => '<tr data-team="' + GG.esc(code) + '"><td>' + GG.esc(GG.teamName(code)) + "</td><td>" + gained(a.gained_m2) + "</td><td>" + lost(a.lost_m2) + "</td></tr>").join("") : "";
    const load = Object.entries(r.workload).filter(([, w]) => w.open_now !== w.open_after)
      .map(([team, w]) => "<tr><td>" + GG.esc(GG.teamName(team)) + "</td><td>" + w.open_now + "</td><td>" + w.open_after + "</td></tr>").join("");
    const head = (...cols) => "<thead><tr>" + cols.map((c) => "<th>" + GG.esc(c) + "</th>").join("") + "</tr></thead>";
    GG.$("#pl-impact-body").innerHTML =
      '<p class="gg-compare" id="pl-compare" data-draft="' + r.draft + '" data-current="' + r.current + '" data-day="' + GG.esc(r.day) + '">' +
      GG.th(t("Draft {draft} (revision {revision}) compared with {current}, the version in force on {day}"), {
        draft: "<b>" + GG.esc(versionLabel(r.draft)) + "</b>", revision: GG.esc(revision),
        current: "<b>" + GG.esc(versionLabel(r.current)) + "</b>", day: "<b>" + GG.esc(r.day) + "</b>"}) + "</p>" +
      '<table class="gg-table">' + head(t("Township"), t("Gained"), t("Lost")) + "<tbody>" + (rows || '<tr><td colspan="3">' + GG.esc(t("No change")) + "</td></tr>") + "</tbody></table>" +
      (teams ? '<table class="gg-table">' + head(t("Team"), t("Gained"), t("Lost")) + "<tbody>" + teams + "</tbody></table>" : "") +
      "<p>" + GG.esc(t("Units moved")) + ": <b>" + r.units_moved.length + "</b> · " + GG.esc(t("H3 cells moved")) + ": <b>" + r.cells_moved + "</b></p>" +
      "<p>" + GG.esc(t("Open cases changing owner")) + ': <b id="pl-open-changes">' + r.open_cases_changing_owner.length + "</b>" +
      (r.open_cases_changing_owner.length ? " (" + r.open_cases_changing_owner.slice(0, 30).map((c) => "#" + c.case + " " + GG.esc(GG.teamName(c.team)) + "→" + GG.esc(GG.teamName(c.would_be)) +
        (c.on_reroute === "keep" ? " · " + GG.esc(t("kept: {reason}", {reason: c.kept_because})) : "")).join("、") + ")" : "") + "</p>" +
      "<p>" + GG.esc(t("Historical cases re-attributed")) + ": <b>" + GG.esc(typeof r.historical_cases_reattributed === "number" ? r.historical_cases_reattributed : JSON.stringify(r.historical_cases_reattributed)) + "</b></p>" +
      (load ? '<table class="gg-table">' + head(t("Workload"), t("Now"), t("After")) + "<tbody>" + load + "</tbody></table>" : "") +
      '<p class="gg-small">' + GG.esc(r.note) + "</p>";
    preview = r;
    document.body.dataset.impact = "1";
    document.body.dataset.impactRevision = String(draft.revision);
    return t("Impact of {draft} previewed", {draft: versionLabel(r.draft)});
  }

  /** Re-routing open cases is for a version taking effect today; the box is off for any other date. The note under
      the date says what the choice means, so nobody publishes from tomorrow meaning "now". */
  function rerouteAllowed() {
    const box = GG.$("#pl-reroute");
    const day = GG.$("#pl-date").value, today = GG.isoDay(new Date());
    box.disabled = day !== today;
    if (box.disabled) box.checked = false;
    const note = GG.$("#pl-date-note");
    note.dataset.kind = !day ? "none" : day === today ? "today" : day < today ? "past" : "later";
    note.textContent = !day ? t("Choose the day it takes effect: today (open cases can be re-routed at once) or a later day (they keep their team until a dispatcher moves them).")
      : day === today ? t("From today: tick the box to give the open cases the preview lists to their new team now.")
      : day < today ? t("A day in the past would rewrite which boundaries were in force: choose today or later.")
      : t("From {day}: until then nothing changes, and open cases keep their team (re-route them on that day).", {day: day});
  }

  function currentDraft() { return allVersions.find((v) => v.id === draft.id) || draft; }

  async function publish() {
    const day = GG.$("#pl-date").value;
    if (!day) throw new Error(t("Choose the day the version takes effect first"));
    // The revision the planner has on screen (and previewed): a draft changed since is a 409, not published.
    const reroute = GG.$("#pl-reroute").checked;
    const body = {effective_from: day, reroute_open_cases: reroute};
    if (reroute) {
      // Re-routing moves the cases a preview listed: that preview, of this very revision, and no other list.
      if (!preview || document.body.dataset.impactRevision !== String(draft.revision)) {
        throw new Error(t("Preview the impact first: re-routing moves exactly the cases it lists"));
      }
      body.expected_cases = preview.open_cases_changing_owner.map((c) => c.case);
    }
    const what = reroute ? t("{n} open case(s) the preview lists go to their new team now.", {n: body.expected_cases.length})
      : day === GG.isoDay(new Date()) ? t("Open cases keep their team (re-routing is not ticked).")
      : t("Open cases keep their team.");
    if (!confirm(t("Publish {draft} in force from {day}? The version in force now ends the day before. {what} A published version cannot be changed or deleted.",
      {draft: versionLabel(draft.id), day: day, what: what}))) return t("Not published");
    const v = await draftCall(() => GG.api("/versions/" + draft.id + "/publish?revision=" + draft.revision, {method: "POST", json: body}));
    let moved = "";
    if (v.reroute) {
      moved = " · " + t("re-routed {n}", {n: v.reroute.rerouted.length}) + " · " + t("kept {n}", {n: v.reroute.kept.length});
      document.body.dataset.rerouted = String(v.reroute.rerouted.length);
    }
    await versions();
    return t("Published #{id}, in force from {day}", {id: v.id, day: v.effective_from}) + moved;
  }

  async function rename() {
    const v = currentDraft();
    const name = prompt(t("New name of draft #{id}", {id: draft.id}), v.name || "");
    if (name === null) return t("Not renamed");
    const r = await GG.api("/versions/" + draft.id, {method: "PATCH", json: {name: name}});
    await versions();
    GG.$("#pl-version").value = String(draft.id);
    return t("Renamed #{id} to {name}", {id: r.id, name: r.name});
  }

  async function remove() {
    const v = currentDraft();
    if (!confirm(t("Delete draft {draft} and every edit in it? This cannot be undone.", {draft: versionLabel(draft.id)}))) return t("Not deleted");
    await GG.api("/versions/" + draft.id + "?revision=" + draft.revision, {method: "DELETE"});
    const name = v.name;
    const vs = await versions();
    clearPreview();
    GG.$("#pl-selection").innerHTML = "";
    if (vs.drafts.length) await open(vs.drafts[0].id);
    else {
      draft = null;
      ["township", "village", "grid", "zone", "cells", "problems"].forEach((g) => groups[g].clearLayers());
      GG.$("#pl-problems").innerHTML = "";
      GG.$("#pl-version-info").textContent = t("No draft yet: start one");
      delete document.body.dataset.version;
    }
    return t("Deleted draft #{id} {name}", {id: v.id, name: name});
  }

  GG.pages.planner = async function (ctx) {
    map = ctx.map;
    groups = ctx.groups;
    document.body.classList.add("gg-page-planner");
    map.invalidateSize();
    map.pm.setGlobalOptions({snappable: true, snapDistance: 20});
    map.pm.addControls({position: "topleft", drawMarker: false, drawCircleMarker: false, drawPolyline: false, drawCircle: false,
      drawText: false, editMode: false, dragMode: false, cutPolygon: false, removalMode: false, rotateMode: false});
    map.on("pm:create", (ev) => drawn(ev.layer));
    await GG.loadReference();
    const vs = await versions();
    const date = GG.$("#pl-date");
    date.min = GG.isoDay(new Date());
    date.value = ""; // no default: the planner says when (today and re-route, or a later day)
    date.addEventListener("input", rerouteAllowed);
    GG.$("#pl-today").addEventListener("click", () => { date.value = GG.isoDay(new Date()); rerouteAllowed(); });
    rerouteAllowed();
    GG.$("#pl-version").addEventListener("change", (ev) => run(t("Opening the draft…"), async () => { await open(ev.target.value); }));
    GG.$("#pl-new").addEventListener("click", () => run(t("Starting a draft…"), async () => {
      const inForce = allVersions.filter((v) => v.status === "published").sort((a, b) => String(b.effective_from).localeCompare(String(a.effective_from)))[0];
      const v = await GG.api("/versions", {method: "POST", json: {name: t("Draft") + " " + GG.fmtTime(new Date()), based_on: inForce ? inForce.id : null}});
      await versions();
      GG.$("#pl-version").value = v.id;
      await open(v.id);
      return t("New draft #{id}", {id: v.id});
    }));
    GG.$("#pl-rename").addEventListener("click", () => run(t("Renaming…"), rename));
    GG.$("#pl-delete").addEventListener("click", () => run(t("Deleting…"), remove));
    GG.$("#pl-check").addEventListener("click", () => run(t("Checking the topology…"), async () => {
      const fc = await checkTopology();
      return t("{errors} error(s), {warnings} warning(s)", {errors: fc.errors, warnings: fc.warnings});
    }));
    GG.$("#pl-validate").addEventListener("click", () => run(t("Validating…"), async () => {
      const previewed = document.body.dataset.impactRevision === String(draft.revision);
      const r = await GG.api("/versions/" + draft.id + "/validate?revision=" + draft.revision, {method: "POST"});
      // Validating changes the status, not the content: a preview of the revision it checked still holds.
      if (previewed) document.body.dataset.impactRevision = String(r.version.revision);
      await refreshDraft();
      await checkTopology();
      if (!r.valid) throw new Error(t("{n} errors remain", {n: r.errors}));
      return t("The draft is valid");
    }));
    GG.$("#pl-impact").addEventListener("click", () => run(t("Previewing the impact…"), impact));
    GG.$("#pl-publish").addEventListener("click", () => run(t("Publishing…"), publish));
    if (vs.drafts.length) await run(t("Opening the draft…"), () => open(vs.drafts[0].id));
    else GG.status(t("No draft yet: start one"), "info");
    GG.ready = true;
    document.body.dataset.ready = "1";
  };
})();
