/* The outbox the phone pages share (/phone, /officer): what a person sends waits in localStorage, survives being
   offline and a closed page, and is sent oldest first, each item under its own idempotency key, until the
   server acknowledges it; a retry after a lost answer is answered, never applied twice (the server keeps keys).
   A refusal (4xx) marks the item failed with the server's words; a network failure keeps it queued in order. */
;(function () {
  "use strict";
  const GG = window.GG;
  const t = GG.t;

  /** A queue under localStorage `storageKey`. `send(item, update)` delivers one item (it may record progress
      with `update(key, change)`) and returns what to record on it once sent; `changed()` redraws. */
  GG.outbox = function (storageKey, send, changed) {
    let flushing = false;
    const items = () => JSON.parse(localStorage.getItem(storageKey) || "[]");
    const save = (list) => localStorage.setItem(storageKey, JSON.stringify(list));

    /** Items wait for the account that made them (a shared phone, or a sign-in after a token ran out). */
    function mine(it) { return !it.by || it.by === (GG.user() || {}).username; }

    function update(key, change) {
      const list = items();
      const it = list.find((x) => x.key === key);
      if (it) Object.assign(it, change);
      save(list);
      changed();
    }

    /** Send what waits, oldest first; a network failure leaves it queued for the next try. */
    async function flush() {
      if (flushing) return;
      flushing = true;
      try {
        for (const it of items().reverse()) {
          if (it.state !== "queued" || !mine(it)) continue;
          try {
            const change = await send(it, update);
            update(it.key, Object.assign({state: "sent", error: null}, change));
          } catch (e) {
            if (e.status && e.status >= 400 && e.status < 500 && e.status !== 401 && e.status !== 408 && e.status !== 429) {
              update(it.key, {state: "failed", error: e.message});
              GG.status(e.message, "error");
            } else {
              update(it.key, {error: navigator.onLine ? e.message : t("Offline")});
              GG.status(t("Offline: will retry"), "info");
              break; // the network is down: keep the order, try again later
            }
          }
        }
      } finally {
        flushing = false;
      }
    }

    const waiting = () => items().filter((it) => it.state === "queued" && mine(it)).length;
    return {items: items, save: save, mine: mine, update: update, flush: flush, waiting: waiting};
  };

  /** The bytes of a photo kept in an item as a data: URL (not fetched: the page's policy allows only this server). */
  GG.outbox.blob = function (url) {
    const [head, b64] = url.split(",");
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Blob([bytes], {type: head.slice(5).split(";")[0]});
  };
})();
