/* GridGov pages: what every page shares — signing in, calling the API, colours, jurisdiction layers. */
;(function () {
  "use strict";
  const GG = (window.GG = window.GG || {});
  GG.pages = GG.pages || {};
  const TOKEN = "gg.token";

  GG.esc = function (v) {
    return String(v == null ? "" : v).replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
  };
  GG.$ = (sel) => document.querySelector(sel);

  // ---- language ---------------------------------------------------------------------------------
  // The page's strings come from the server's gettext catalogs (i18n/locales), embedded in the page as JSON for
  // its language (?lang=, else the browser's Accept-Language, else GRIDGOV_LANGUAGE): msgid (English) -> text.
  const I18N = (function () {
    const el = document.getElementById("gg-i18n");
    try { return el ? JSON.parse(el.textContent) : {}; } catch (e) { return {}; }
  })();
  GG.lang = I18N.lang || document.documentElement.lang || "zh-CN";
  const MESSAGES = I18N.messages || {};
  const TERMS = I18N.terms || {};
  /** A page string in the page's language, {named} fields filled in after translation (values as given). */
  GG.t = function (msgid, params) {
    const text = Object.prototype.hasOwnProperty.call(MESSAGES, msgid) ? MESSAGES[msgid] : msgid;
    return params ? text.replace(/\{(\w+)\}/g, (m, k) => (Object.prototype.hasOwnProperty.call(params, k) ? String(params[k]) : m)) : text;
  };
  const t = GG.t;
  /** A translated text as HTML: escaped, then its fields filled with HTML the caller made safe (th(t("…"), {…})). */
  GG.th = (text, html) => GG.esc(text).replace(/\{(\w+)\}/g, (m, k) => (html && Object.prototype.hasOwnProperty.call(html, k) ? String(html[k]) : m));
  /** The word for a code the API sends (a case state, action, triage kind, role, layer …: i18n/terms.py). */
  GG.term = function (kind, code) {
    if (code === null || code === undefined || code === "") return "—";
    const english = TERMS[kind] && TERMS[kind][code];
    return english ? t(english) : String(code);
  };
  // Areas and distances as the server writes them (i18n/units.py): metric, areas with their 亩 (1 亩 = 10,000/15 m²).
  const num = (x, digits) => Number(x).toLocaleString("en-US", {minimumFractionDigits: digits, maximumFractionDigits: digits});
  /** A distance: "8.5 m", "850 m", "3.2 km". */
  GG.distance = function (m) {
    if (m === null || m === undefined || isNaN(m)) return "—";
    const a = Math.abs(m);
    if (a >= 100000) return num(m / 1000, 0) + " km";
    if (a >= 1000) return num(m / 1000, 1) + " km";
    return a >= 10 ? num(m, 0) + " m" : Number(m).toFixed(1) + " m";
  };
  /** An area in m² (km² from 1 km²) with its 亩: "3,605 m²（5.4 亩）", in English "3,605 m² (5.4 mu)". */
  GG.area = function (m2) {
    if (m2 === null || m2 === undefined || isNaN(m2)) return "—";
    const a = Math.abs(m2), mu = m2 / (10000 / 15), amu = Math.abs(mu);
    const metric = a >= 1e6 ? num(m2 / 1e6, 2) + " km²" : a >= 100 ? num(m2, 0) + " m²" : num(m2, 1) + " m²";
    const mus = amu >= 100 ? num(mu, 0) : amu >= 1 ? num(mu, 1) : (amu >= 0.01 || mu === 0 ? mu.toFixed(2) : mu.toPrecision(1));
    return GG.lang === "zh-CN" ? metric + "（" + mus + " 亩）" : metric + " (" + mus + " mu)";
  };

  GG.uuid = function () {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  };

  /** A message a person can act on, from any error body the API sends: its `message`, in the page's language
      (the API answers in the language the page asks for), else the English `detail`. */
  GG.message = function (data, fallback) {
    if (!data) return fallback || t("The request failed");
    if (typeof data === "string") return data.slice(0, 300);
    if (Array.isArray(data)) return data.map((d) => d.description || JSON.stringify(d)).join("; ");
    if (typeof data.message === "string" && data.message) return data.message;
    const where = data.where ? " (" + data.where + ")" : "";
    if (typeof data.detail === "string") return data.detail + where;
    return JSON.stringify(data.detail || data).slice(0, 300);
  };

  /** fetch with the bearer token; a 401 asks the user to sign in and tries once more. */
  GG.api = async function (path, opts) {
    opts = opts || {};
    const headers = Object.assign({"Accept-Language": GG.lang}, opts.headers || {}); // answers in the page's language
    const token = localStorage.getItem(TOKEN);
    if (token) headers.Authorization = "Bearer " + token;
    let body = opts.body;
    if (opts.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(opts.json);
    }
    const response = await fetch(path, {method: opts.method || "GET", headers: headers, body: body});
    if (response.status === 401 && !opts.retried) {
      localStorage.removeItem(TOKEN);
      await GG.signIn();
      const now = (GG.user() || {}).username;
      if (opts.as && now !== opts.as) { // never send one person's report under another's name
        const err = new Error(t("Signed in as {user}; this waits for {owner}", {user: now, owner: opts.as}));
        err.status = 401;
        throw err;
      }
      return GG.api(path, Object.assign({}, opts, {retried: true}));
    }
    const type = response.headers.get("content-type") || "";
    const data = type.includes("json") ? await response.json() : await response.text();
    if (!response.ok) {
      const err = new Error(GG.message(data, response.status + " " + response.statusText));
      err.status = response.status;
      err.where = data && data.where;
      err.data = data;
      throw err;
    }
    return data;
  };

  let signing = null;
  /** Ask for a username and password (or, in the demo, use the page's demo account). */
  GG.signIn = function () {
    if (signing) return signing;
    signing = new Promise((resolve) => {
      const demo = GG.config && GG.config.demo_user;
      const submit = async (username, password, box) => {
        const r = await fetch("/auth/token", {method: "POST", headers: {"Content-Type": "application/json", "Accept-Language": GG.lang},
          body: JSON.stringify({username: username, password: password})});
        const data = await r.json().catch(() => null);
        if (!r.ok) throw new Error(GG.message(data, t("Sign-in failed")));
        localStorage.setItem(TOKEN, data.access_token);
        localStorage.setItem("gg.user", JSON.stringify({username: data.username, role: data.role, team: data.team_code}));
        if (box) box.remove();
        signing = null;
        GG.showUser();
        resolve(data);
      };
      if (demo) {
        submit(demo, "gridgov-demo", null).catch((e) => GG.status(e.message, "error"));
        return;
      }
      const box = document.createElement("div");
      box.className = "gg-modal";
      box.innerHTML = '<form class="gg-signin" autocomplete="on"><h2>' + GG.esc(t("Sign in")) + "</h2>" +
        "<label>" + GG.esc(t("Username")) + '<input name="username" autocomplete="username" required></label>' +
        "<label>" + GG.esc(t("Password")) + '<input name="password" type="password" autocomplete="current-password" required></label>' +
        '<button type="submit">' + GG.esc(t("Sign in")) + '</button><p class="gg-error" role="alert"></p></form>';
      document.body.appendChild(box);
      const form = box.querySelector("form");
      form.addEventListener("submit", (ev) => {
        ev.preventDefault();
        submit(form.username.value, form.password.value, box).catch((e) => {
          box.querySelector(".gg-error").textContent = e.message;
        });
      });
      form.username.focus();
    });
    return signing;
  };

  GG.user = () => JSON.parse(localStorage.getItem("gg.user") || "null");
  GG.showUser = function () {
    const el = GG.$("#gg-user");
    const u = GG.user();
    // Names, never codes: the team once its name is known (the reference data may still be loading, or offline).
    const team = u && u.team && GG.ref.teams[u.team] ? " · " + GG.ref.teams[u.team].name : "";
    if (el) el.textContent = u ? u.username + " · " + GG.term("role", u.role) + team : "";
  };
  GG.signOut = async function () {
    if (GG.beforeSignOut && !GG.beforeSignOut()) return;
    try { await GG.api("/auth/logout", {method: "POST", retried: true}); } catch (e) { /* already gone */ }
    localStorage.removeItem(TOKEN);
    localStorage.removeItem("gg.user");
    location.reload();
  };

  /** A short message in the page's status line. */
  GG.status = function (text, kind) {
    const el = GG.$("#gg-status");
    if (!el) return;
    el.textContent = text;
    el.dataset.kind = kind || "info";
  };

  // ---- colours ------------------------------------------------------------------------------
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d",
    "#31a354", "#756bb1", "#636363"];
  GG.teamColour = function (code) {
    if (!code) return "#999";
    let h = 0;
    for (let i = 0; i < code.length; i++) h = (h * 31 + code.charCodeAt(i)) >>> 0;
    return PALETTE[h % PALETTE.length];
  };
  // Eleven states, eleven colours told apart at a glance (one blue only; pairwise CIELAB ΔE ≥ 25, checked by
  // tests/test_web.py): warm while the case waits for someone, cool once a team works it, green when done.
  GG.STATE_COLOURS = {
    reported: "#d62728", registered: "#ff7f0e", dispatched: "#f2c500", arrived: "#17becf", handled: "#1f4fd6",
    fed_back: "#9b59d0", checked: "#e377c2", suspended: "#7f7f7f", closed: "#2ca02c", evaluated: "#8c564b",
    cancelled: "#c7c7a0",
  };
  GG.stateColour = (s) => GG.STATE_COLOURS[s] || "#000";

  // ---- reference data -------------------------------------------------------------------------
  GG.ref = {teams: {}, matters: {}, unitTeam: {}};
  GG.loadReference = async function () {
    const [teams, matters] = await Promise.all([GG.api("/teams"), GG.api("/matters")]);
    teams.forEach((t) => { GG.ref.teams[t.code] = t; if (t.unit_code && t.kind !== "grid_worker" && !GG.ref.unitTeam[t.unit_code]) GG.ref.unitTeam[t.unit_code] = t.code; });
    matters.forEach((m) => { GG.ref.matters[m.code] = m; });
    GG.showUser(); // the team by its name now that the names are in
    return GG.ref;
  };
  GG.teamName = (code) => (GG.ref.teams[code] ? GG.ref.teams[code].name : code || "—");
  /** The coal-slurry drying matter of the loaded catalogue, by its name or attributes, else a COAL code. */
  GG.coalMatter = function () {
    const all = Object.values(GG.ref.matters);
    const coal = all.find((m) => /煤泥|slurry/i.test(m.name + " " + JSON.stringify(m.attributes || {}))) ||
      all.find((m) => /COAL/.test(m.code));
    return coal ? coal.code : null;
  };
  /** Fill a <select> with the catalogue's matters grouped by domain (optgroups), sorted in the page's language;
      `decorate(option, matter)` may add to each option. */
  GG.matterOptions = function (select, decorate) {
    const domains = {};
    Object.values(GG.ref.matters).forEach((m) => { (domains[m.domain || ""] = domains[m.domain || ""] || []).push(m); });
    Object.keys(domains).sort((a, b) => a.localeCompare(b, GG.lang)).forEach((d) => {
      const g = document.createElement("optgroup");
      g.label = d || GG.t("Other");
      domains[d].sort((a, b) => a.name.localeCompare(b.name, GG.lang)).forEach((m) => {
        const o = document.createElement("option");
        o.value = m.code;
        o.textContent = m.name;
        if (decorate) decorate(o, m);
        g.appendChild(o);
      });
      select.appendChild(g);
    });
  };
  GG.matterName = (code) => (GG.ref.matters[code] ? GG.ref.matters[code].name : code || "—");

  /** The enforcement team based in a unit, or in the nearest ancestor that has one (a village → its
      township's team; grid workers report, they do not own territory). */
  GG.territoryTeam = function (props, byCode) {
    let p = props;
    for (let i = 0; p && i < 6; i++) {
      if (GG.ref.unitTeam[p.code]) return GG.ref.unitTeam[p.code];
      p = byCode[p.parent_code];
    }
    return null;
  };

  /** Units of a layer as a GeoJSON layer coloured by team, labelled when asked. */
  GG.unitLayer = function (fc, byCode, opts) {
    opts = opts || {};
    return L.geoJSON(fc, {
      style: (f) => {
        const team = GG.territoryTeam(f.properties, byCode);
        return {color: opts.line || GG.teamColour(team), weight: opts.weight || 1, fillColor: GG.teamColour(team),
          fillOpacity: opts.fill == null ? 0.12 : opts.fill, dashArray: opts.dash || null};
      },
      onEachFeature: (f, layer) => {
        const team = GG.territoryTeam(f.properties, byCode);
        layer.feature.properties.team = team;
        if (opts.label) layer.bindTooltip(GG.esc(f.properties.name), {permanent: true, direction: "center", className: "gg-label"});
        else layer.bindTooltip(GG.esc(f.properties.name + " · " + GG.teamName(team)), {sticky: true});
        if (opts.onClick) layer.on("click", (ev) => opts.onClick(f, layer, ev));
      },
    });
  };

  /** Units of some layers — of a version, or of the one in force on a date `at` (YYYY-MM-DD), or today's:
      {byCode, layers: {layer: FeatureCollection}}. */
  GG.loadUnits = async function (layers, version, at) {
    const q = (version ? "&version=" + version : "") + (at ? "&at=" + at : "");
    const fcs = await Promise.all(layers.map((l) => GG.api("/units?layer=" + l + q)));
    const byCode = {};
    const out = {};
    layers.forEach((l, i) => {
      out[l] = fcs[i];
      fcs[i].features.forEach((f) => { byCode[f.properties.code] = f.properties; });
    });
    return {byCode: byCode, layers: out};
  };

  /** The county's time zone (GRIDGOV_TIMEZONE, given by the server in the page's config): every time a page shows
      is on the county's clock, not the browser's zone and not the server's. */
  GG.zone = () => (GG.config && GG.config.time_zone) || "Asia/Shanghai";
  const wallFormats = {};
  /** An instant (ISO text with its offset, a Date or milliseconds) as {year, month, day, hour, minute, second} on
      the county's wall clock; null when it is not a time. */
  GG.wallParts = function (value) {
    const d = value instanceof Date ? value : new Date(value);
    if (isNaN(d.getTime())) return null;
    const zone = GG.zone();
    const fmt = wallFormats[zone] = wallFormats[zone] || new Intl.DateTimeFormat("en-CA", {timeZone: zone,
      year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23"});
    const p = {};
    fmt.formatToParts(d).forEach((x) => { p[x.type] = x.value; });
    return p;
  };
  /** An instant as the county reads it: "2026-11-29 15:19" ({seconds: true}: "…15:19:05"; {time: true}: "15:19";
      {short: true}: "11-29 15:19"); "—" for none. */
  GG.fmtTime = function (value, opts) {
    if (value === null || value === undefined || value === "") return "—";
    const p = GG.wallParts(value);
    if (!p) return String(value);
    const o = opts || {};
    const t = p.hour + ":" + p.minute + (o.seconds ? ":" + p.second : "");
    if (o.time) return t;
    return (o.short ? "" : p.year + "-") + p.month + "-" + p.day + " " + t;
  };
  /** A date as YYYY-MM-DD on the county's calendar (the server's "today" for versions; not the browser's day). */
  GG.isoDay = (d) => { const p = GG.wallParts(d); return p.year + "-" + p.month + "-" + p.day; };

  // ---- shared by the map pages that draw cases and hotspots at any screen size (the big screen) ----------
  /** The hotspot ramp, light to dark, as the wall draws it. */
  GG.HOT_RAMP = ["#fff5eb", "#fdd0a2", "#fd8d3c", "#e6550d", "#a63603", "#7f2704"];
  /** H3 resolution for a zoom: coarse hexagons zoomed out, fine ones zoomed in. */
  GG.hexRes = function (z) {
    if (z <= 9) return 5;
    if (z <= 10) return 6;
    if (z <= 12) return 7;
    if (z <= 13) return 8;
    if (z <= 15) return 9;
    return 10;
  };
  /** How much larger than on a 1920×1080 desk screen symbols must be drawn to read the same from the same
      share of a viewer's eye: 2 on a 3840×2160 wall, 1 at 1920×1080 (never below 0.75). */
  GG.screenScale = () => Math.max(0.75, Math.min(window.innerWidth / 1920, window.innerHeight / 1080));
  const loadedScripts = {};
  /** Load a script of ours once (e.g. a large vendored library a page needs only after its first requests). */
  GG.loadScript = function (src) {
    if (!loadedScripts[src]) {
      loadedScripts[src] = new Promise((resolve, reject) => {
        const el = document.createElement("script");
        el.src = src;
        el.onload = () => resolve();
        el.onerror = () => { delete loadedScripts[src]; reject(new Error(t("Could not load {file}", {file: src}))); };
        document.head.appendChild(el);
      });
    }
    return loadedScripts[src];
  };
  /** A row of the case feed (GET /wall/cases: arrays in the order of `columns`) as an object. */
  GG.feedRow = function (columns, row) {
    const o = {};
    columns.forEach((c, i) => { o[c] = row[i]; });
    return o;
  };
  /** Cells per multipolygon when hexagons are drawn in groups: Chromium's canvas fills and strokes one path of 10^4
      hexagons about 40 times slower than 50 paths of 200 (≈ 800 against 20 ms a frame, headless), and 10^4 separate
      polygons cost ≈ 90 ms a frame and four times as long to add. */
  GG.HEX_CHUNK = 200;
  /** The hexagons of a GET /hotspots answer as a few Leaflet multipolygons per ramp colour (GG.HEX_CHUNK cells
      each), so 10^4 cells cost some fifty layers (opts: renderer, pane, opacity, line). Each polygon keeps how
      many cells it holds. */
  GG.hexLayers = function (data, opts) {
    opts = opts || {};
    const max = Math.max(1, data.max), ramp = GG.HOT_RAMP, rings = ramp.map(() => []);
    data.cells.forEach((c) => {
      const ring = [];
      for (let i = 0; i < c.b.length; i += 2) ring.push([c.b[i + 1], c.b[i]]);
      const level = Math.min(ramp.length - 1, Math.floor((c.n / max) * (ramp.length - 1) + 0.5));
      rings[level].push([ring]);
    });
    const out = [];
    rings.forEach((r, level) => {
      for (let i = 0; i < r.length; i += GG.HEX_CHUNK) {
        const part = r.slice(i, i + GG.HEX_CHUNK);
        const p = L.polygon(part, {stroke: !!opts.line, color: opts.line || ramp[level], weight: 0.5, fillColor: ramp[level],
          fillOpacity: opts.opacity == null ? 0.55 : opts.opacity, interactive: false, renderer: opts.renderer,
          pane: opts.pane || "overlayPane"});
        p.cells = part.length;
        out.push(p);
      }
    });
    return out;
  };

  /** Leaflet's and leaflet-geoman's own words (button titles) in the page's language. */
  function speakLeaflet(map) {
    if (map.pm && GG.lang === "zh-CN") map.pm.setLang("zh");
    const titles = {".leaflet-control-zoom-in": t("Zoom in"), ".leaflet-control-zoom-out": t("Zoom out"),
      ".leaflet-control-layers-toggle": t("Layers")};
    Object.entries(titles).forEach(([sel, text]) => map.getContainer().querySelectorAll(sel).forEach((el) => {
      el.title = text;
      el.setAttribute("aria-label", text);
    }));
  }

  /** Start the page once folium's script has made the map, its groups and control. */
  GG.start = function (ctx) {
    GG.config = ctx.config;
    GG.map = ctx.map;
    L.control.scale({imperial: false}).addTo(ctx.map); // metric only
    speakLeaflet(ctx.map);
    GG.groups = ctx.groups;
    GG.control = ctx.control;
    GG.showUser();
    const out = GG.$("#gg-signout");
    if (out) out.addEventListener("click", GG.signOut);
    const page = GG.pages[ctx.config.page];
    const go = async () => {
      try {
        if (!localStorage.getItem(TOKEN)) await GG.signIn();
        if (!GG.user()) {
          const me = await GG.api("/auth/me");
          localStorage.setItem("gg.user", JSON.stringify({username: me.username, role: me.role, team: me.team_code}));
          GG.showUser();
        }
        await page(ctx);
      } catch (e) {
        GG.status(e.message, "error");
        console.warn(e);
      }
    };
    go();
  };
})();
