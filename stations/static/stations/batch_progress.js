// The progress page of a command sent to many chargers: asks for the rows every second
// until every charger has an outcome, then stops.
(function () {
  "use strict";
  const page = document.querySelector(".batch-progress");
  if (!page || page.dataset.state === "finished") return;

  function show(progress) {
    for (const item of progress.items) {
      const row = page.querySelector(`tr[data-charge-point="${CSS.escape(item.charge_point)}"]`);
      if (!row) continue;
      const status = row.querySelector(".status");
      status.textContent = item.status_label;
      status.dataset.status = item.status;
      row.querySelector(".message").textContent = item.message;
    }
    for (const row of progress.counts) {
      const counter = page.querySelector(`.batch-counts [data-status="${row.status}"] b`);
      if (counter) counter.textContent = row.count;
    }
    if (progress.finished) {
      page.dataset.state = "finished";
      page.querySelector(".batch-state").textContent = page.dataset.finishedText || "✓";
    }
  }

  async function poll() {
    try {
      const response = await fetch(page.dataset.progressUrl, { credentials: "same-origin" });
      if (response.ok) show(await response.json());
    } catch (error) {
      // The network hiccuped: the next poll tries again.
    }
    if (page.dataset.state !== "finished") setTimeout(poll, 1000);
  }
  setTimeout(poll, 1000);
})();
