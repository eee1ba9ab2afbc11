/* The dispatch console: the triage queue by kind, overdue and escalated cases, and every action on them, beside a
   map of the selected case, its boundaries and the team it would go to. Every action sends the revision it read;
   a 409 reloads the case and says what changed. Fed-back cases wait under "to check and close" for the check
   and the closure. Keyboard: j/k move, x select, r register, d dispatch, ? help. */
;(function () {
  "use strict";
  const GG = window.GG;
  const t = GG.t, esc = GG.esc;
  let map, groups;
  const KINDS = ["near_boundary", "dispute", "gap", "unlocated", "duplicate", "registered", "late", "review"];
  const REVIEW = ["fed_back", "checked"]; // back from the team: the command centre checks and closes
  const queue = new Map(); // id -> case view (as last listed)
  const checked = new Set(); // ids ticked for a bulk action
  let tab = "all", shown = [], cursorIndex = -1;
  let current = null, currentHistory = [], currentDispute = null; // the case as read, with its history
  const openDisputed = new Set(); // ids of cases whose dispute record is open (GET /cases?dispute=open)
  const feed = new Map(); // id -> the live feed's row (GET /wall/cases), kept up to date by polling
  const WITH_TEAM = ["dispatched", "arrived", "handled"];
  let feedCursor = null, reloading = null, reloadAgain = null, serverOffset = 0;
  let pin = null, pinPreview = null;
  const units = {byCode: {}, layers: {}}; // unit code -> Leaflet layer (township, village, zone)
  let highlighted = [];
  let unitName = (code) => code; // a unit's name once the units are in

  const DISPUTED = ["dispute", "gap"]; // triage kinds that wait for the case's dispute record to be settled
  const OPEN_WITH_TEAM = WITH_TEAM.concat(["fed_back", "checked", "suspended"]); // open, and a team already has it
  function kindOf(c) {
    if (c.status === "duplicate") return "duplicate";
    // Settled (ruled or dismissed): the owner is decided; the case waits only to be registered and dispatched.
    if (c.status === "reported" && c.triage === "settled") return "registered";
    if (c.status === "reported" && c.triage) return c.triage;
    if (c.status === "registered") return DISPUTED.includes(c.triage) ? c.triage : "registered"; // open dispute: still there
    if (openDisputed.has(c.id) && OPEN_WITH_TEAM.includes(c.status)) return "dispute"; // a team says "not ours"
    if (REVIEW.includes(c.status)) return "review";
    return c.overdue || c.escalation_level > 0 ? "late" : null; // null: with its team, on time (no queue of ours)
  }
  function kindLabel(k) {
    if (k === "all") return t("All triage");
    if (k === "registered") return t("Awaiting dispatch");
    if (k === "late") return t("Overdue and escalated");
    if (k === "review") return t("To check and close");
    if (!k) return "";
    return GG.term("triage", k);
  }
  const KIND_COLOURS = {near_boundary: "#e6550d", dispute: "#b3261e", gap: "#7b4173", unlocated: "#636363",
    duplicate: "#8c6d31", registered: "#fd8d3c", late: "#000", review: "#2a7d3e"};
  const inTriage = (c) => !["late", "review", null].includes(kindOf(c));
  const teamLabel = (code) => (code ? GG.teamName(code) + (GG.ref.teams[code] ? " (" + code + ")" : "") : "—");

  // ---- the queue -----------------------------------------------------------------------------------
  /** The triage queue, duplicates, registered and fed-back cases in full (few, and bulk actions need their
      revisions); the overdue and escalated ones from the live feed's compact rows (there may be thousands). */
  async function loadQueue() {
    const [tri, dup, reg, back, disputed] = await Promise.all([
      GG.api("/cases?triage=true&limit=5000"), GG.api("/cases?status=duplicate&limit=5000"),
      GG.api("/cases?status=registered&limit=5000"), GG.api("/cases?status=" + REVIEW.join(",") + "&limit=5000"),
      GG.api("/cases?dispute=open&limit=5000")]);
    queue.clear();
    openDisputed.clear();
    disputed.forEach((c) => openDisputed.add(c.id));
    [...tri, ...dup, ...reg, ...back].forEach((c) => queue.set(c.id, c));
    lateFromFeed().forEach((c) => queue.set(c.id, c));
    // Open disputes over cases a team already has ("not ours"): the dispute tab, to be ruled or dismissed.
    disputed.filter((c) => OPEN_WITH_TEAM.includes(c.status)).forEach((c) => queue.set(c.id, c));
    Array.from(checked).forEach((id) => { if (!queue.has(id)) checked.delete(id); });
    renderQueue();
    drawQueueMarkers();
  }

  function sortKey(a, b) {
    if (kindOf(a) === "late" && kindOf(b) === "late") {
      return (b.escalation_level - a.escalation_level) || String(a.deadline).localeCompare(String(b.deadline));
    }
    return String(a.reported_at).localeCompare(String(b.reported_at)) || a.id - b.id; // the longest waiting first
  }

  function renderQueue() {
    const counts = {all: 0};
    queue.forEach((c) => { const k = kindOf(c); counts[k] = (counts[k] || 0) + 1; if (inTriage(c)) counts.all += 1; });
    GG.$("#cq-tabs").replaceChildren(...["all", ...KINDS].map((k, i) => {
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.kind = k;
      b.setAttribute("role", "tab");
      b.setAttribute("aria-pressed", String(k === tab));
      b.title = kindLabel(k) + " (" + (i + 1) + ")";
      b.innerHTML = esc(kindLabel(k)) + ' <span class="gg-count">' + (counts[k] || 0) + "</span>";
      b.addEventListener("click", () => { tab = k; cursorIndex = -1; renderQueue(); });
      return b;
    }));
    shown = Array.from(queue.values()).filter((c) => (tab === "all" ? inTriage(c) : kindOf(c) === tab)).sort(sortKey);
    const list = GG.$("#cq-list");
    list.replaceChildren(...shown.map(queueItem));
    if (current) cursorIndex = shown.findIndex((c) => c.id === current.id);
    markCursor(false);
    GG.$("#cq-all").checked = shown.length > 0 && shown.every((c) => checked.has(c.id));
    GG.$("#cq-empty").hidden = shown.length > 0;
    updateBulk();
    document.body.dataset.queue = String(queue.size);
  }

  function queueItem(c) {
    const li = document.createElement("li");
    li.dataset.caseId = c.id;
    li.dataset.kind = kindOf(c);
    li.setAttribute("role", "option");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = checked.has(c.id);
    box.disabled = !bulkable(c);
    box.setAttribute("aria-label", t("Select case #{id}", {id: c.id}));
    box.addEventListener("click", (ev) => { ev.stopPropagation(); toggle(c.id, box.checked); });
    const text = document.createElement("span");
    const where = c.township ? unitName(c.township) : (c.address || t("no location"));
    const late = kindOf(c) === "late";
    text.innerHTML = '<span class="gg-dot" style="background:' + KIND_COLOURS[kindOf(c)] + '"></span><b>#' + c.id + "</b> " +
      esc(GG.matterName(c.matter)) + ' <span class="cq-where">' + esc(where) + "</span><br>" +
      '<span class="gg-small">' + esc(kindLabel(kindOf(c))) + " · " + esc(GG.term("status", c.status)) + " · " +
      esc(GG.teamName(c.team)) +
      (late ? (c.escalation_level ? ' · <b class="gg-bad">' + esc(t("Escalated, level {level}", {level: c.escalation_level})) + "</b>" : "") +
        (c.overdue ? ' · <span class="gg-bad">' + esc(t("Overdue")) + " " + esc(GG.fmtTime(c.deadline, {short: true})) + "</span>" : "")
        : " · " + esc(GG.fmtTime(c.reported_at, {short: true}))) +
      (c.linked_to ? " · " + esc(t("same as case #{id}", {id: c.linked_to})) : "") + "</span>";
    li.append(box, text);
    li.addEventListener("click", () => select(c.id));
    return li;
  }

  function bulkable(c) { return ["reported", "duplicate", "registered"].includes(c.status); }
  function toggle(id, on) {
    if (on) checked.add(id); else checked.delete(id);
    const box = GG.$('#cq-list li[data-case-id="' + id + '"] input');
    if (box) box.checked = on;
    updateBulk();
  }
  function updateBulk() {
    const n = checked.size;
    GG.$("#cq-selected").textContent = t("{n} selected", {n: n});
    ["#cq-bulk-register", "#cq-bulk-dispatch"].forEach((s) => { GG.$(s).disabled = n === 0; });
  }

  function markCursor(scroll) {
    GG.$("#cq-list").querySelectorAll("li").forEach((li, i) => li.setAttribute("aria-selected", String(i === cursorIndex)));
    const li = GG.$("#cq-list").children[cursorIndex];
    if (li && scroll) li.scrollIntoView({block: "nearest"});
  }

  function move(step) {
    if (!shown.length) return;
    cursorIndex = Math.max(0, Math.min(shown.length - 1, cursorIndex + step));
    markCursor(true);
    select(shown[cursorIndex].id);
  }

  // ---- map markers of the queue ---------------------------------------------------------------------
  function drawQueueMarkers() {
    groups.cases.clearLayers();
    queue.forEach((c) => {
      if (c.lon == null) return;
      L.circleMarker([c.lat, c.lon], {radius: 6, color: "#fff", weight: 1, fillColor: KIND_COLOURS[kindOf(c)], fillOpacity: 0.9,
        dashArray: null}).bindTooltip("#" + c.id + " · " + esc(GG.matterName(c.matter)) + " · " + esc(kindLabel(kindOf(c))))
        .on("click", () => select(c.id)).addTo(groups.cases);
    });
  }

  // ---- the selected case -------------------------------------------------------------------------------
  let selectSeq = 0;
  async function select(id, keepNotice) {
    const seq = ++selectSeq;
    const idx = shown.findIndex((c) => c.id === id);
    if (idx >= 0) { cursorIndex = idx; markCursor(true); }
    cancelPin();
    let c, history, dispute = null;
    try {
      let found;
      [c, history, found] = await Promise.all([GG.api("/cases/" + id), GG.api("/cases/" + id + "/history"),
        GG.api("/disputes?case=" + id)]);
      dispute = found[0] || null; // a case has at most one dispute record: open, ruled or dismissed
    } catch (e) {
      if (seq === selectSeq) GG.status(e.message, "error");
      return;
    }
    if (seq !== selectSeq) return; // a newer selection replaced this one
    current = c;
    currentHistory = history;
    currentDispute = dispute;
    if (!keepNotice) notice("");
    renderCase();
    drawCase();
    document.body.dataset.caseId = String(c.id);
    document.body.dataset.revision = String(c.revision);
  }

  function notice(html, kind) {
    const el = GG.$("#cc-notice");
    el.innerHTML = html;
    el.hidden = !html;
    el.dataset.kind = kind || "info";
  }

  function teamOptions(first) {
    const teams = Object.values(GG.ref.teams).filter((x) => x.kind !== "grid_worker");
    const lead = first.filter((code, i) => code && first.indexOf(code) === i && GG.ref.teams[code]);
    const rest = teams.filter((x) => !lead.includes(x.code)).sort((a, b) => a.name.localeCompare(b.name, "zh-CN"));
    return lead.map((code) => '<option value="' + esc(code) + '">' + esc(teamLabel(code)) + "</option>").join("") +
      (lead.length ? '<option disabled>──────</option>' : "") +
      rest.map((x) => '<option value="' + esc(x.code) + '">' + esc(teamLabel(x.code)) + "</option>").join("");
  }

  function renderCase() {
    const c = current;
    const routing = c.routing || {};
    const open = currentDispute && currentDispute.status === "open" ? currentDispute : null;
    // The teams routing found at the same priority, else those the open dispute record names (a team's "not ours").
    const candidates = (routing.candidates && routing.candidates.length ? routing.candidates : open ? open.candidates : []) || [];
    GG.$("#cc-empty").hidden = true;
    const box = GG.$("#cc-case");
    box.hidden = false;
    box.dataset.caseId = String(c.id);
    GG.$("#cc-title").textContent = t("Case #{id}", {id: c.id}) + " · " + (kindLabel(kindOf(c)) || GG.term("status", c.status));
    const near = routing.distance_to_boundary_m != null ? GG.distance(routing.distance_to_boundary_m) : "—";
    GG.$("#cc-body").innerHTML = '<dl class="gg-kv">' +
      "<dt>" + esc(t("State")) + "</dt><dd>" + esc(GG.term("status", c.status)) + (c.overdue ? ' <b class="gg-bad">' + esc(t("Overdue")) + "</b>" : "") + "</dd>" +
      "<dt>" + esc(t("Matter")) + "</dt><dd>" + esc(GG.matterName(c.matter)) + "</dd>" +
      "<dt>" + esc(t("Place")) + "</dt><dd>" + esc([c.township && unitName(c.township), c.village && unitName(c.village)].filter(Boolean).join(" · ") || "—") +
        (c.address ? ' <span class="gg-data">' + esc(c.address) + "</span>" : "") + "</dd>" +
      "<dt>" + esc(c.allowed_actions.includes("dispatch") || c.allowed_actions.includes("register") ? t("Proposed team") : t("Team")) + "</dt><dd>" + esc(teamLabel(c.team)) +
        (c.co_owners.length ? " + " + esc(c.co_owners.map(GG.teamName).join("、")) : "") + "</dd>" +
      (candidates.length ? "<dt>" + esc(t("Teams in dispute")) + "</dt><dd>" + esc(candidates.map(GG.teamName).join("、")) + "</dd>" : "") +
      "<dt>" + esc(t("Distance to the nearest boundary")) + "</dt><dd>" + esc(near) +
        (c.accuracy_m != null ? " · " + esc(t("GPS accuracy {d}", {d: GG.distance(c.accuracy_m)})) : "") + "</dd>" +
      "<dt>" + esc(t("Reported at")) + "</dt><dd>" + esc(GG.fmtTime(c.reported_at)) + " · " + esc(c.reporter) + "</dd>" +
      (c.deadline ? "<dt>" + esc(t("Deadline")) + "</dt><dd>" + esc(GG.fmtTime(c.deadline)) + "</dd>" : "") +
      (c.escalation_level ? "<dt>" + esc(t("Escalation level")) + "</dt><dd>" + esc(c.escalation_level) + "</dd>" : "") +
      (c.linked_to ? "<dt>" + esc(t("Duplicate of")) + '</dt><dd><a href="#" data-goto="' + c.linked_to + '">#' + c.linked_to + "</a></dd>" : "") +
      (c.outcome ? "<dt>" + esc(t("Outcome")) + "</dt><dd>" + esc(GG.term("outcome", c.outcome)) + "</dd>" : "") +
      "<dt>" + esc(t("Why this team")) + '</dt><dd class="gg-data">' + esc(routing.reason || "") + "</dd>" +
      "<dt>" + esc(t("Note")) + '</dt><dd class="gg-data">' + esc(c.description || "") + "</dd></dl>";
    GG.$("#cc-body").querySelectorAll("[data-goto]").forEach((a) => a.addEventListener("click", (ev) => {
      ev.preventDefault(); select(Number(a.dataset.goto));
    }));
    renderActions(candidates);
    GG.$("#cc-history").innerHTML = currentHistory.map((e) => "<li>" + esc(GG.fmtTime(e.at)) + " · " + esc(GG.term("action", e.action)) +
      " · " + esc(actor(e.actor)) + (e.to ? " → " + esc(GG.term("status", e.to)) : "") +
      (e.detail && e.detail.team && typeof e.detail.team === "object" ? " · " + esc(GG.teamName(e.detail.team.code)) : "") +
      (e.reason ? ' · <span class="gg-data">' + esc(e.reason) + "</span>" : "") +
      (e.detail && e.detail.note ? ' · <span class="gg-data">' + esc(e.detail.note) + "</span>" : "") + "</li>").join("");
  }

  /** Who took a step: an account's name, or the platform's automatic steps in the page's words. */
  const actor = (name) => (name === "platform" ? t("automatic step") : name);
  const field = (label, html) => '<label class="cc-field"><span>' + esc(label) + "</span>" + html + "</label>";
  const button = (id, label, key) => '<button type="button" id="' + id + '"' + (key ? ' aria-keyshortcuts="' + key + '"' : "") + ">" +
    esc(label) + (key ? ' <kbd data-k="' + esc(key) + '"></kbd>' : "") + "</button>";

  /** The team a settled ruling gave the case (null when there is none, or it was dismissed). */
  const ruledTeam = () => (currentDispute && currentDispute.status === "ruled" && currentDispute.ruling ? currentDispute.ruling.team : null);

  /** The case's settled dispute record: ruled or dismissed, by whom, when, why. It replaces the offer to raise one
      (a case has one record). */
  function settledBox(d) {
    const r = d.ruling || {};
    const kv = (label, html) => "<dt>" + esc(label) + "</dt><dd>" + html + "</dd>";
    return '<div class="cc-group" id="cc-settled" data-status="' + esc(d.status) + '"><h3>' +
      esc(d.status === "dismissed" ? t("Dispute record #{id} dismissed as unfounded", {id: d.id}) : t("Dispute record #{id} ruled", {id: d.id})) +
      '</h3><dl class="gg-kv">' +
      kv(t("What is disputed"), esc(actor(d.raised_by)) + ' · <span class="gg-data">' + esc(d.reason) + "</span>") +
      kv(t("Settled by"), esc(actor(r.by)) + " · " + esc(GG.fmtTime(r.at))) +
      (d.status === "ruled" ? kv(t("Team"), esc(teamLabel(r.team))) : "") +
      kv(t("Reason"), '<span class="gg-data">' + esc(r.reason || "") + "</span>") +
      (r.legal_basis ? kv(t("Legal basis"), '<span class="gg-data">' + esc(r.legal_basis) + "</span>") : "") +
      "</dl></div>";
  }

  function renderActions(candidates) {
    const c = current, allowed = c.allowed_actions, el = GG.$("#cc-actions");
    const parts = [];
    const waiting = c.status === "reported" || c.status === "duplicate" || c.status === "registered";
    const openDispute = currentDispute && currentDispute.status === "open" ? currentDispute : null;
    if (waiting) {
      parts.push('<div class="cc-group" id="cc-dispatch-box"><h3>' + esc(t("Register and dispatch")) + "</h3>" +
        field(t("Team"), '<select id="cc-team">' + teamOptions([ruledTeam(), c.team, ...candidates]) + "</select>") +
        field(t("Reason (needed for a team other than the proposed one)"), '<textarea id="cc-reason" rows="2"></textarea>') +
        '<div class="gg-row">' + (allowed.includes("register") ? button("cc-register", t("Register only"), "r") : "") +
        button("cc-dispatch", allowed.includes("register") ? t("Register and dispatch") : t("Dispatch"), "d") + "</div></div>");
    }
    if (c.status === "reported" || c.status === "duplicate") {
      parts.push('<div class="cc-group"><h3>' + esc(t("Link as a duplicate")) + "</h3>" +
        '<div class="gg-row">' + field(t("Same as case number"), '<input id="cc-link-case" type="number" min="1" step="1">') +
        button("cc-link", t("Link"), "l") + "</div>" + nearbyOpen() + "</div>");
      parts.push('<div class="cc-group"><h3>' + esc(t("Place on the map")) + "</h3><p class=\"gg-small\">" +
        esc(t("Click the map to put the pin, drag it to adjust, then confirm: the case is routed again.")) + "</p>" +
        '<div class="gg-row">' + button("cc-pin", c.lon == null ? t("Locate on the map") : t("Move the pin"), "p") +
        button("cc-pin-ok", t("Confirm the place")) + '</div><p class="gg-small" id="cc-pin-info"></p></div>');
    }
    /** Rule and dismiss boxes for the open dispute; `withTeam`: the case is already with a team. */
    const disputeBoxes = (withTeam) => {
      const id = openDispute.id, team = teamLabel(c.team);
      const why = field(t("Reason"), '<textarea id="cc-rule-reason" rows="2"></textarea>') +
        field(t("Legal basis"), '<input id="cc-rule-basis">');
      parts.push('<div class="cc-group" id="cc-rule-box"' + (withTeam ? ' data-with-team="1"' : "") + "><h3>" +
        esc(t("Rule the dispute (record #{id})", {id: id})) + "</h3>" +
        (withTeam ? '<p class="gg-small">' + esc(t("Ruled to another team, the case is transferred to it with its deadline; ruled to {team}, it stays there.", {team: team})) + "</p>" : "") +
        field(t("Team"), '<select id="cc-rule-team">' + teamOptions(withTeam ? [c.team, ...openDispute.candidates] : openDispute.candidates) + "</select>") +
        why + '<div class="gg-row">' + button("cc-rule", withTeam ? t("Rule") : t("Rule and dispatch to this team")) + "</div></div>");
      parts.push('<div class="cc-group" id="cc-dismiss-box"><h3>' + esc(t("Dismiss the dispute as unfounded (record #{id})", {id: id})) + "</h3>" +
        '<p class="gg-small">' + esc(withTeam ? t("The case stays with {team}.", {team: team}) : t("The case keeps its routing: it goes to {team}.", {team: team})) + "</p>" +
        field(t("Reason"), '<textarea id="cc-dismiss-reason" rows="2"></textarea>') +
        '<div class="gg-row">' + button("cc-dismiss", withTeam ? t("Dismiss") : t("Dismiss and dispatch to the proposed team")) + "</div></div>");
    };
    if (waiting && openDispute) { // ruled or dismissed here; a registered case waits in the dispute queue too
      disputeBoxes(false);
    } else if (openDispute && OPEN_WITH_TEAM.includes(c.status)) { // the team has it: a ruling for another transfers it
      disputeBoxes(true);
    } else if (waiting && !currentDispute && c.lon != null) {
      parts.push('<div class="cc-group"><h3>' + esc(t("Raise a dispute")) + "</h3>" +
        field(t("What is disputed"), '<textarea id="cc-dispute-reason" rows="2"></textarea>') +
        '<div class="gg-row">' + button("cc-dispute", t("Raise a dispute")) + "</div></div>");
    }
    if (allowed.includes("escalate") && c.escalation_level < 2) {
      const next = Math.min(2, c.escalation_level + 1);
      parts.push('<div class="cc-group"><h3>' + esc(GG.term("action", "escalate")) + "</h3><div class=\"gg-row\">" +
        field(t("Escalation level"), '<select id="cc-esc-level">' + [1, 2].filter((l) => l > c.escalation_level).map((l) =>
          '<option value="' + l + '"' + (l === next ? " selected" : "") + ">" + esc(l === 1 ? t("level 1: township supervision") : t("level 2: county-level supervision")) + "</option>").join("") + "</select>") +
        "</div>" + field(t("Reason"), '<input id="cc-esc-reason">') +
        '<div class="gg-row">' + button("cc-escalate", GG.term("action", "escalate"), "e") + "</div></div>");
    }
    if (allowed.includes("extend")) {
      parts.push('<div class="cc-group"><h3>' + esc(GG.term("action", "extend")) + "</h3><div class=\"gg-row\">" +
        field(t("By"), '<input id="cc-ext-amount" type="number" min="0.5" step="0.5" value="1">') +
        field(t("Unit"), '<select id="cc-ext-unit"><option value="working_days">' + esc(t("working days")) + '</option><option value="working_hours">' +
          esc(t("working hours")) + "</option></select>") + "</div>" + field(t("Reason"), '<input id="cc-ext-reason">') +
        '<div class="gg-row">' + button("cc-extend", GG.term("action", "extend")) + "</div></div>");
    }
    if (allowed.includes("add_co_owner") || allowed.includes("transfer")) {
      parts.push('<div class="cc-group"><h3>' + esc(t("Another team")) + "</h3>" +
        field(t("Team"), '<select id="cc-other-team">' + teamOptions([]) + "</select>") +
        field(t("Reason (for a transfer)"), '<input id="cc-transfer-reason">') + '<div class="gg-row">' +
        (allowed.includes("add_co_owner") ? button("cc-coowner", GG.term("action", "add_co_owner")) : "") +
        (allowed.includes("transfer") ? button("cc-transfer", GG.term("action", "transfer"), "t") : "") + "</div></div>");
    }
    if (allowed.includes("check") || allowed.includes("close")) {
      parts.push('<div class="cc-group" id="cc-review-box"><h3>' + esc(t("Check and close")) + "</h3>" +
        (allowed.includes("check") ? field(t("Reason (needed when the check fails)"), '<input id="cc-check-reason">') : "") +
        '<div class="gg-row">' + (allowed.includes("check") ? button("cc-check-pass", t("Check passed")) +
          button("cc-check-fail", t("Check failed: back to the team")) : "") +
        (allowed.includes("close") ? button("cc-close", GG.term("action", "close")) : "") + "</div></div>");
    }
    if (allowed.includes("cancel")) {
      parts.push('<div class="cc-group"><h3>' + esc(GG.term("action", "cancel")) + "</h3>" +
        field(t("Reason"), '<input id="cc-cancel-reason">') + '<div class="gg-row">' + button("cc-cancel", GG.term("action", "cancel")) + "</div></div>");
    }
    el.innerHTML = (currentDispute && !openDispute ? settledBox(currentDispute) : "") + // why the ruled team comes first
      (parts.join("") || '<p class="gg-small">' + esc(t("Nothing for the command centre to do on this case now.")) + "</p>");
    const on = (id, fn) => { const b = GG.$("#" + id); if (b) b.addEventListener("click", fn); };
    on("cc-register", () => doRegister(false));
    on("cc-dispatch", () => doRegister(true));
    on("cc-link", doLink);
    const linkInput = GG.$("#cc-link-case");
    if (linkInput) linkInput.addEventListener("keydown", (ev) => { if (ev.key === "Enter") { ev.preventDefault(); doLink(); } });
    on("cc-pin", startPin);
    on("cc-pin-ok", confirmPin);
    on("cc-rule", doRule);
    on("cc-dispute", doRaise);
    on("cc-dismiss", doDismiss);
    on("cc-escalate", () => act([{action: "escalate", level: Number(GG.$("#cc-esc-level").value), reason: GG.$("#cc-esc-reason").value}]));
    on("cc-extend", () => act([{action: "extend", amount: Number(GG.$("#cc-ext-amount").value), unit: GG.$("#cc-ext-unit").value, reason: GG.$("#cc-ext-reason").value}]));
    on("cc-coowner", () => act([{action: "add_co_owner", team: GG.$("#cc-other-team").value}]));
    on("cc-transfer", () => act([{action: "transfer", team: GG.$("#cc-other-team").value, reason: GG.$("#cc-transfer-reason").value}]));
    on("cc-check-pass", () => act([{action: "check", passed: true}]));
    on("cc-check-fail", () => {
      const reason = GG.$("#cc-check-reason").value.trim();
      if (!reason) { GG.status(t("Say why the check failed."), "error"); GG.$("#cc-check-reason").focus(); return; }
      act([{action: "check", passed: false, reason: reason}]);
    });
    on("cc-close", () => act([{action: "close"}]));
    on("cc-cancel", () => act([{action: "cancel", reason: GG.$("#cc-cancel-reason").value}]));
    el.querySelectorAll("[data-link]").forEach((a) => a.addEventListener("click", (ev) => {
      ev.preventDefault(); GG.$("#cc-link-case").value = a.dataset.link;
    }));
    const pinOk = GG.$("#cc-pin-ok");
    if (pinOk) pinOk.disabled = true;
  }

  /** Open cases of the same category near this one, as suggestions for a duplicate link (from the loaded queue). */
  function nearbyOpen() {
    const c = current;
    if (c.lon == null) return "";
    const near = Array.from(queue.values()).filter((o) => o.id !== c.id && o.matter === c.matter && o.lon != null &&
      o.status !== "duplicate" && map.distance([c.lat, c.lon], [o.lat, o.lon]) < 1000).slice(0, 5);
    if (!near.length) return "";
    return '<p class="gg-small">' + esc(t("Nearby open cases of the same category:")) + " " + near.map((o) =>
      '<a href="#" data-link="' + o.id + '">#' + o.id + " (" + esc(GG.distance(map.distance([c.lat, c.lon], [o.lat, o.lon]))) + ")</a>").join(" ") + "</p>";
  }

  // ---- actions ---------------------------------------------------------------------------------------------
  let busy = false;
  /** Send steps with the revision read; the answer replaces the case. A 409 on the revision reloads the case and
      says what changed. Returns the new case, or null when refused. */
  async function act(steps, label) {
    if (!current || busy) return null;
    busy = true;
    document.body.dataset.busy = "1";
    const read = current, readHistory = currentHistory;
    try {
      const done = await GG.api("/cases/" + read.id + "/actions", {method: "POST", json: {revision: read.revision, actions: steps}});
      GG.status(t("Case #{id}: {what}", {id: read.id, what: label || steps.map((s) => GG.term("action", s.action)).join("、")}), "ok");
      await select(read.id);
      reloadQueue();
      return done;
    } catch (e) {
      if (e.status === 409 && e.where === "revision") {
        await select(read.id, true);
        notice(whatChanged(read, readHistory, current, currentHistory), "conflict");
        GG.status(t("Case #{id} changed since you read it; nothing was done. Decide again.", {id: read.id}), "error");
        reloadQueue();
      } else {
        GG.status(e.message, "error");
      }
      return null;
    } finally {
      busy = false;
      delete document.body.dataset.busy;
    }
  }

  /** What another person changed on a case between two reads, in the page's words. */
  function whatChanged(was, wasHistory, now, nowHistory) {
    const lines = [];
    const pair = (label, a, b) => { if (a !== b) lines.push(t("{what}: {from} → {to}", {what: label, from: a, to: b})); };
    pair(t("State"), GG.term("status", was.status), GG.term("status", now.status));
    pair(t("Team"), teamLabel(was.team), teamLabel(now.team));
    pair(t("Co-owners"), was.co_owners.map(GG.teamName).join("、") || "—", now.co_owners.map(GG.teamName).join("、") || "—");
    pair(t("Deadline"), GG.fmtTime(was.deadline), GG.fmtTime(now.deadline));
    pair(t("Escalation level"), String(was.escalation_level), String(now.escalation_level));
    pair(t("Duplicate of"), was.linked_to ? "#" + was.linked_to : "—", now.linked_to ? "#" + now.linked_to : "—");
    pair(t("Matter"), GG.matterName(was.matter), GG.matterName(now.matter));
    if (was.lon !== now.lon || was.lat !== now.lat) lines.push(t("the place was moved"));
    const known = new Set(wasHistory.map((e) => e.id));
    const events = nowHistory.filter((e) => !known.has(e.id)).map((e) => t("{time} {actor}: {action}", {
      time: GG.fmtTime(e.at), actor: actor(e.actor), action: GG.term("action", e.action)}) + (e.reason ? " (" + e.reason + ")" : ""));
    return "<b>" + esc(t("Case #{id} was changed by someone else since you read it (revision {was} → {now}).", {id: now.id, was: was.revision, now: now.revision})) +
      "</b><ul>" + lines.concat(events).map((l) => "<li>" + esc(l) + "</li>").join("") + "</ul>" +
      esc(t("The case on screen is the new one; nothing you sent was done. Decide again."));
  }

  async function doRegister(dispatch) {
    const c = current;
    if (!c) return;
    const steps = c.allowed_actions.includes("register") ? [{action: "register"}] : [];
    if (dispatch) {
      const team = GG.$("#cc-team").value, d = currentDispute;
      // The team a ruling named needs no other reason than the ruling.
      const reason = GG.$("#cc-reason").value.trim() || (team === ruledTeam() && team !== c.team ?
        t("ruling on dispute #{id}: {reason}", {id: d.id, reason: d.ruling.reason}) : "");
      if (team !== c.team && !reason) {
        GG.status(t("Say why the case goes to a team other than the proposed one."), "error");
        GG.$("#cc-reason").focus();
        return;
      }
      steps.push(Object.assign({action: "dispatch", team: team}, reason ? {note: reason} : {}));
    }
    if (!steps.length) return;
    await act(steps);
  }

  async function doLink() {
    const target = Number(GG.$("#cc-link-case").value);
    if (!target) { GG.status(t("Give the number of the case this one repeats."), "error"); GG.$("#cc-link-case").focus(); return; }
    await act([{action: "link_duplicate", case: target}]);
  }

  async function doRaise() {
    const c = current, reason = GG.$("#cc-dispute-reason").value.trim();
    if (!reason) { GG.status(t("Say what is disputed."), "error"); GG.$("#cc-dispute-reason").focus(); return; }
    try {
      const d = await GG.api("/disputes", {method: "POST", json: {geometry: {type: "Point", coordinates: [c.lon, c.lat]},
        matter: c.matter, at: GG.isoDay(c.reported_at), reason: reason, case: c.id}});
      GG.status(t("Dispute record #{id} raised", {id: d.id}), "ok");
      await select(c.id);
    } catch (e) { GG.status(e.message, "error"); }
  }

  async function doRule() {
    const d = currentDispute, team = GG.$("#cc-rule-team").value;
    const reason = GG.$("#cc-rule-reason").value.trim(), basis = GG.$("#cc-rule-basis").value.trim();
    if (!reason || !basis) { GG.status(t("A ruling needs a reason and its legal basis."), "error"); return; }
    if (!waitingForDispatch(current)) { // with its team: the server transfers it to another ruled team, or keeps it
      if (await onDispute(d, "/ruling", {revision: d.revision, team: team, reason: reason, legal_basis: basis,
        case_revision: current.revision})) await settledHere(d, team === current.team ? t("Dispute record #{id} ruled", {id: d.id}) :
        t("Dispute record #{id} ruled: case #{case} transferred to {team}", {id: d.id, case: current.id, team: teamLabel(team)}));
      return;
    }
    if (!(await onDispute(d, "/ruling", {revision: d.revision, team: team, reason: reason, legal_basis: basis}))) return;
    const steps = current.allowed_actions.includes("register") ? [{action: "register"}] : [];
    steps.push({action: "dispatch", team: team, note: t("ruling on dispute #{id}: {reason}", {id: d.id, reason: reason})});
    await act(steps);
  }

  /** Dismissed: the dispute is unfounded; the record closes with the reason and the case goes to the team routing gave it. */
  async function doDismiss() {
    const d = currentDispute, reason = GG.$("#cc-dismiss-reason").value.trim();
    if (!reason) { GG.status(t("Say why the dispute is unfounded."), "error"); GG.$("#cc-dismiss-reason").focus(); return; }
    if (!(await onDispute(d, "/dismiss", {revision: d.revision, reason: reason}))) return;
    if (!waitingForDispatch(current)) { await settledHere(d, t("Dispute record #{id} dismissed as unfounded", {id: d.id})); return; }
    const steps = current.allowed_actions.includes("register") ? [{action: "register"}] : [];
    steps.push({action: "dispatch", team: current.team, note: t("dispute #{id} dismissed: {reason}", {id: d.id, reason: reason})});
    await act(steps);
  }

  const waitingForDispatch = (c) => ["reported", "duplicate", "registered"].includes(c.status);
  /** A dispute over a case with its team was settled on the server (the case transferred there if need be). */
  async function settledHere(d, message) {
    GG.status(message, "ok");
    await select(current.id);
    reloadQueue();
  }

  /** Send a ruling or a dismissal with the dispute's revision read. Refused because someone changed the record
      meanwhile, the page reads the case and the record again and says what changed; returns whether it was done. */
  async function onDispute(d, path, body) {
    if (busy) return false;
    busy = true;
    document.body.dataset.busy = "1";
    try {
      await GG.api("/disputes/" + d.id + path, {method: "POST", json: body});
      return true;
    } catch (e) {
      if (e.status === 409 && e.where === "case_revision") { // the case changed since it was read: nothing was done
        const read = current, readHistory = currentHistory;
        await select(read.id, true);
        notice(whatChanged(read, readHistory, current, currentHistory), "conflict");
        GG.status(t("Case #{id} changed since you read it; nothing was done. Decide again.", {id: read.id}), "error");
        reloadQueue();
      } else if (e.status === 409 && !String(e.where || "").startsWith("case_")) { // the record changed meanwhile
        let now = null;
        try { now = await GG.api("/disputes/" + d.id); } catch (ignored) { now = null; }
        await select(current.id, true);
        notice(disputeChanged(d, now), "conflict");
        GG.status(t("Dispute record #{id} changed since you read it; nothing was done. Decide again.", {id: d.id}), "error");
      } else {
        GG.status(e.message, "error");
      }
      return false;
    } finally {
      busy = false;
      delete document.body.dataset.busy;
    }
  }

  /** What another person changed on a dispute record between two reads, in the page's words. */
  function disputeChanged(was, now) {
    const lines = [];
    if (now && was.status !== now.status) {
      lines.push(t("{what}: {from} → {to}", {what: t("State"), from: GG.term("dispute_status", was.status), to: GG.term("dispute_status", now.status)}));
      if (now.ruling && now.ruling.reason) lines.push(t("{time} {actor}: {action}", {time: GG.fmtTime(now.ruling.at), actor: actor(now.ruling.by),
        action: now.ruling.dismissed ? GG.term("action", "dispute_dismissed") : GG.term("action", "dispute_ruled")}) + " (" + now.ruling.reason + ")");
    }
    ((now && now.evidence) || []).slice(was.evidence.length).forEach((e) => lines.push(t("{time} {actor}: evidence added: {text}",
      {time: GG.fmtTime(e.at), actor: actor(e.by), text: e.text})));
    return "<b>" + esc(t("Dispute record #{id} was changed by someone else since you read it (revision {was} → {now}).",
      {id: was.id, was: was.revision, now: now ? now.revision : "?"})) + "</b><ul>" + lines.map((l) => "<li>" + esc(l) + "</li>").join("") +
      "</ul>" + esc(t("The case on screen is the new one; nothing you sent was done. Decide again."));
  }

  // ---- locating a case: a pin on the map, dragged into place, previewed, then confirmed --------------------
  function startPin() {
    cancelPin();
    pin = {placing: true};
    GG.$("#cc-pin-info").textContent = t("Click the map where the case is.");
    map.getContainer().classList.add("cc-placing");
    document.body.dataset.placing = "1";
  }
  function cancelPin() {
    if (pin && pin.marker) groups.selected.removeLayer(pin.marker);
    pin = null;
    if (map) map.getContainer().classList.remove("cc-placing");
    delete document.body.dataset.placing;
  }
  function putPin(latlng) {
    if (!pin) return;
    if (!pin.marker) {
      pin.marker = L.marker(latlng, {draggable: true, title: t("The case's place"), alt: t("The case's place")}).addTo(groups.selected);
      pin.marker.on("dragend", () => previewPin(pin.marker.getLatLng()));
    } else pin.marker.setLatLng(latlng);
    pin.placing = false;
    map.getContainer().classList.remove("cc-placing");
    previewPin(latlng);
  }
  async function previewPin(latlng) {
    const seq = (pinPreview = {});
    const ok = GG.$("#cc-pin-ok");
    if (ok) ok.disabled = false;
    document.body.dataset.pinned = "1";
    try {
      const d = await GG.api("/route", {method: "POST", json: {lon: latlng.lng, lat: latlng.lat, matter: current.matter}});
      if (seq !== pinPreview) return;
      const decision = Array.isArray(d) ? d[0] : (d.decisions ? d.decisions[0] : d);
      GG.$("#cc-pin-info").textContent = t("Here it goes to {team} ({status}); {distance} from the nearest boundary.", {
        team: GG.teamName(decision.team), status: GG.term("routing_status", decision.status), distance: GG.distance(decision.distance_to_boundary_m)});
    } catch (e) { GG.$("#cc-pin-info").textContent = e.message; }
  }
  async function confirmPin() {
    if (!pin || !pin.marker) return;
    const p = pin.marker.getLatLng();
    const done = await act([{action: "locate", lon: p.lng, lat: p.lat}], GG.term("action", "locate"));
    if (done) cancelPin();
  }

  // ---- the map: the selected case, its units and the proposed team's territory -------------------------------
  function drawCase() {
    groups.selected.clearLayers();
    highlighted.forEach(([layer, style]) => layer.setStyle(style));
    highlighted = [];
    const c = current;
    const light = (code, style) => {
      const layer = units.layers[code];
      if (!layer) return;
      highlighted.push([layer, Object.assign({}, layer.options)]);
      layer.setStyle(style);
      layer.bringToFront();
    };
    const teams = [c.team, ...((c.routing && c.routing.candidates) || [])].filter((x, i, a) => x && a.indexOf(x) === i);
    Object.entries(units.layers).forEach(([code, layer]) => {
      const team = layer.feature.properties.team;
      if (team && teams.includes(team)) {
        highlighted.push([layer, Object.assign({}, layer.options)]);
        layer.setStyle({fillColor: GG.teamColour(team), fillOpacity: team === c.team ? 0.3 : 0.18, color: GG.teamColour(team), weight: 2});
      }
    });
    [c.township, c.village].forEach((code) => light(code, {color: "#111", weight: 3, dashArray: null}));
    if (c.lon != null) {
      L.circleMarker([c.lat, c.lon], {radius: 9, color: "#111", weight: 3, fillColor: KIND_COLOURS[kindOf(c)] || GG.stateColour(c.status), fillOpacity: 1})
        .bindTooltip(t("Case #{id}", {id: c.id})).addTo(groups.selected);
      if (c.accuracy_m) L.circle([c.lat, c.lon], {radius: c.accuracy_m, color: "#111", weight: 1, dashArray: "4 3", fill: false, interactive: false}).addTo(groups.selected);
      map.setView([c.lat, c.lon], Math.max(map.getZoom(), 14), {animate: false});
    }
    GG.$("#cc-map-key").innerHTML = teams.map((code) => '<span><i class="gg-dot" style="background:' + GG.teamColour(code) + '"></i>' +
      esc(code === c.team && ["reported", "duplicate", "registered"].includes(c.status) ? t("{team}: proposed", {team: GG.teamName(code)}) : GG.teamName(code)) + "</span>").join(" ");
  }

  // ---- bulk ----------------------------------------------------------------------------------------------------
  async function bulk(dispatch) {
    const ids = Array.from(checked).filter((id) => queue.has(id));
    if (!ids.length) return;
    GG.status(t("Working on {n} cases…", {n: ids.length}));
    document.body.dataset.busy = "1";
    const failed = [];
    let done = 0;
    for (const id of ids) {
      const c = queue.get(id);
      const steps = c.allowed_actions.includes("register") ? [{action: "register"}] : [];
      if (dispatch && (c.allowed_actions.includes("dispatch") || steps.length)) steps.push({action: "dispatch", team: c.team});
      if (!steps.length) continue;
      try {
        await GG.api("/cases/" + id + "/actions", {method: "POST", json: {revision: c.revision, actions: steps}});
        done += 1;
        checked.delete(id);
      } catch (e) {
        failed.push("#" + id + ": " + (e.status === 409 && e.where === "revision" ? t("changed since you read it; check it and decide again") : e.message));
      }
    }
    delete document.body.dataset.busy;
    await loadQueue();
    GG.status(t("{done} of {n} done.", {done: done, n: ids.length}) + (failed.length ? " " + t("Not done: {list}", {list: failed.join("; ")}) : ""),
      failed.length ? "error" : "ok");
    if (current && ids.includes(current.id)) await select(current.id, true);
  }

  // ---- keeping up to date ------------------------------------------------------------------------------------
  /** Read the queue again. Asked while a read is under way (polls overlap on a slow server), it reads once more
      after that one: the read under way may have started before the change that asked for it. */
  function reloadQueue() {
    if (!reloading) {
      reloading = loadQueue().catch((e) => GG.status(e.message, "error")).finally(() => { reloading = null; });
      return reloading;
    }
    if (!reloadAgain) reloadAgain = reloading.then(() => { reloadAgain = null; return reloadQueue(); });
    return reloadAgain;
  }
  async function poll() {
    const data = await GG.api("/wall/cases" + (feedCursor ? "?since=" + encodeURIComponent(feedCursor) : ""));
    serverOffset = Date.parse(data.now) - Date.now();
    let changed = false;
    data.cases.forEach((r) => {
      const row = {};
      data.columns.forEach((name, i) => { row[name] = r[i]; });
      // The whole row, not only updated_at: the feed gives times to the second, and two steps sent within the
      // same second (an officer's queued handling and feedback) leave updated_at as it was.
      Object.defineProperty(row, "sig", {value: JSON.stringify(r)});
      const was = feed.get(row.id);
      if (!was || was.sig !== row.sig) changed = changed || feedCursor !== null;
      feed.set(row.id, row);
    });
    feedCursor = data.cursor;
    if (changed) await reloadQueue();
  }

  /** Cases with their team that are overdue (on the server's clock) or escalated, from the feed's rows. */
  function lateFromFeed() {
    const now = Date.now() + serverOffset, out = [];
    feed.forEach((row) => {
      if (!WITH_TEAM.includes(row.status) && !(row.status === "suspended" && row.escalation_level > 0)) return;
      const overdue = row.status !== "suspended" && !!row.deadline && Date.parse(row.deadline) < now;
      if (overdue || row.escalation_level > 0) out.push(Object.assign({}, row, {overdue: overdue, co_owners: [], allowed_actions: []}));
    });
    return out;
  }

  // ---- keyboard ------------------------------------------------------------------------------------------------
  function help(show) { GG.$("#cq-help").hidden = !show; }
  function onKey(ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test((ev.target && ev.target.tagName) || "") && ev.target.type !== "checkbox";
    if (ev.key === "Escape") { help(false); cancelPin(); if (typing) ev.target.blur(); return; }
    if (typing) return;
    const click = (id) => { const b = GG.$("#" + id); if (b && !b.disabled) b.click(); };
    const focus = (id) => { const f = GG.$("#" + id); if (f) f.focus(); };
    const keys = {
      j: () => move(1), ArrowDown: () => move(1), k: () => move(-1), ArrowUp: () => move(-1),
      x: () => { if (shown[cursorIndex] && bulkable(shown[cursorIndex])) toggle(shown[cursorIndex].id, !checked.has(shown[cursorIndex].id)); },
      r: () => click("cc-register"), d: () => click("cc-dispatch"), l: () => focus("cc-link-case"), p: () => click("cc-pin"),
      e: () => focus("cc-esc-reason"), t: () => focus("cc-other-team"), R: () => click("cq-bulk-register"), D: () => click("cq-bulk-dispatch"),
      "?": () => help(GG.$("#cq-help").hidden),
    };
    const n = Number(ev.key);
    if (n >= 1 && n <= KINDS.length + 1) { tab = ["all", ...KINDS][n - 1]; cursorIndex = -1; renderQueue(); ev.preventDefault(); return; }
    if (keys[ev.key]) { ev.preventDefault(); keys[ev.key](); }
  }

  /** What the console shows, for people checking it (and its browser tests). */
  GG.consoleState = {queue: () => Array.from(queue.keys()), shown: () => shown.map((c) => c.id), current: () => current,
    select: select, reload: reloadQueue};

  GG.pages.console = async function (ctx) {
    map = ctx.map;
    groups = ctx.groups;
    document.body.classList.add("gg-page-console");
    map.invalidateSize();
    setInterval(() => { GG.$("#gg-clock").textContent = GG.fmtTime(Date.now(), {seconds: true}); }, 1000);
    GG.status(t("Loading…"));
    const unitsP = GG.loadUnits(["county", "township", "zone", "village"]);
    await GG.loadReference();
    const loaded = await unitsP;
    unitName = (code) => (loaded.byCode[code] ? loaded.byCode[code].name : code);
    const add = (layer, group, opts) => {
      const l = GG.unitLayer(loaded.layers[layer], loaded.byCode, opts).addTo(group);
      if (layer !== "county") l.eachLayer((x) => { units.layers[x.feature.properties.code] = x; });
      return l;
    };
    const county = add("county", groups.county, {fill: 0, weight: 3, line: "#333"});
    add("village", groups.village, {fill: 0.04, weight: 0.5});
    add("township", groups.township, {fill: 0.06, weight: 2, label: true});
    add("zone", groups.zone, {fill: 0.05, weight: 2, dash: "6 4"});
    if (county.getLayers().length) map.fitBounds(county.getBounds(), {animate: false});
    map.on("click", (ev) => { if (pin) putPin(ev.latlng); });
    GG.$("#cq-all").addEventListener("change", (ev) => shown.forEach((c) => { if (bulkable(c)) toggle(c.id, ev.target.checked); }));
    GG.$("#cq-bulk-register").addEventListener("click", () => bulk(false));
    GG.$("#cq-bulk-dispatch").addEventListener("click", () => bulk(true));
    GG.$("#cq-help-btn").addEventListener("click", () => help(true));
    GG.$("#cq-help-close").addEventListener("click", () => help(false));
    document.addEventListener("keydown", onKey);
    await poll();
    await loadQueue();
    const every = 1000 * (ctx.config.refresh_seconds || 5);
    setInterval(() => poll().catch((e) => GG.status(t("Update failed: {error}", {error: e.message}), "error")), every);
    GG.status(t("{n} cases wait for the command centre", {n: queue.size}), "ok");
    GG.ready = true;
    document.body.dataset.ready = "1";
  };
})();
