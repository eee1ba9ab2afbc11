/* The planner page: pick or start a draft, move villages between townships and H3 cells between units, edit
   boundaries with snapping, see topology problems on the map, preview the impact, publish with a date. */
;(function () {
  "use strict";
  const GG = window.GG;
  const t = GG.t;
  // A version's status (the API's code) in the page's language.
  const versionStatus = (s) => GG.term("version_status", s); // i18n/terms.py, shared with the API and CLI
  const unitName = (code) => (units && units.byCode[code] ? units.byCode[code].name : code);
  let map, groups, draft = null, units = null, cellIndex = {}, editing = null;

  const units_of = (layer) => (units ? units.layers[layer].features : []);

  async function versions() {
    const all = await GG.api("/versions");
    const select = GG.$("#pl-version");
    const drafts = all.filter((v) => v.status !== "published").sort((a, b) => b.id - a.id);
    select.replaceChildren(...drafts.map((v) => {
      const o = document.createElement("option");
      o.value = v.id;
      o.textContent = "#" + v.id + " " + v.name + " (" + versionStatus(v.status) + ")";
      return o;
    }));
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
    const pick = (f, layer) => select(f, layer);
    GG.unitLayer(units.layers.township, units.byCode, {fill: 0.05, weight: 3, label: true, onClick: pick}).addTo(groups.township);
    GG.unitLayer(units.layers.village, units.byCode, {fill: 0.15, weight: 1, onClick: pick}).addTo(groups.village);
    GG.unitLayer(units.layers.grid, units.byCode, {fill: 0.05, weight: 1, dash: "3 3", onClick: pick}).addTo(groups.grid);
    GG.unitLayer(units.layers.zone, units.byCode, {fill: 0.05, weight: 2, dash: "6 4", onClick: pick}).addTo(groups.zone);
    groups.grid.remove();
    const data = await GG.api("/cells?version=" + draft.id);
    cellIndex = {};
    data.cells.forEach((c) => {
      cellIndex[c.h] = c;
      const ring = [];
      for (let i = 0; i < c.b.length; i += 2) ring.push([c.b[i + 1], c.b[i]]);
      L.polygon(ring, {weight: 1, color: "#555", fillColor: GG.teamColour(c.unit), fillOpacity: 0.35, pmIgnore: true})
        .bindTooltip(c.h + " · " + c.unit).on("click", (ev) => { L.DomEvent.stopPropagation(ev); selectCell(c); })
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
    GG.status(message, "ok");
  }

  function select(f, layer) {
    if (editing || map.pm.globalDrawModeEnabled()) return;
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
      units_of(parentLayer).forEach((t) => sel.appendChild(option(t.properties.code, t.properties.name + " · " + GG.teamName(GG.territoryTeam(t.properties, units.byCode)), t.properties.code === p.parent_code)));
      const go = document.createElement("button");
      go.type = "button";
      go.id = "pl-move";
      go.textContent = t("Move to");
      go.addEventListener("click", async () => {
        try {
          const r = await draftCall(() => GG.api("/versions/" + draft.id + "/units/" + encodeURIComponent(p.code) + "/assign?revision=" + draft.revision,
            {method: "POST", json: {parent_code: sel.value}}));
          await afterEdit(p.name + " → " + unitName(sel.value) + (r.redrawn.length ? " (" + t("redrawn: {units}", {units: r.redrawn.map(unitName).join("、")}) + ")" : ""));
        } catch (e) { GG.status(e.message, "error"); }
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
  }

  function startEdit(f, layer, button) {
    editing = layer;
    layer.pm.enable({snappable: true, snapDistance: 20, allowSelfIntersection: false});
    button.textContent = t("Save boundary");
    button.id = "pl-save";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.textContent = t("Cancel");
    cancel.addEventListener("click", async () => { layer.pm.disable(); editing = null; await loadLayers(); GG.$("#pl-selection").innerHTML = ""; });
    button.after(cancel);
    button.onclick = null;
    button.replaceWith(button.cloneNode(true));
    GG.$("#pl-save").addEventListener("click", async () => {
      const geometry = layer.toGeoJSON(false).geometry; // no rounding: neighbours share these vertices exactly
      layer.pm.disable();
      editing = null;
      try {
        await putUnit(f.properties.code, {type: "Feature", geometry: geometry, properties: {}});
        await afterEdit(t("Saved {name}", {name: f.properties.name}));
      } catch (e) { GG.status(e.message, "error"); await loadLayers(); }
    });
  }

  function selectCell(c) {
    if (editing || map.pm.globalDrawModeEnabled()) return;
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
    go.addEventListener("click", async () => {
      try {
        // One edit: the cell leaves its unit and joins the other at one revision (never in both, never in neither).
        await draftCall(() => GG.api("/versions/" + draft.id + "/cells/move?revision=" + draft.revision,
          {method: "POST", json: {cells: [c.h], to: sel.value}}));
        await afterEdit(c.h + " → " + sel.value);
      } catch (e) { GG.status(e.message, "error"); await loadLayers(); }
    });
    const row = document.createElement("div");
    row.className = "gg-row";
    row.append(go, sel);
    box.appendChild(row);
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
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await putUnit(form.code.value, {type: "Feature", geometry: layer.toGeoJSON(false).geometry, properties: {
          name: form.name.value, layer: form.layer.value, kind: form.kind.value, parent_code: form.parent.value}});
        groups.problems.removeLayer(layer);
        await afterEdit(t("Created {name} ({code})", {name: form.name.value, code: form.code.value}));
      } catch (e) { GG.status(e.message, "error"); }
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


  async function impact() {
    const r = await GG.api("/versions/" + draft.id + "/impact");
    const gained = (m2) => "+" + GG.esc(GG.area(m2 || 0)), lost = (m2) => "−" + GG.esc(GG.area(m2 || 0));
    const rows = Object.entries(r.townships).map(([code, a]) => '<tr data-code="' + GG.esc(code) + '"><td>' + GG.esc(unitName(code)) + "</td><td>" + gained(a.gained_m2) + "</td><td>" + lost(a.lost_m2) + "</td></tr>").join("");
    const teams = r.teams ? Object.entries(r.teams).map(([code, a]) => '<tr data-team="' + GG.esc(code) + '"><td>' + GG.esc(GG.teamName(code)) + "</td><td>" + gained(a.gained_m2) + "</td><td>" + lost(a.lost_m2) + "</td></tr>").join("") : "";
    const load = Object.entries(r.workload).filter(([, w]) => w.open_now !== w.open_after)
      .map(([team, w]) => "<tr><td>" + GG.esc(GG.teamName(team)) + "</td><td>" + w.open_now + "</td><td>" + w.open_after + "</td></tr>").join("");
    const head = (...cols) => "<thead><tr>" + cols.map((c) => "<th>" + GG.esc(c) + "</th>").join("") + "</tr></thead>";
    GG.$("#pl-impact-body").innerHTML =
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
  }

  /** Re-routing open cases is for a version taking effect today; the box is off for any other date. */
  function rerouteAllowed() {
    const box = GG.$("#pl-reroute");
    box.disabled = GG.$("#pl-date").value !== GG.isoDay(new Date());
    if (box.disabled) box.checked = false;
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
    const tomorrow = new Date(Date.now() + 86400e3);
    GG.$("#pl-date").value = GG.isoDay(tomorrow);
    GG.$("#pl-date").addEventListener("input", rerouteAllowed);
    rerouteAllowed();
    GG.$("#pl-version").addEventListener("change", (ev) => open(ev.target.value).catch((e) => GG.status(e.message, "error")));
    GG.$("#pl-new").addEventListener("click", async () => {
      try {
        const inForce = vs.all.filter((v) => v.status === "published").sort((a, b) => String(b.effective_from).localeCompare(String(a.effective_from)))[0];
        const v = await GG.api("/versions", {method: "POST", json: {name: t("Draft") + " " + GG.fmtTime(new Date()), based_on: inForce ? inForce.id : null}});
        await versions();
        GG.$("#pl-version").value = v.id;
        await open(v.id);
        GG.status(t("New draft #{id}", {id: v.id}), "ok");
      } catch (e) { GG.status(e.message, "error"); }
    });
    GG.$("#pl-check").addEventListener("click", () => checkTopology().catch((e) => GG.status(e.message, "error")));
    GG.$("#pl-validate").addEventListener("click", async () => {
      try {
        const previewed = document.body.dataset.impactRevision === String(draft.revision);
        const r = await GG.api("/versions/" + draft.id + "/validate?revision=" + draft.revision, {method: "POST"});
        // Validating changes the status, not the content: a preview of the revision it checked still holds.
        if (previewed) document.body.dataset.impactRevision = String(r.version.revision);
        await refreshDraft();
        await checkTopology();
        GG.status(r.valid ? t("The draft is valid") : t("{n} errors remain", {n: r.errors}), r.valid ? "ok" : "error");
      } catch (e) { GG.status(e.message, "error"); }
    });
    GG.$("#pl-impact").addEventListener("click", () => impact().catch((e) => GG.status(e.message, "error")));
    GG.$("#pl-publish").addEventListener("click", async () => {
      try {
        // The revision the planner has on screen (and previewed): a draft changed since is a 409, not published.
        const reroute = GG.$("#pl-reroute").checked;
        const body = {effective_from: GG.$("#pl-date").value, reroute_open_cases: reroute};
        if (reroute) {
          // Re-routing moves the cases a preview listed: that preview, of this very revision, and no other list.
          if (!preview || document.body.dataset.impactRevision !== String(draft.revision)) {
            GG.status(t("Preview the impact first: re-routing moves exactly the cases it lists"), "error");
            return;
          }
          body.expected_cases = preview.open_cases_changing_owner.map((c) => c.case);
        }
        const v = await draftCall(() => GG.api("/versions/" + draft.id + "/publish?revision=" + draft.revision, {method: "POST",
          json: body}));
        let moved = "";
        if (v.reroute) {
          moved = " · " + t("re-routed {n}", {n: v.reroute.rerouted.length}) + " · " + t("kept {n}", {n: v.reroute.kept.length});
          document.body.dataset.rerouted = String(v.reroute.rerouted.length);
        }
        GG.status(t("Published #{id}, in force from {day}", {id: v.id, day: v.effective_from}) + moved, "ok");
        await versions();
      } catch (e) { GG.status(e.message, "error"); }
    });
    if (vs.drafts.length) await open(vs.drafts[0].id);
    else GG.status(t("No draft yet: start one"), "info");
    GG.ready = true;
    document.body.dataset.ready = "1";
  };
})();
