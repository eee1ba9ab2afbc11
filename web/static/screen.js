/* The command centre's big screen: KPI tiles, ECharts charts and a live ticker around the case map.
   Figures come from GET /screen/summary (counted in SQL), cases from the wall's feed (GET /wall/cases), hotspots
   from GET /hotspots. Address options: ?refresh=SECONDS (default: the server's wall refresh), ?county=CODE,
   ?res= and ?days= for the hexagons (default: by zoom, 30 days). */
;(function () {
  "use strict";
  const GG = window.GG;
  const t = GG.t;
  const params = new URLSearchParams(location.search);
  const county = params.get("county");
  const fixedRes = Number(params.get("res")) || null;
  const hexDays = Number(params.get("days")) || 30;
  const HEX_EVERY_MS = 60000;
  const ECHARTS = "/static/vendor/echarts/echarts.common.min.js";
  const cases = new Map(); // id -> {row, marker}
  const charts = {};
  let map, groups, columns = null, openStates = new Set(), cursor = null, clockOffset = 0;
  let figuresIn = false; // the first figures have come (the charts' empty frames are then not worth drawing)
  let summary = null, lastEvent = null, refreshes = 0, hexAt = 0, scale = 1, hexRenderer = null, chartsP = null;

  const serverNow = () => Date.now() + clockOffset;
  const rem = () => parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
  const withCounty = (path) => (county ? path + (path.includes("?") ? "&" : "?") + "county=" + encodeURIComponent(county) : path);
  function refreshMs() {
    const asked = Number(params.get("refresh"));
    return 1000 * (asked > 0 ? Math.max(1, asked) : (GG.config.refresh_seconds || 5));
  }

  // ---- cases on the map -------------------------------------------------------------------------
  function isOpen(r) { return openStates.has(r.status); }
  function overdue(r) { return isOpen(r) && r.status !== "suspended" && r.deadline && Date.parse(r.deadline) < serverNow(); }
  /** A case's symbol: its state's colour; larger when escalated, ringed red when overdue; scaled to the screen. */
  function markerStyle(r) {
    const late = overdue(r), esc = r.escalation_level > 0;
    return {radius: (esc ? 7 : 5) * scale, color: late ? "#ff3b30" : "#0b1b33", weight: (late || esc ? 2 : 1) * scale,
      fillColor: GG.stateColour(r.status), fillOpacity: 0.95};
  }
  function upsert(array) {
    const r = GG.feedRow(columns, array);
    const old = cases.get(r.id);
    const keep = isOpen(r) || Date.parse(r.updated_at) > serverNow() - 24 * 3600e3;
    if (!keep || r.lon == null) {
      if (old && old.marker) groups.cases.removeLayer(old.marker);
      if (keep) cases.set(r.id, {row: r, marker: null}); else cases.delete(r.id);
      return;
    }
    if (old && old.marker) {
      old.row = r;
      old.marker.setLatLng([r.lat, r.lon]);
      old.marker.setStyle(markerStyle(r));
      return;
    }
    const marker = L.circleMarker([r.lat, r.lon], markerStyle(r));
    marker.caseId = r.id; // one tooltip for all (hover, below), not one object per case
    marker.addTo(groups.cases);
    cases.set(r.id, {row: r, marker: marker});
  }
  function applyCases(data) {
    columns = data.columns;
    openStates = new Set(data.open_states);
    clockOffset = Date.parse(data.now) - Date.now();
    data.cases.forEach(upsert);
    cursor = data.cursor;
    document.body.dataset.cases = String(groups.cases.getLayers().length);
  }
  async function pollCases() {
    applyCases(await GG.api(withCounty("/wall/cases" + (cursor ? "?since=" + encodeURIComponent(cursor) : ""))));
  }

  // ---- hotspots -----------------------------------------------------------------------------------
  /** The hexagons in view (`whole`: the whole county is in view, so no box is needed — the first load). */
  async function loadHotspots(whole) {
    const res = fixedRes || GG.hexRes(Math.round(map.getZoom()));
    let q = "/hotspots?res=" + res + "&days=" + hexDays;
    if (res >= 8 && !whole) {
      const b = map.getBounds().pad(0.2);
      q += "&bbox=" + [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(5)).join(",");
    }
    const data = await GG.api(q);
    groups.hotspots.clearLayers();
    GG.hexLayers(data, {renderer: hexRenderer, pane: "gg-hex", opacity: 0.5}).forEach((p) => p.addTo(groups.hotspots));
    hexAt = Date.now();
    document.body.dataset.hexes = String(data.cells.length);
    document.body.dataset.hexRes = String(data.res);
  }

  // ---- the figures --------------------------------------------------------------------------------
  function percent(x) { return x == null ? "—" : (Math.round(x * 1000) / 10).toFixed(1) + "%"; }
  let counting = null; // one number format for the tiles (toLocaleString builds one per call: ~1 ms each)
  function renderTiles(s) {
    counting = counting || new Intl.NumberFormat(GG.lang);
    document.querySelectorAll("#sc-tiles .sc-tile").forEach((tile) => {
      const key = tile.dataset.kpi, value = s.kpi[key];
      const text = key === "on_time_rate_this_month" ? percent(value) : counting.format(Number(value));
      const num = tile.querySelector(".sc-num");
      if (num.textContent !== text && summary) { // flash a figure that changed
        tile.classList.remove("sc-changed");
        void tile.offsetWidth;
        tile.classList.add("sc-changed");
      }
      num.textContent = text;
      tile.dataset.value = String(value);
    });
    GG.$("#sc-rate-sub").textContent = t("{on_time} of {due} due closed on time (suspended cases not counted)",
      {on_time: s.kpi.closed_on_time_this_month, due: s.kpi.due_this_month});
  }

  function chart(id) {
    if (!charts[id]) charts[id] = echarts.init(document.getElementById(id), null, {renderer: "canvas"});
    return charts[id];
  }
  function base(r) {
    const fg = "#e8f1ff", muted = "#a9c1e0";
    return {
      animation: false, textStyle: {fontSize: r, color: fg, fontFamily: getComputedStyle(document.body).fontFamily},
      tooltip: {textStyle: {fontSize: r}},
      axis: {axisLabel: {color: muted, fontSize: r}, axisLine: {lineStyle: {color: "#3d6a9e"}},
        splitLine: {lineStyle: {color: "#1b3a63"}}},
    };
  }
  function renderCharts(s) {
    const r = rem(), b = base(r);
    const days = s.trend.map((d) => d.day.slice(5));
    chart("sc-trend").setOption({
      animation: false, textStyle: b.textStyle, tooltip: Object.assign({trigger: "axis"}, b.tooltip),
      color: ["#39d0ff", "#5fe08a"],
      legend: {top: 0, textStyle: {color: "#e8f1ff", fontSize: r}, itemWidth: r * 1.2, itemHeight: r * 0.6},
      grid: {left: r * 0.4, right: r * 0.8, top: r * 2, bottom: r * 0.3, containLabel: true},
      xAxis: Object.assign({type: "category", data: days, boundaryGap: false}, b.axis),
      yAxis: Object.assign({type: "value", minInterval: 1}, b.axis),
      series: [
        {name: t("Reports"), type: "line", data: s.trend.map((d) => d.reported), symbolSize: r * 0.3,
          lineStyle: {width: r * 0.12}, areaStyle: {opacity: 0.15}},
        {name: t("Closures"), type: "line", data: s.trend.map((d) => d.closed), symbolSize: r * 0.3,
          lineStyle: {width: r * 0.12}}],
    }, true);
    const cats = s.categories.slice().reverse();
    chart("sc-categories").setOption({
      animation: false, textStyle: b.textStyle, tooltip: Object.assign({trigger: "axis", axisPointer: {type: "shadow"}}, b.tooltip),
      grid: {left: r * 0.3, right: r * 2.2, top: r * 0.3, bottom: r * 0.3, containLabel: true},
      xAxis: Object.assign({type: "value", minInterval: 1}, b.axis, {axisLabel: {show: false}}),
      yAxis: Object.assign({type: "category", data: cats.map((c) => c.name)}, b.axis,
        {axisLabel: {color: "#e8f1ff", fontSize: r, width: r * 9, overflow: "truncate"}}),
      series: [{type: "bar", name: t("Cases"), data: cats.map((c) => c.cases), barMaxWidth: r * 1.1,
        itemStyle: {color: "#39d0ff"}, label: {show: true, position: "right", color: "#e8f1ff", fontSize: r}}],
    }, true);
    const towns = s.townships.slice(0, 12).reverse();
    chart("sc-townships").setOption({
      animation: false, textStyle: b.textStyle, tooltip: Object.assign({trigger: "axis", axisPointer: {type: "shadow"}}, b.tooltip),
      grid: {left: r * 0.3, right: r * 6.5, top: r * 0.3, bottom: r * 0.3, containLabel: true},
      xAxis: Object.assign({type: "value", max: 100}, b.axis, {axisLabel: {show: false}}),
      yAxis: Object.assign({type: "category", data: towns.map((x) => x.name || (x.township === "(none)" ? t("No township") : x.township))}, b.axis,
        {axisLabel: {color: "#e8f1ff", fontSize: r, width: r * 7, overflow: "truncate"}}),
      series: [{type: "bar", name: t("On-time closure rate this month"), barMaxWidth: r * 1.1,
        data: towns.map((x) => ({value: Math.round(x.rate * 1000) / 10, on: x.on_time, due: x.due,
          itemStyle: {color: x.rate >= 0.9 ? "#5fe08a" : x.rate >= 0.6 ? "#ffc845" : "#ff7a70"}})),
        label: {show: true, position: "right", color: "#e8f1ff", fontSize: r,
          formatter: (p) => t("{rate} ({on_time}/{due})", {rate: p.value.toFixed(1) + "%", on_time: p.data.on, due: p.data.due})}}],
      graphic: towns.length ? [] : [{type: "text", left: "center", top: "middle",
        style: {text: t("Nothing was due this month yet"), fill: "#a9c1e0", fontSize: r}}],
    }, true);
    const names = {grid_worker: t("Grid workers"), open311: t("Open311 clients"), other: t("Other channels")};
    chart("sc-sources").setOption({
      animation: false, textStyle: b.textStyle, tooltip: Object.assign({trigger: "item"}, b.tooltip),
      color: ["#39d0ff", "#ffc845", "#b48cff"],
      legend: {orient: "vertical", right: 0, top: "middle", textStyle: {color: "#e8f1ff", fontSize: r}, itemWidth: r,
        itemHeight: r * 0.7, formatter: (name) => name + " " + (s.sources[Object.keys(names).find((k) => names[k] === name)] || 0)},
      series: [{type: "pie", radius: ["35%", "62%"], center: ["32%", "50%"], avoidLabelOverlap: true,
        labelLine: {length: r * 0.3, length2: r * 0.3},
        data: Object.keys(names).map((k) => ({name: names[k], value: s.sources[k], label: {show: s.sources[k] > 0,
          color: "#e8f1ff", fontSize: r, formatter: (p) => p.percent + "%"}}))}],
    }, true);
  }

  /** Figures with nothing in them, shaped as GET /screen/summary's: the charts' frames before the first answer. */
  function emptyFigures() {
    const day = Date.parse(GG.isoDay(new Date(serverNow())) + "T00:00:00Z"); // the county's today, counted in UTC days
    const trend = [];
    for (let k = 29; k >= 0; k--) trend.push({day: new Date(day - k * 86400e3).toISOString().slice(0, 10), reported: 0, closed: 0});
    return {trend: trend, categories: [], townships: [], sources: {grid_worker: 0, open311: 0, other: 0}};
  }

  function renderTicker(s) {
    const list = GG.$("#sc-ticker");
    const items = s.ticker.slice(0, 8).map((e) => {
      const li = document.createElement("li");
      li.dataset.event = String(e.event);
      if (lastEvent !== null && e.event > lastEvent) li.className = "sc-new";
      li.innerHTML = "<time>" + GG.esc(GG.fmtTime(e.at, {short: true})) + "</time>#" + e.case + " " + GG.esc(e.matter_name) +
        " · " + GG.esc(e.township_name || t("No township")) + " · <b>" + GG.esc(GG.term("action", e.action)) + "</b>";
      return li;
    });
    list.replaceChildren(...items);
    if (s.ticker.length) lastEvent = Math.max(lastEvent || 0, s.ticker[0].event);
  }

  /** The recurring sites of the coal-slurry category (GET /hotspots/sites, the wall's coal button's matter): busiest
      first, each by village and township; a touch flies the map there. */
  async function loadSites() {
    const matter = GG.coalMatter();
    if (!matter) return;
    const data = await GG.api(withCounty("/hotspots/sites?matter=" + encodeURIComponent(matter) + "&days=120"));
    const sites = data.sites.slice().sort((a, b) => b.reports - a.reports || a.id - b.id);
    GG.$("#sc-sites-title").textContent = t("{n} recurring sites of {matter}", {n: sites.length, matter: GG.matterName(matter)});
    GG.$("#sc-sites").replaceChildren(...sites.slice(0, 6).map((site) => {
      const li = document.createElement("li");
      li.dataset.siteId = String(site.id);
      li.textContent = [site.village_name, site.township_name].filter(Boolean).join(" · ") + " · " +
        t("{n} reports", {n: site.reports}) + " · " + GG.term("hotspot_pattern", site.pattern);
      li.addEventListener("click", () => map.flyTo([site.lat, site.lon], 15, {duration: 0.5}));
      return li;
    }));
    screenSites = sites;
  }
  let screenSites = [];

  function renderBanner(s) {
    GG.$("#sc-title").textContent = s.county_name ? t("{county} command centre", {county: s.county_name}) : t("Command centre big screen");
    const day = new Intl.DateTimeFormat(GG.lang, {timeZone: GG.zone(), year: "numeric", month: "long", day: "numeric", weekday: "long"});
    GG.$("#sc-date").textContent = day.format(new Date(serverNow()));
  }

  async function loadSummary() {
    const s = await GG.api(withCounty("/screen/summary"));
    figuresIn = true;
    clockOffset = Date.parse(s.now) - Date.now();
    renderTiles(s);
    renderBanner(s);
    renderTicker(s);
    await chartsP;
    renderCharts(s);
    summary = s;
    document.body.dataset.summaryAt = s.now;
    return s;
  }

  async function refresh() {
    await Promise.all([loadSummary(), pollCases(), Date.now() - hexAt > HEX_EVERY_MS ? loadHotspots() : null]);
    refreshes += 1;
    document.body.dataset.refreshes = String(refreshes);
    GG.status(t("Updated") + " " + GG.fmtTime(serverNow(), {time: true, seconds: true}), "ok");
  }

  function legend() {
    const shown = ["reported", "dispatched", "arrived", "handled", "fed_back", "suspended", "closed"];
    GG.$("#sc-legend").innerHTML = shown.map((s) => '<span><i style="background:' + GG.stateColour(s) + '"></i>' +
      GG.esc(GG.term("status", s)) + "</span>").join("") +
      '<span><i style="border:0.15em solid #ff3b30"></i>' + GG.esc(t("Overdue")) + "</span>" +
      '<span><i style="background:' + GG.HOT_RAMP[3] + '"></i>' + GG.esc(t("Hotspot")) + "</span>";
  }

  /** Symbols and chart type follow the screen: a resize (or a move to the video wall) redraws them to scale. */
  function rescale() {
    scale = GG.screenScale();
    document.body.dataset.scale = String(scale);
    cases.forEach((c) => { if (c.marker) c.marker.setStyle(markerStyle(c.row)); });
    map.invalidateSize();
    Object.values(charts).forEach((c) => c.resize());
    if (summary) renderCharts(summary);
  }

  /** What the screen shows, for people checking it (and its browser tests). */
  GG.screenState = {
    kpi: () => (summary ? summary.kpi : null),
    ticker: () => Array.from(document.querySelectorAll("#sc-ticker li")).map((li) => Number(li.dataset.event)),
    caseRadius: (id) => { const c = cases.get(id); return c && c.marker ? c.marker.getRadius() : null; },
    caseIds: () => Array.from(cases.keys()).filter((id) => cases.get(id).marker),
    chartOption: (id) => (charts[id] ? charts[id].getOption() : null),
    refreshMs: refreshMs,
    sites: () => screenSites,
  };

  GG.pages.screen = async function (ctx) {
    map = ctx.map;
    groups = ctx.groups;
    document.body.classList.add("gg-page-screen");
    map.options.zoomSnap = 0.25; // the county fills the map, not a power-of-two share of it
    map.createPane("gg-hex").style.zIndex = 350; // under the cases, whatever is redrawn later
    hexRenderer = L.canvas({pane: "gg-hex"});
    scale = GG.screenScale();
    document.body.dataset.scale = String(scale);
    map.invalidateSize();
    legend();
    setInterval(() => { GG.$("#sc-clock").textContent = GG.fmtTime(serverNow(), {time: true, seconds: true}); }, 1000);
    GG.status(t("Loading…"));
    // Compiled while the first answers are on their way, and the four charts drawn empty at once: their frames are
    // on the screen early, and ECharts' first run (most of a first render's cost) is paid before the figures come.
    chartsP = GG.loadScript(ECHARTS).then(() => { if (!figuresIn) renderCharts(emptyFigures()); });
    // Everything at once; the hexagons as soon as the county's outline has set the view (their resolution and
    // box follow it), the township layer after.
    // With a fixed resolution (?res=) the hexagons need no view: asked for first, they are the longest answer.
    const earlyHexP = fixedRes && !county ? loadHotspots(true) : null;
    const refP = GG.loadReference();
    const countyP = GG.loadUnits(["county"]);
    const townshipsP = GG.loadUnits(["township"]);
    const casesP = GG.api(withCounty("/wall/cases"));
    const summaryP = loadSummary();
    const byCode = {};
    const outer = await countyP;
    Object.assign(byCode, outer.byCode);
    const counties = county ? {type: "FeatureCollection", features: outer.layers.county.features.filter((f) => f.properties.code === county)}
      : outer.layers.county;
    const outline = L.geoJSON(counties);
    if (outline.getLayers().length) map.fitBounds(outline.getBounds(), {animate: false, padding: [8, 8]});
    const hotP = (earlyHexP || loadHotspots()).then(() => performance.mark("gg-screen-hexes"));
    await refP;
    const towns = await townshipsP;
    Object.assign(byCode, towns.byCode);
    GG.unitLayer(towns.layers.township, byCode, {fill: 0.12, weight: 1.5 * scale, label: true}).addTo(groups.township);
    GG.unitLayer(counties, byCode, {fill: 0, weight: 3 * scale, line: "#7fd6ff"}).addTo(groups.county);
    performance.mark("gg-screen-units");
    const feed = await casesP;
    performance.mark("gg-screen-feed");
    applyCases(feed);
    performance.mark("gg-screen-cases");
    await Promise.all([hotP, summaryP.then(() => performance.mark("gg-screen-figures"))]);
    loadSites().catch((e) => GG.status(e.message, "error")); // after the figures: not on the way to interactive
    setInterval(() => loadSites().catch(() => {}), 60000);
    const tip = L.tooltip({direction: "top"});
    groups.cases.on("mouseover", (e) => {
      const c = cases.get(e.layer.caseId);
      if (!c) return;
      tip.setLatLng(e.layer.getLatLng()).setContent("#" + c.row.id + " · " + GG.esc(GG.matterName(c.row.matter)) + " · " +
        GG.esc(GG.term("status", c.row.status)) + (overdue(c.row) ? " · " + GG.esc(t("Overdue")) : ""));
      map.openTooltip(tip);
    });
    groups.cases.on("mouseout", () => map.closeTooltip(tip));
    window.addEventListener("resize", () => { clearTimeout(GG._scTimer); GG._scTimer = setTimeout(rescale, 150); });
    setInterval(() => refresh().catch((e) => GG.status(t("Update failed: {error}", {error: e.message}), "error")), refreshMs());
    GG.status(t("{n} cases", {n: cases.size}), "ok");
    performance.mark("gg-interactive");
    GG.ready = true;
    document.body.dataset.ready = "1";
  };
})();
