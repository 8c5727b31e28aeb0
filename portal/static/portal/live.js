// Live updates (stations/live.py): the page says what it watches in a json_script
// element "live-watch"; connector badges carry data-connector="<pk>". Without
// WebSockets the page simply shows what it showed when loaded. Page scripts get every
// message as a "live:message" event on document (detail: the message), and
// "live:open" (detail: {reconnected}) each time the socket opens. While every watch is
// answered, <html data-live="watching"> says that updates are arriving.
(function () {
  "use strict";
  var watchElement = document.getElementById("live-watch");
  if (!watchElement || !("WebSocket" in window)) return;
  var watches = JSON.parse(watchElement.textContent);
  var labelsElement = document.getElementById("status-labels");
  var labels = labelsElement ? JSON.parse(labelsElement.textContent) : {};
  // data-live-reload="session" on that element: a session message reloads the page.
  var reloadOn = watchElement.getAttribute("data-live-reload") || "";
  var retry = 1000;
  var opened = false; // an open after the first is a reconnection: updates were missed

  function showConnector(message) {
    var badges = document.querySelectorAll('[data-connector="' + message.connector + '"]');
    badges.forEach(function (badge) {
      // A status notification comes from a charger that is talking to us: online.
      badge.textContent = labels[message.status] || message.status;
      badge.setAttribute("data-status", message.status);
      badge.setAttribute("data-online", "1");
      badge.classList.remove("bad");
      badge.classList.toggle("ok", message.status === "Available");
    });
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + "/ws/live/");
    var answered = 0;
    socket.onopen = function () {
      retry = 1000;
      watches.forEach(function (watch) { socket.send(JSON.stringify(watch)); });
      if (!watches.length) document.documentElement.setAttribute("data-live", "watching");
      document.dispatchEvent(new CustomEvent("live:open", { detail: { reconnected: opened } }));
      opened = true;
    };
    socket.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.kind === "watching" || message.kind === "refused") {
        answered += 1;
        if (answered === watches.length) {
          document.documentElement.setAttribute("data-live", "watching");
        }
      }
      document.dispatchEvent(new CustomEvent("live:message", { detail: message }));
      if (message.kind === "connector") showConnector(message);
      if (message.kind === "session" && reloadOn === "session") window.location.reload();
    };
    socket.onclose = function () {
      document.documentElement.removeAttribute("data-live");
      // Back off up to a minute: a restarting server should not be hammered.
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 60000);
    };
  }
  connect();
})();
