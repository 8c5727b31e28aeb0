// The session page's figures: meter values have no live event, so they are polled
// every 10 s (elements with data-field="energy_kwh|duration|cost").
(function () {
  "use strict";
  var page = document.getElementById("session-figures");
  if (!page || page.getAttribute("data-status") !== "active") return;
  var url = page.getAttribute("data-url");
  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (figures) {
        if (!figures) return;
        if (figures.status !== "active") { window.location.reload(); return; }
        page.querySelectorAll("[data-field]").forEach(function (element) {
          var value = figures[element.getAttribute("data-field")];
          if (value !== undefined && value !== "") element.textContent = value;
        });
      })
      .catch(function () { /* offline for a moment: the next poll tries again */ });
  }
  setInterval(refresh, 10000);
})();
