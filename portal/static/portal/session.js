// The session page's figures, kept current by the live socket (live.js): the server
// pushes {"kind": "figures"} as the charger reports meter values (portal/live_figures.py).
// Elements with data-field="energy_kwh|power_kw|soc_percent|duration|cost" show them;
// a figure not known yet sits in a hidden data-figure="<name>" row. The page as served
// is right without JavaScript; this only keeps it so.
(function () {
  "use strict";
  var section = document.getElementById("session-figures");
  if (!section || section.getAttribute("data-status") !== "active") return;
  var sessionId = Number(section.getAttribute("data-session"));
  var signsElement = document.getElementById("currency-signs");
  var signs = (signsElement && JSON.parse(signsElement.textContent)) || {};
  var language = document.documentElement.lang || undefined;
  // Seconds since the epoch, both from the server: the duration does not depend on
  // the visitor's clock being right, only on it running.
  var startedAt = Number(section.getAttribute("data-started-at")) * 1000;
  var clockOffset = Number(section.getAttribute("data-rendered-at")) * 1000 - Date.now();
  var catchingUp = false;

  function number(value, places, grouping) {
    var options = {
      minimumFractionDigits: places,
      maximumFractionDigits: places,
      useGrouping: grouping
    };
    try {
      return new Intl.NumberFormat(language, options).format(Number(value));
    } catch (error) { // a language the browser does not know
      return new Intl.NumberFormat(undefined, options).format(Number(value));
    }
  }

  function show(name, text) {
    var field = section.querySelector('[data-field="' + name + '"]');
    if (field) field.textContent = text;
    var row = section.querySelector('[data-figure="' + name + '"]');
    if (row) row.hidden = text === "";
  }

  function showDuration() {
    var minutes = Math.max(0, Math.floor((Date.now() + clockOffset - startedAt) / 60000));
    var rest = minutes % 60;
    show("duration", Math.floor(minutes / 60) + ":" + (rest < 10 ? "0" : "") + rest);
  }

  // As the server renders them (portal/views.py, billing.money.format_money).
  function showFigures(message) {
    show("energy_kwh", number(message.energy_kwh, 2, false));
    show("power_kw", message.power_kw === null ? "" : number(message.power_kw, 1, false));
    show("soc_percent", message.soc_percent === null ? "" : number(message.soc_percent, 0, false));
    if (message.cost) {
      var currency = message.cost.currency;
      show("cost", number(message.cost.gross, 2, true) + "\u00a0" + (signs[currency] || currency));
    }
  }

  // After a reconnection the page may have missed updates, or the end of the session:
  // it asks once for the figures as they are now (the server formats that answer).
  function catchUp() {
    fetch(section.getAttribute("data-url"), {
      credentials: "same-origin",
      headers: { Accept: "application/json" }
    })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (figures) {
        if (!figures) return;
        if (figures.status !== "active") { window.location.reload(); return; }
        ["energy_kwh", "power_kw", "soc_percent"].forEach(function (name) {
          if (figures[name] !== undefined) show(name, figures[name]);
        });
        if (figures.cost) show("cost", figures.cost);  // "": no price, as served
      })
      .catch(function () { /* the next pushed figures will do */ });
  }

  document.addEventListener("live:open", function (event) {
    catchingUp = event.detail.reconnected;
  });
  document.addEventListener("live:message", function (event) {
    var message = event.detail;
    if (message.kind === "watching" && message.watch === "session" && message.id === sessionId) {
      if (catchingUp) catchUp();  // now watching again: nothing more is missed
      catchingUp = false;
    } else if (message.kind === "figures" && message.session === sessionId) {
      showFigures(message);
    } else if (message.kind === "session" && message.session === sessionId &&
               message.status !== "active") {
      window.location.reload();  // the page as served shows the final figures
    }
  });
  showDuration();
  setInterval(showDuration, 30000);
})();
