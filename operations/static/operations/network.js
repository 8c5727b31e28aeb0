// The network dashboard, live (operations/live.py sends, stations/live.py relays): the page
// watches the staff-only "network" group of ws/live/ and, on any change a charger
// reports, reloads its figures from the server (data-network-live="<url>") instead of
// doing arithmetic here: the counts always follow operations/dashboard.py. Several
// changes in a burst cause one reload. While the watch is answered, <html data-live="watching">.
(function () {
  "use strict";
  var panels = document.querySelectorAll("[data-network-live]");
  if (!panels.length || !("WebSocket" in window) || !window.fetch) return;
  var retry = 1000;
  var pending = null;
  var watched = false; // watching again after the first time: updates were missed

  function reload() {
    pending = null;
    panels.forEach(function (panel) {
      fetch(panel.getAttribute("data-network-live"), { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (html) {
          if (html !== null) {
            panel.innerHTML = html;
            document.dispatchEvent(new CustomEvent("network:reloaded"));
          }
        })
        .catch(function () { /* the next change, or the next load, brings it */ });
    });
  }

  function soon() {
    if (pending === null) pending = setTimeout(reload, 500);
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + "/ws/live/");
    socket.onopen = function () {
      retry = 1000;
      socket.send(JSON.stringify({ watch: "network" }));
    };
    socket.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.kind === "watching" && message.watch === "network") {
        document.documentElement.setAttribute("data-live", "watching");
        // Changes while the socket was down were missed: take the figures afresh.
        if (watched) soon();
        watched = true;
      } else if (message.kind === "network") {
        soon();
      }
    };
    socket.onclose = function () {
      document.documentElement.removeAttribute("data-live");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 60000);
    };
  }
  connect();
})();
