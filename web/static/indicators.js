/* The indicators page: read GET /indicators as JSON, show a sortable table, download CSV/XLSX with the token. */
;(function () {
  "use strict";
  const GG = window.GG;
  const t = GG.t;
  const $ = GG.$;
  const RATES = new Set(["closure_rate", "on_time_rate", "overdue_rate", "escalation_rate", "rework_rate"]);
  const LEFT = new Set(["code", "name", "grade"]);
  let data = null;
  let sort = {key: "code", dir: 1};

  function config() {
    const el = document.getElementById("gg-config");
    try { return el ? JSON.parse(el.textContent) : {}; } catch (e) { return {}; }
  }

  function query(format) {
    const to = new Date($("#in-to").value + "T00:00:00Z");
    to.setUTCDate(to.getUTCDate() + 1); // the chosen day is included: the API's `to` is exclusive
    const p = new URLSearchParams({from: $("#in-from").value, to: to.toISOString().slice(0, 10), level: $("#in-level").value});
    const county = new URLSearchParams(location.search).get("county");
    if (county) p.set("county", county);
    if (format) p.set("format", format);
    return p;
  }

  function show(value, key) {
    if (value === null || value === undefined) return "—";
    if (RATES.has(key)) return (value * 100).toFixed(1) + "%";
    if (key === "mean_hours_to_close") return Number(value).toFixed(1);
    return String(value);
  }

  /** A cell: the name first, its code after it in smaller type (names before codes); numbers as they read. */
  function cell(r, key) {
    if (key === "name") {
      return '<span class="in-name">' + GG.esc(show(r.name, key)) + '</span> <small class="in-code">' + GG.esc(show(r.code, "code")) + "</small>";
    }
    return GG.esc(show(r[key], key));
  }

  function render() {
    // The code rides with the name (smaller, after it) rather than in a column of its own before it.
    const cols = data.columns.filter((c) => c.key !== "code");
    const rows = data.rows.slice().sort((a, b) => {
      const x = a[sort.key], y = b[sort.key];
      if (x === y) return String(a.code).localeCompare(String(b.code));
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y), GG.lang)) * sort.dir;
    });
    $("#in-table thead").innerHTML = "<tr>" + cols.map((c) => '<th data-key="' + GG.esc(c.key) + '" class="' +
      (LEFT.has(c.key) ? "gg-left" : "") + '"' + (c.key === sort.key ? ' aria-sort="' + (sort.dir > 0 ? "ascending" : "descending") + '"' : "") +
      ">" + GG.esc(c.label) + "</th>").join("") + "</tr>";
    $("#in-table tbody").innerHTML = rows.map((r) => "<tr>" + cols.map((c) => '<td class="' + (LEFT.has(c.key) ? "gg-left" : "") +
      (c.key === "grade" && r.grade ? " gg-grade-" + GG.esc(r.grade) : "") + '">' + cell(r, c.key) + "</td>").join("") + "</tr>").join("");
    $("#in-table thead").querySelectorAll("th").forEach((th) => th.addEventListener("click", () => {
      const key = th.dataset.key;
      sort = {key: key, dir: sort.key === key ? -sort.dir : (key === "code" || key === "name" ? 1 : -1)};
      render();
    }));
  }

  async function load() {
    GG.status(t("Loading…"));
    data = await GG.api("/indicators?" + query().toString(), {headers: {Accept: "application/json"}});
    render();
    $("#in-note").textContent = data.first_violation_recorded ? "" :
      t("No first-violation outcome is recorded yet: that column stays empty.");
    GG.status(t("{n} rows, as of {time}", {n: data.rows.length, time: GG.fmtTime(data.period.as_of)}), "ok");
    document.body.dataset.ready = "1";
  }

  async function download(path, name) {
    const headers = {"Accept-Language": GG.lang, Authorization: "Bearer " + (localStorage.getItem("gg.token") || "")};
    const r = await fetch(path, {headers: headers});
    if (!r.ok) throw new Error(GG.message(await r.json().catch(() => null), r.status + " " + r.statusText));
    const url = URL.createObjectURL(await r.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  function guard(fn) {
    return (ev) => {
      if (ev) ev.preventDefault();
      Promise.resolve().then(fn).catch((e) => { GG.status(e.message, "error"); document.body.dataset.ready = "1"; });
    };
  }

  async function start() {
    GG.config = config();
    const today = GG.isoDay(new Date());
    const from = new Date(today + "T00:00:00Z");
    from.setUTCDate(from.getUTCDate() - 30);
    $("#in-from").value = from.toISOString().slice(0, 10);
    $("#in-to").value = today;
    $("#gg-signout").addEventListener("click", GG.signOut);
    $("#in-form").addEventListener("submit", guard(load));
    $("#in-csv").addEventListener("click", guard(() => download("/indicators?" + query("csv"), "indicators.csv")));
    $("#in-xlsx").addEventListener("click", guard(() => download("/indicators?" + query("xlsx"), "indicators.xlsx")));
    $("#in-review").addEventListener("click", guard(() => download("/indicators/delegation-review?format=xlsx",
      "delegation-review.xlsx")));
    if (!localStorage.getItem("gg.token")) await GG.signIn();
    if (!GG.user()) {
      const me = await GG.api("/auth/me");
      localStorage.setItem("gg.user", JSON.stringify({username: me.username, role: me.role, team: me.team_code}));
    }
    GG.showUser();
    await load();
  }

  window.addEventListener("DOMContentLoaded", guard(start));
})();
