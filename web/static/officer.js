/* The enforcement officer's phone page (mobile enforcement): my team's open cases by deadline with the distance from me; a
   case's place, routing reason and history; a geo: link to navigate; arrive (position and accuracy, a warning past
   the matter's radius), handle (procedure, photos before and after, note, the party and the first-violation
   outcome the matter's list proposes), feed back. Every step waits in the shared outbox (outbox.js) and is sent
   with the revision it was made on and its own idempotency key: offline steps go, in order, exactly once. */
;(function () {
  "use strict";
  const GG = window.GG;
  const t = GG.t;
  const OUTBOX = "gg.officer.outbox";
  const CASES = "gg.officer.cases";
  const OPEN = "dispatched,arrived,handled"; // the states in which the team holds the case
  const DEFAULT_RADIUS_M = 250; // the server's default duplicate radius (store/cases.py DEFAULT_DUPLICATE_M)
  const USCC = "0123456789ABCDEFGHJKLMNPQRTUWXY";
  let map, groups, units = null, me = null, cases = {}, current = null;
  const box = GG.outbox(OUTBOX, send, () => { renderOutbox(); if (current) renderHistory(); });

  /** Metres between two points on the sphere (haversine; the server measures on a local plane: within 0.5 %). */
  function metres(lat1, lon1, lat2, lon2) {
    const r = Math.PI / 180, a = Math.sin((lat2 - lat1) * r / 2) ** 2 +
      Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin((lon2 - lon1) * r / 2) ** 2;
    return 2 * 6371008.8 * Math.asin(Math.sqrt(a));
  }
  const away = (c) => (me && c.lat != null ? metres(me.lat, me.lon, c.lat, c.lon) : null);
  const matter = (c) => GG.ref.matters[c.matter] || {attributes: {}};
  const radius = (c) => Number((matter(c).attributes || {}).duplicate_m) || DEFAULT_RADIUS_M;

  const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  /** A resident ID's check character from its first 17 digits (ISO 7064 MOD 11-2). */
  const idCheck = (first17) => "10X98765432"[ID_WEIGHTS.reduce((acc, w, i) => acc + w * Number(first17[i]), 0) % 11];
  /** Whether YYYYMMDD is a real birth date between 1880 and today (the server's rule). */
  function bornOk(digits) {
    const y = Number(digits.slice(0, 4)), m = Number(digits.slice(4, 6)), d = Number(digits.slice(6, 8));
    const born = new Date(Date.UTC(y, m - 1, d));
    return born.getUTCFullYear() === y && born.getUTCMonth() === m - 1 && born.getUTCDate() === d && y >= 1880 && born <= new Date();
  }

  /** A party's number as the server reads it (cases/first_violation.py normalize_id_card, normalize_uscc):
      capitals, no spaces, and a 15-digit first-generation ID widened to its 18-digit form (19 before the year, then
      the check digit), so both forms of one card give the same offline key; or what is wrong with it, before it
      leaves the phone (the server checks again). */
  function normalizeNumber(kind, id) {
    const v = id.trim().toUpperCase().replace(/ /g, "");
    if (kind === "person") {
      if (/^\d{15}$/.test(v)) { // first generation: 6-digit area, YYMMDD, 3-digit sequence
        if (!bornOk("19" + v.slice(6, 12))) return {error: t("The ID number's birth date {birth} is not a real date", {birth: v.slice(6, 12)})};
        const body = v.slice(0, 6) + "19" + v.slice(6);
        return {id: body + idCheck(body)};
      }
      if (!/^\d{17}[\dX]$/.test(v)) return {error: t("An ID number has 18 characters (17 digits and a digit or X), or 15 digits on an old card")};
      if (!bornOk(v.slice(6, 14))) return {error: t("The ID number's birth date {birth} is not a real date", {birth: v.slice(6, 14)})};
      if (idCheck(v) !== v[17]) return {error: t("The ID number's check digit is wrong: check the number and type it again")};
      return {id: v};
    }
    if (v.length !== 18 || [...v].some((ch) => !USCC.includes(ch))) return {error: t("A unified social credit code has 18 characters: digits and capital letters except I, O, Z, S and V")};
    const s = [...v.slice(0, 17)].reduce((acc, ch, i) => acc + USCC.indexOf(ch) * (3 ** i % 31), 0);
    if (USCC[(31 - s % 31) % 31] !== v[17]) return {error: t("The unified social credit code's check character is wrong: check the code and type it again")};
    return {id: v};
  }

  // ---- first-violation lookups kept for offline ----------------------------------------------------------
  // Online, every lookup answers with the party's salted hash (the salt never leaves the server) and the earlier
  // cases; the page keeps that, and the team's recorded parties per (hash, matter) from GET /first-violation/team.
  // Offline, a party looked up before is found again through a hash of the typed number made on this phone (a
  // random per-account salt: the number itself is not kept), and the earlier cases are answered from the copy,
  // with the time it is as of. The proposal made then is provisional: the server decides when the step is sent.
  const FIRST_OUTCOME = {no_penalty: "no_penalty", correction_first: "correction_order", warning_only: "warning"};
  const fvKey = () => "gg.officer.fv." + ((GG.user() || {}).username || "");
  function fvLoad() {
    let kept = null;
    try { kept = JSON.parse(localStorage.getItem(fvKey()) || "null"); } catch (e) { kept = null; }
    kept = kept || {};
    if (!kept.salt) kept.salt = GG.uuid();
    kept.lookups = kept.lookups || {};
    kept.results = kept.results || {};
    return kept;
  }
  function fvSave(kept) { try { localStorage.setItem(fvKey(), JSON.stringify(kept)); } catch (e) { /* full: not kept */ } }

  /** SHA-256 of a text, hex (plain JS: WebCrypto is missing on a plain-http intranet page). */
  function sha256(text) {
    const bytes = Array.from(new TextEncoder().encode(text));
    const K = [], H = [];
    const frac = (x) => ((x - Math.floor(x)) * 4294967296) | 0;
    for (let n = 2, found = 0; found < 64; n++) {
      let prime = true;
      for (let d = 2; d * d <= n; d++) if (n % d === 0) { prime = false; break; }
      if (!prime) continue;
      if (found < 8) H[found] = frac(Math.pow(n, 1 / 2));
      K[found++] = frac(Math.pow(n, 1 / 3));
    }
    const bits = bytes.length * 8;
    bytes.push(0x80);
    while (bytes.length % 64 !== 56) bytes.push(0);
    for (let i = 7; i >= 0; i--) bytes.push(i >= 4 ? 0 : (bits >>> (i * 8)) & 0xff);
    const rot = (x, n) => (x >>> n) | (x << (32 - n));
    for (let o = 0; o < bytes.length; o += 64) {
      const w = [];
      for (let i = 0; i < 64; i++) {
        if (i < 16) w[i] = (bytes[o + 4 * i] << 24) | (bytes[o + 4 * i + 1] << 16) | (bytes[o + 4 * i + 2] << 8) | bytes[o + 4 * i + 3];
        else {
          const s0 = rot(w[i - 15], 7) ^ rot(w[i - 15], 18) ^ (w[i - 15] >>> 3), s1 = rot(w[i - 2], 17) ^ rot(w[i - 2], 19) ^ (w[i - 2] >>> 10);
          w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
        }
      }
      let [a, b, c, d, e, f, g, h] = H;
      for (let i = 0; i < 64; i++) {
        const t1 = (h + (rot(e, 6) ^ rot(e, 11) ^ rot(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
        const t2 = ((rot(a, 2) ^ rot(a, 13) ^ rot(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      [a, b, c, d, e, f, g, h].forEach((v, i) => { H[i] = (H[i] + v) | 0; });
    }
    return H.map((v) => (v >>> 0).toString(16).padStart(8, "0")).join("");
  }
  /** This phone's key for a party: its own salted hash of the kind and the number, normalised as the server does
      (an old 15-digit ID and its 18-digit form are one key). */
  const partyKey = (kept, p) => sha256(kept.salt + ":" + p.kind + ":" + p.id_number);

  async function refreshTeamOutcomes() {
    try {
      const team = await GG.api("/first-violation/team");
      const kept = fvLoad();
      kept.team = team;
      fvSave(kept);
    } catch (e) { /* offline, or not an officer: the copy stays as it was */ }
  }

  /** Months back from a time, as the server counts them (the same day of the month, or the month's last). */
  function monthsBefore(at, months) {
    const d = new Date(at.getTime());
    const day = d.getDate();
    d.setDate(1);
    d.setMonth(d.getMonth() - months);
    d.setDate(Math.min(day, new Date(d.getFullYear(), d.getMonth() + 1, 0).getDate()));
    return d;
  }

  /** The offline answer: earlier cases of this party and matter from the copy, and a provisional proposal. */
  function offlineAnswer(c, p) {
    const kept = fvLoad(), key = partyKey(kept, p), look = kept.lookups[key];
    const a = matter(c).attributes || {};
    const klass = a.first_violation || "none", months = a.first_violation_months || 12;
    const since = monthsBefore(new Date(), months);
    const earlier = new Map();
    const add = (e) => { if (e.case !== c.id && new Date(e.at) >= since && !earlier.has(e.case)) earlier.set(e.case, e); };
    let asOf = null;
    if (look) {
      const result = kept.results[look.party_hash + "|" + c.matter];
      if (result) { result.earlier.forEach(add); asOf = result.as_of; }
      if (kept.team) {
        kept.team.outcomes.filter((o) => o.party_hash === look.party_hash && o.matter === c.matter).forEach(add);
        if (!asOf || kept.team.as_of > asOf) asOf = kept.team.as_of;
      }
    }
    // This phone's own handlings of the party (sent or still queued) count too.
    box.items().forEach((it) => {
      if (it.party_key === key && it.matter === c.matter && it.state !== "failed") add({case: it.case_id, at: it.handled_at, outcome: it.outcome || null});
    });
    const list = Array.from(earlier.values()).sort((x, y) => String(x.at).localeCompare(String(y.at)));
    const outcome = klass in FIRST_OUTCOME && !list.length ? FIRST_OUTCOME[klass] : "penalty";
    return {known: !!look, asOf: asOf, list: list, klass: klass, months: months, outcome: outcome,
      masked: look ? look.masked_id : null};
  }

  // ---- cases: loaded when online, kept for offline, moved on by queued steps ---------------------------
  // Kept per account: a shared phone shows the next officer only their own team's cases.
  const casesKey = () => CASES + "." + ((GG.user() || {}).username || "");
  const keep = () => { try { localStorage.setItem(casesKey(), JSON.stringify(cases)); } catch (e) { /* full: kept in memory */ } };

  /** Steps still queued move the case on here (status and revision), so the next step can be made offline. */
  function applyPending() {
    for (const it of box.items().slice().reverse()) {
      const c = cases[it.case_id];
      if (it.state !== "queued" || !c || c.revision > it.revision) continue;
      c.revision = it.revision + it.steps.length;
      c.status = it.to;
    }
  }

  async function loadCases() {
    try {
      const list = await GG.api("/cases?status=" + OPEN + "&limit=500");
      const fresh = {};
      list.forEach((c) => { fresh[c.id] = Object.assign({}, cases[c.id] || {}, c); });
      if (current && cases[current] && !fresh[current]) fresh[current] = cases[current]; // fed back: still open here
      cases = fresh;
      keep();
      refreshTeamOutcomes();
    } catch (e) {
      if (e.status) throw e;
      GG.status(t("Offline: the cases as last loaded"), "info");
    }
    applyPending();
    renderList();
    drawCases();
  }

  function renderList() {
    const list = Object.values(cases).filter((c) => OPEN.split(",").includes(c.status))
      .sort((a, b) => (a.deadline || "9999").localeCompare(b.deadline || "9999") || a.id - b.id);
    const ul = GG.$("#of-cases");
    ul.replaceChildren(...list.map((c) => {
      const li = document.createElement("li");
      li.dataset.id = String(c.id);
      li.dataset.overdue = String(!!c.overdue);
      const d = away(c);
      li.innerHTML = "<b>#" + c.id + " " + GG.esc(GG.matterName(c.matter)) + "</b> · " + GG.esc(GG.term("status", c.status)) +
        "<br><span class='gg-small'>" + GG.esc(t("Deadline")) + " " + GG.esc(c.deadline ? GG.fmtTime(c.deadline, {time: true}) : "—") +
        (c.overdue ? " · " + GG.esc(t("overdue")) : "") + (d != null ? " · " + GG.esc(t("{distance} away", {distance: GG.distance(d)})) : "") + "</span>";
      li.addEventListener("click", () => openCase(c.id));
      return li;
    }));
    if (!list.length) ul.innerHTML = "<li>" + GG.esc(t("No open case for your team")) + "</li>";
    document.body.dataset.cases = String(list.length);
  }

  function drawCases() {
    groups.cases.clearLayers();
    Object.values(cases).forEach((c) => {
      if (c.lat == null) return;
      const chosen = c.id === current;
      L.circleMarker([c.lat, c.lon], {radius: chosen ? 11 : 7, weight: chosen ? 3 : 1, color: chosen ? "#000" : "#fff",
        fillColor: GG.stateColour(c.status), fillOpacity: 0.9})
        .bindTooltip("#" + c.id + " " + GG.matterName(c.matter)).on("click", () => openCase(c.id)).addTo(groups.cases);
    });
  }

  function drawMe() {
    groups.me.clearLayers();
    if (!me) return;
    L.circleMarker([me.lat, me.lon], {radius: 6, color: "#0b5cad", fillColor: "#0b5cad", fillOpacity: 1}).addTo(groups.me);
    if (me.accuracy) L.circle([me.lat, me.lon], {radius: me.accuracy, weight: 1, fillOpacity: 0.08}).addTo(groups.me);
  }

  function located(p) {
    me = {lat: p.coords.latitude, lon: p.coords.longitude, accuracy: p.coords.accuracy};
    GG.$("#of-where").textContent = t("Located") + " " + me.lat.toFixed(6) + ", " + me.lon.toFixed(6) + " ±" + GG.distance(me.accuracy);
    drawMe();
    renderList();
    if (current) renderCase();
  }

  /** The position now (or the last one, or none): arrival records what the phone knows. */
  function position() {
    return new Promise((resolve) => {
      if (!navigator.geolocation) { resolve(me); return; }
      navigator.geolocation.getCurrentPosition((p) => { located(p); resolve(me); }, () => resolve(me),
        {enableHighAccuracy: true, timeout: 10000, maximumAge: 10000});
    });
  }

  // ---- one case -----------------------------------------------------------------------------------
  async function openCase(id) {
    current = id;
    GG.$("#of-queue").hidden = true;
    GG.$("#of-case").hidden = false;
    GG.$("#of-proposal").textContent = "";
    delete GG.$("#of-proposal").dataset.proposal;
    showWarning(null);
    const c = cases[id];
    GG.$("#of-procedure").value = c.procedure;
    if (c.lat != null) map.setView([c.lat, c.lon], 16, {animate: false});
    drawCases();
    renderCase();
    try {
      const full = await GG.api("/cases/" + id);
      const history = await GG.api("/cases/" + id + "/history");
      Object.assign(cases[id], full, {history: history});
      applyPending();
      keep();
    } catch (e) {
      if (e.status) GG.status(e.message, "error");
    }
    if (current === id) renderCase();
    document.body.dataset.caseId = String(id);
  }

  function closeCase() {
    current = null;
    GG.$("#of-case").hidden = true;
    GG.$("#of-queue").hidden = false;
    delete document.body.dataset.caseId;
    drawCases();
    renderList();
  }

  function placeName(c) {
    const name = (code) => (units && code && units.byCode[code] ? units.byCode[code].name : null);
    return [name(c.village), name(c.township)].filter(Boolean).join(" · ");
  }

  function renderCase() {
    const c = cases[current];
    if (!c) return;
    GG.$("#of-title").textContent = "#" + c.id + " " + GG.matterName(c.matter);
    const d = away(c);
    const facts = [GG.term("status", c.status), t("Deadline") + " " + (c.deadline ? GG.fmtTime(c.deadline, {time: true}) : "—"),
      GG.term("procedure", c.procedure), placeName(c), d != null ? t("{distance} away", {distance: GG.distance(d)}) : "",
      c.outcome ? t("Outcome") + ": " + GG.term("outcome", c.outcome) : ""].filter(Boolean);
    GG.$("#of-facts").textContent = facts.join(" · ");
    GG.$("#of-reason").textContent = c.routing && c.routing.reason ? t("Why this team") + ": " + c.routing.reason : (c.description || "");
    const nav = GG.$("#of-nav");
    nav.hidden = c.lat == null;
    if (c.lat != null) nav.href = "geo:" + c.lat.toFixed(6) + "," + c.lon.toFixed(6) + "?q=" + c.lat.toFixed(6) + "," + c.lon.toFixed(6) + "(%23" + c.id + ")";
    const a = matter(c).attributes || {};
    const cls = a.first_violation || "none";
    const list = GG.$("#of-list");
    list.dataset.list = cls;
    list.textContent = t("First-violation list") + ": " + GG.term("first_violation", cls) +
      (cls !== "none" ? " · " + t("look-back {months} months", {months: a.first_violation_months || 12}) : "");
    GG.$("#of-arrive").disabled = c.status !== "dispatched";
    GG.$("#of-handle-send").disabled = c.status !== "arrived";
    GG.$("#of-feedback-send").disabled = c.status !== "handled";
    GG.$("#of-handle").hidden = !["arrived", "dispatched"].includes(c.status);
    GG.$("#of-feedback").hidden = c.status !== "handled";
    document.body.dataset.caseStatus = c.status;
    renderHistory();
  }

  function renderHistory() {
    const c = cases[current];
    if (!c) return;
    const rows = (c.history || []).map((e) => {
      const li = document.createElement("li");
      const outcome = e.detail && e.detail.outcome && e.detail.outcome.outcome;
      const note = (e.detail && e.detail.note) || e.reason || "";
      li.innerHTML = GG.esc(GG.fmtTime(e.at, {time: true})) + " · <b>" + GG.esc(GG.term("action", e.action)) + "</b> · " + GG.esc(e.actor) +
        (outcome ? " · " + GG.esc(GG.term("outcome", outcome)) : "") + (e.detail && e.detail.warning ? " · ⚠" : "") +
        (note ? " · <span class='gg-data'>" + GG.esc(note) + "</span>" : "");
      return li;
    });
    box.items().filter((it) => it.case_id === c.id && it.state === "queued").reverse().forEach((it) => {
      const li = document.createElement("li");
      li.dataset.state = "queued";
      li.textContent = "⏳ " + t("Queued") + " · " + it.what;
      rows.push(li);
    });
    GG.$("#of-history").replaceChildren(...rows);
  }

  function showWarning(text) {
    const w = GG.$("#of-warning");
    w.textContent = text ? "⚠ " + text : "";
    if (text) w.dataset.kind = "warn"; else delete w.dataset.kind;
  }

  // ---- steps into the outbox ------------------------------------------------------------------------
  function queue(c, steps, to, what, photos, extra) {
    const item = Object.assign({key: GG.uuid(), state: "queued", created: new Date().toISOString(), error: null,
      by: (GG.user() || {}).username || null, case_id: c.id, revision: c.revision, steps: steps, to: to,
      what: "#" + c.id + " " + what, photos: photos || null, shas: {}}, extra || {});
    const items = box.items();
    items.unshift(item);
    try { box.save(items); } catch (e) { GG.status(t("The phone's storage is full: {error}", {error: e.message}), "error"); return false; }
    c.revision += steps.length;
    c.status = to;
    keep();
    renderCase();
    renderOutbox();
    box.flush();
    return true;
  }

  async function arrive() {
    const c = cases[current];
    const at = new Date().toISOString();
    const pos = await position();
    const step = {action: "arrive", at: at};
    let warning = null;
    if (pos) {
      Object.assign(step, {lon: pos.lon, lat: pos.lat, accuracy_m: pos.accuracy});
      const d = c.lat != null ? metres(pos.lat, pos.lon, c.lat, c.lon) : null;
      if (d != null && d > radius(c)) {
        warning = t("You are {distance} from the case, farther than the matter's radius {radius}: check the place",
          {distance: GG.distance(d), radius: GG.distance(radius(c))});
      }
    } else {
      warning = t("No position: the arrival is recorded without one");
    }
    showWarning(warning);
    queue(c, [step], "arrived", GG.term("action", "arrive"));
  }

  function fileData(input) {
    const file = input.files[0];
    if (!file) return Promise.resolve(null);
    if (file.size > 10 * 2 ** 20) return Promise.reject(new Error(t("The photo is over 10 MiB")));
    return new Promise((resolve, reject) => {
      const r = new FileReader();
      r.onload = () => resolve({type: file.type, data: r.result});
      r.onerror = () => reject(r.error);
      r.readAsDataURL(file);
    });
  }

  /** The party as typed, or null; an error message when the number is wrong. */
  function party() {
    const kind = GG.$("#of-party-kind").value;
    if (!kind) return {party: null};
    const number = normalizeNumber(kind, GG.$("#of-party-id").value);
    if (number.error) return {error: number.error};
    return {party: {kind: kind, id_number: number.id, name: GG.$("#of-party-name").value.trim()}};
  }

  async function handle(ev) {
    ev.preventDefault();
    const c = cases[current];
    const p = party();
    if (p.error) { GG.status(p.error, "error"); return; }
    let photos;
    try {
      photos = {before: await fileData(GG.$("#of-before")), after: await fileData(GG.$("#of-after"))};
    } catch (e) { GG.status(e.message, "error"); return; }
    const step = {action: "handle", at: new Date().toISOString(), procedure: GG.$("#of-procedure").value};
    const note = GG.$("#of-note").value.trim();
    if (note) step.note = note;
    if (p.party) step.party = p.party;
    if (GG.$("#of-outcome").value) step.outcome = GG.$("#of-outcome").value;
    // Kept on the item, never sent: this phone's key for the party (its later offline answers count this case)
    // and the proposal made offline, to compare with the server's when the step is sent.
    const out = GG.$("#of-proposal");
    const extra = p.party ? {party_key: partyKey(fvLoad(), p.party), matter: c.matter, handled_at: step.at, outcome: step.outcome || null,
      provisional: out.dataset.provisional === "1" && out.dataset.proposal ? out.dataset.proposal : null} : {};
    if (queue(c, [step], "handled", GG.term("action", "handle") + (step.outcome ? " · " + GG.term("outcome", step.outcome) : ""), photos, extra)) {
      ["#of-note", "#of-party-id", "#of-party-name", "#of-before", "#of-after"].forEach((s) => { GG.$(s).value = ""; });
    }
  }

  function feedback(ev) {
    ev.preventDefault();
    const c = cases[current];
    const step = {action: "feedback", at: new Date().toISOString()};
    const note = GG.$("#of-feedback-note").value.trim();
    if (note) step.note = note;
    if (queue(c, [step], "fed_back", GG.term("action", "feedback"))) GG.$("#of-feedback-note").value = "";
  }

  /** The matter's list, the party's earlier cases of it within the window, and the outcome proposed. */
  async function check() {
    const c = cases[current];
    const p = party();
    const out = GG.$("#of-proposal");
    if (p.error || !p.party) { out.dataset.kind = "error"; out.textContent = p.error || t("Choose the party's kind and type the number"); return; }
    try {
      const r = await GG.api("/cases/" + c.id + "/first-violation", {method: "POST",
        json: {party: p.party, procedure: GG.$("#of-procedure").value}});
      const earlier = r.earlier.length
        ? t("Earlier cases within {months} months", {months: r.window_months}) + ": " +
          r.earlier.map((e) => "#" + e.case + " " + GG.fmtTime(e.at) + (e.outcome ? " " + GG.term("outcome", e.outcome) : "")).join("; ")
        : t("No earlier case of this party within {months} months", {months: r.window_months});
      out.dataset.kind = r.proposal.first && r.list !== "none" ? "ok" : "warn";
      out.dataset.proposal = r.proposal.outcome;
      out.innerHTML = GG.esc(GG.term("first_violation", r.list)) + " · " + GG.esc(r.party.masked_id) + "<br>" + GG.esc(earlier) +
        "<br><b>" + GG.esc(t("Proposed")) + ": " + GG.esc(GG.term("outcome", r.proposal.outcome)) + "</b> — " + GG.esc(r.proposal.basis);
      GG.$("#of-outcome").value = r.proposal.outcome;
      delete out.dataset.provisional;
      delete out.dataset.asOf;
      const kept = fvLoad();
      kept.lookups[partyKey(kept, p.party)] = {party_hash: r.party.party_hash, masked_id: r.party.masked_id};
      kept.results[r.party.party_hash + "|" + r.matter] = {as_of: r.as_of, earlier: r.earlier};
      fvSave(kept);
    } catch (e) {
      if (e.status) { out.dataset.kind = "error"; out.textContent = e.message; delete out.dataset.proposal; return; }
      showOffline(c, p.party, out);
    }
  }

  function showOffline(c, party, out) {
    const r = offlineAnswer(c, party);
    const earlier = r.list.length
      ? t("Earlier cases within {months} months", {months: r.months}) + ": " +
        r.list.map((e) => "#" + e.case + " " + GG.fmtTime(e.at) + (e.outcome ? " " + GG.term("outcome", e.outcome) : "")).join("; ")
      : t("No earlier case of this party within {months} months", {months: r.months});
    const source = r.known && r.asOf
      ? t("Offline: earlier cases as of {time}, from this phone's copy; the list may be incomplete.", {time: GG.fmtTime(r.asOf)})
      : t("Offline: this party was not looked up on this phone while online, so other officers' cases of it are unknown; the list may be incomplete.");
    out.dataset.kind = "warn";
    out.dataset.provisional = "1";
    out.dataset.proposal = r.outcome;
    out.dataset.asOf = r.asOf || "";
    out.innerHTML = GG.esc(GG.term("first_violation", r.klass)) + (r.masked ? " · " + GG.esc(r.masked) : "") + "<br>" +
      '<span class="of-asof">' + GG.esc(source) + "</span><br>" + GG.esc(earlier) + "<br><b>" +
      GG.esc(t("Provisional proposal")) + ": " + GG.esc(GG.term("outcome", r.outcome)) + "</b> — " +
      GG.esc(t("the server checks the party's earlier cases again when the step is sent, and its proposal is what is recorded beside yours"));
    GG.$("#of-outcome").value = r.outcome;
  }

  /** One queued step: its photos first (once each: checksums are kept), then the steps under the item's key. */
  async function send(it, update) {
    const shas = Object.assign({}, it.shas || {});
    for (const which of ["before", "after"]) {
      const photo = it.photos && it.photos[which];
      if (photo && !shas[which]) {
        const up = await GG.api("/photos", {method: "POST", body: GG.outbox.blob(photo.data), headers: {"Content-Type": photo.type}, as: it.by});
        shas[which] = up.sha256;
        update(it.key, {shas: shas});
      }
    }
    const steps = it.steps.map((s) => (s.action === "handle"
      ? Object.assign({}, s, {photos_before: shas.before ? [shas.before] : [], photos_after: shas.after ? [shas.after] : []}) : s));
    let c;
    try {
      c = await GG.api("/cases/" + it.case_id + "/actions", {method: "POST", as: it.by,
        json: {revision: it.revision, idempotency_key: it.key, actions: steps}});
    } catch (e) {
      // Refused (changed by someone else, or not allowed): show the case as the server has it.
      if (e.status === 409 || e.status === 422 || e.status === 403) setTimeout(() => refreshCase(it.case_id), 0);
      // A refused step is not sent again: the party's number and the photos leave the phone's storage now (the
      // item keeps what was done, for the officer to see and do again).
      if (e.status && e.status >= 400 && e.status < 500 && e.status !== 401 && e.status !== 408 && e.status !== 429) {
        update(it.key, {photos: null, steps: it.steps.map((s) => (s.party
          ? Object.assign({}, s, {party: {kind: s.party.kind, id_number: null, name: null}}) : s))});
      }
      throw e;
    }
    const events = c.events || [];
    delete c.events;
    cases[c.id] = Object.assign(cases[c.id] || {}, c);
    applyPending(); // later steps still queued move it on again
    keep();
    const warned = events.find((e) => e.detail && e.detail.warning);
    if (warned && current === c.id) showWarning(warned.detail.warning);
    GG.status(t("Sent") + ": " + it.what + (c.replayed ? " (" + t("already recorded") + ")" : ""), "ok");
    if (current === c.id) {
      GG.api("/cases/" + c.id + "/history").then((h) => { if (cases[c.id]) { cases[c.id].history = h; keep(); renderCase(); } }).catch(() => {});
    }
    // A handling proposed offline: say what the server's check found, above all when it differs.
    let recheck = null;
    const detail = c.outcome_detail || {};
    if (it.provisional && detail.proposed) {
      recheck = detail.proposed === it.provisional
        ? t("Checked by the server on sending: it proposes {outcome} too", {outcome: GG.term("outcome", detail.proposed)})
        : t("Checked by the server on sending: it proposes {outcome}, not {provisional} ({basis})", {
          outcome: GG.term("outcome", detail.proposed), provisional: GG.term("outcome", it.provisional), basis: detail.basis || ""});
      if (current === c.id) showWarning(recheck);
    }
    // Sent: the party's number and the photos leave the phone's storage.
    return {photos: null, steps: [], replayed: !!c.replayed, result: c.status, recheck: recheck};
  }

  async function refreshCase(id) {
    try {
      const full = await GG.api("/cases/" + id);
      cases[id] = Object.assign(cases[id] || {}, full);
      applyPending();
      keep();
      renderList();
      if (current === id) renderCase();
    } catch (e) { /* offline or gone: the list's next load settles it */ }
  }

  function renderOutbox() {
    const list = GG.$("#of-outbox");
    list.replaceChildren(...box.items().slice(0, 30).map((it) => {
      const li = document.createElement("li");
      li.dataset.state = it.state;
      li.dataset.key = it.key;
      const what = GG.esc(it.what) + " · " + GG.esc(GG.fmtTime(it.created, {time: true}));
      if (it.state === "sent") li.innerHTML = "✓ " + GG.esc(t("Sent")) + " · " + what + (it.recheck ? ' · <b class="of-recheck">' + GG.esc(it.recheck) + "</b>" : "");
      else if (it.state === "failed") li.innerHTML = "✗ " + GG.esc(t("Refused")) + " · " + what + " · " + GG.esc(it.error);
      else if (!box.mine(it)) li.innerHTML = "⏳ " + GG.esc(t("Waits for {user} to sign in", {user: it.by})) + " · " + what;
      else li.innerHTML = "⏳ " + GG.esc(t("Queued")) + " · " + what + (it.error ? " · " + GG.esc(it.error) : "");
      return li;
    }));
    document.body.dataset.queued = String(box.waiting());
  }

  GG.pages.officer = async function (ctx) {
    map = ctx.map;
    groups = ctx.groups;
    document.body.classList.add("gg-page-phone", "gg-page-officer");
    map.invalidateSize();
    try { cases = JSON.parse(localStorage.getItem(casesKey()) || "{}"); } catch (e) { cases = {}; }
    renderOutbox();
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.register("/sw.js", {scope: "/"}).then(() => navigator.serviceWorker.ready)
        .then(() => { document.body.dataset.offlineReady = "1"; })
        .catch((e) => GG.status(t("Offline use unavailable: {error}", {error: e.message}), "info"));
    }
    GG.beforeSignOut = () => {
      const n = box.waiting();
      return n === 0 || confirm(t("{n} step(s) not sent yet. They stay on this phone and go when you sign in again. Sign out?", {n: n}));
    };
    window.addEventListener("online", () => box.flush().then(loadCases));
    setInterval(() => box.flush(), 10000);
    setInterval(() => { if (navigator.onLine && !current) loadCases().catch(() => {}); }, 60000);
    GG.$("#of-back").addEventListener("click", closeCase);
    GG.$("#of-arrive").addEventListener("click", arrive);
    GG.$("#of-handle").addEventListener("submit", handle);
    GG.$("#of-feedback").addEventListener("submit", feedback);
    GG.$("#of-check").addEventListener("click", check);
    GG.$("#of-locate").addEventListener("click", () => {
      if (!navigator.geolocation) { GG.status(t("No geolocation here"), "error"); return; }
      navigator.geolocation.getCurrentPosition((p) => { located(p); map.setView([me.lat, me.lon], 15); },
        (e) => GG.status(t("Could not locate ({error})", {error: e.message}), "error"),
        {enableHighAccuracy: true, timeout: 15000, maximumAge: 30000});
    });
    if (navigator.geolocation) navigator.geolocation.watchPosition(located, () => {}, {enableHighAccuracy: true, maximumAge: 30000});
    await GG.loadReference();
    units = await GG.loadUnits(["county", "township", "village"]);
    GG.unitLayer(units.layers.township, units.byCode, {fill: 0.06, weight: 2, label: true}).addTo(groups.township);
    GG.unitLayer(units.layers.village, units.byCode, {fill: 0.04, weight: 0.5}).addTo(groups.village);
    const county = L.geoJSON(units.layers.county);
    if (county.getLayers().length) map.fitBounds(county.getBounds(), {animate: false});
    await loadCases();
    box.flush();
    GG.officer = {open: openCase, cases: () => cases, normalizeNumber: normalizeNumber,
      partyKey: (p) => partyKey(fvLoad(), p)};
    GG.ready = true;
    document.body.dataset.ready = "1";
  };
})();
