// The header's unread count (notifications/inbox.py): fetched once per page, then kept
// live by {"kind": "notification"} messages on the live socket (stations/live.py). A page
// running portal/live.js already has that socket (its messages arrive as "live:message"
// events); any other page opens its own, which joins the driver's group on connect.
(function () {
  "use strict";
  var badge = document.getElementById("inbox-unread");
  if (!badge) return;

  function show(count) {
    badge.textContent = count > 0 ? String(count) : "";
    badge.hidden = !(count > 0);
    document.documentElement.setAttribute("data-unread", String(count));
  }

  function heard(message) {
    if (message && message.kind === "notification") show(message.unread);
  }

  fetch(badge.getAttribute("data-unread-url"), { credentials: "same-origin" })
    .then(function (response) { return response.ok ? response.json() : null; })
    .then(function (data) { if (data) show(data.unread); })
    .catch(function () {});

  if (document.getElementById("live-watch")) {
    document.addEventListener("live:message", function (event) { heard(event.detail); });
    return;
  }
  if (!("WebSocket" in window)) return;
  var retry = 1000;
  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + "/ws/live/");
    socket.onopen = function () { retry = 1000; };
    socket.onmessage = function (event) { heard(JSON.parse(event.data)); };
    socket.onclose = function () {
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 60000);
    };
  }
  connect();
})();
