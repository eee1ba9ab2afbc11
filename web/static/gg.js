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
  GG.uuid = function () {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  };

  /** A message a person can act on, from any error body the API sends. */
  GG.message = function (data, fallback) {
    if (!data) return fallback || "request failed";
    if (typeof data === "string") return data.slice(0, 300);
    if (Array.isArray(data)) return data.map((d) => d.description || JSON.stringify(d)).join("; ");
    const where = data.where ? " (" + data.where + ")" : "";
    if (typeof data.detail === "string") return data.detail + where;
    return JSON.stringify(data.detail || data).slice(0, 300);
  };

  /** fetch with the bearer token; a 401 asks the user to sign in and tries once more. */
  GG.api = async function (path, opts) {
    opts = opts || {};
    const headers = Object.assign({}, opts.headers || {});
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
        const err = new Error("已登录为 signed in as " + now + "; this waits for " + opts.as);
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
        const r = await fetch("/auth/token", {method: "POST", headers: {"Content-Type": "application/json"},
          body: JSON.stringify({username: username, password: password})});
        const data = await r.json().catch(() => null);
        if (!r.ok) throw new Error(GG.message(data, "sign-in failed"));
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
      box.innerHTML = '<form class="gg-signin" autocomplete="on"><h2>登录 Sign in</h2>' +
        '<label>用户名 Username<input name="username" autocomplete="username" required></label>' +
        '<label>密码 Password<input name="password" type="password" autocomplete="current-password" required></label>' +
        '<button type="submit">登录 Sign in</button><p class="gg-error" role="alert"></p></form>';
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
    if (el) el.textContent = u ? u.username + " · " + u.role + (u.team ? " · " + u.team : "") : "";
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
  GG.STATE_COLOURS = {
    reported: "#e31a1c", registered: "#fd8d3c", dispatched: "#feb24c", arrived: "#41b6c4", handled: "#1d91c0",
    fed_back: "#225ea8", checked: "#6a51a3", suspended: "#969696", closed: "#31a354", evaluated: "#006d2c",
    cancelled: "#bdbdbd",
  };
  GG.stateColour = (s) => GG.STATE_COLOURS[s] || "#000";

  // ---- reference data -------------------------------------------------------------------------
  GG.ref = {teams: {}, matters: {}, unitTeam: {}};
  GG.loadReference = async function () {
    const [teams, matters] = await Promise.all([GG.api("/teams"), GG.api("/matters")]);
    teams.forEach((t) => { GG.ref.teams[t.code] = t; if (t.unit_code && t.kind !== "grid_worker" && !GG.ref.unitTeam[t.unit_code]) GG.ref.unitTeam[t.unit_code] = t.code; });
    matters.forEach((m) => { GG.ref.matters[m.code] = m; });
    return GG.ref;
  };
  GG.teamName = (code) => (GG.ref.teams[code] ? GG.ref.teams[code].name : code || "—");
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

  /** Start the page once folium's script has made the map, its groups and control. */
  GG.start = function (ctx) {
    GG.config = ctx.config;
    GG.map = ctx.map;
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
