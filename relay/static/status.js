// The status page refreshes its live part every few seconds: it fetches
// the same part rendered by the node (status/live, HTML escaped by the
// node's templates) and swaps it in, so the page is readable without
// JavaScript and never builds markup from data itself.
"use strict";
(function () {
  const every = 3000;
  const live = document.getElementById("live");
  const updated = document.getElementById("updated");
  let refreshes = 0;
  let busy = false;
  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const resp = await fetch("status/live", { cache: "no-store" });
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
      live.replaceChildren(...doc.body.childNodes);
      refreshes++;
      document.body.dataset.refreshes = String(refreshes);
      updated.textContent = "live · updated " + new Date().toLocaleTimeString();
      updated.className = "live";
    } catch (err) {
      console.error("status refresh failed:", err);
      updated.textContent = "not updating (" + err.message + "); retrying";
      updated.className = "stale";
    } finally {
      busy = false;
    }
  }
  refresh();
  setInterval(refresh, every);
})();
