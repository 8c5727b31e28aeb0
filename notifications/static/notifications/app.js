// The installable portal, on every page: registers the service worker (/sw.js), offers
// push notifications on this device, and runs *Find me a charger*: the browser's position
// goes into the start form, and while a watch runs the position is sent again as the
// driver moves, at most every 30 seconds (notifications/nearby.py POSITION_EVERY).
(function () {
  "use strict";
  var EVERY_MS = 30000;

  function csrfToken(form) {
    var input = form && form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  var registration = null;
  if ("serviceWorker" in navigator) {
    registration = navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () { return null; });
  }

  // Push on this device: subscribe with the server's VAPID key, send the subscription.
  var pushButton = document.getElementById("push-subscribe");
  var pushStatus = document.getElementById("push-status");
  function keyBytes(base64url) {
    var text = atob(base64url.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((base64url.length + 3) % 4));
    var bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return bytes;
  }
  if (pushButton && registration && "PushManager" in window) {
    pushButton.hidden = false;
    pushButton.addEventListener("click", function () {
      pushStatus.textContent = "";
      registration
        .then(function (reg) {
          if (!reg) throw new Error("no service worker");
          return navigator.serviceWorker.ready;
        })
        .then(function (reg) {
          return reg.pushManager.subscribe({
            userVisibleOnly: true,
            applicationServerKey: keyBytes(pushButton.getAttribute("data-key")),
          });
        })
        .then(function (subscription) {
          return fetch(pushButton.getAttribute("data-url"), {
            method: "POST",
            credentials: "same-origin",
            headers: { "Content-Type": "application/json", "X-CSRFToken": pushButton.getAttribute("data-csrf") },
            body: JSON.stringify(subscription.toJSON()),
          });
        })
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          pushStatus.textContent = pushButton.getAttribute("data-done");
          pushButton.hidden = true;
        })
        .catch(function () { pushStatus.textContent = pushButton.getAttribute("data-failed"); });
    });
  }

  // *Find me a charger*: the start form needs the position first.
  var form = document.getElementById("nearby-form");
  var status = document.getElementById("nearby-status");
  if (form && "geolocation" in navigator) {
    form.hidden = false;
    form.addEventListener("submit", function (event) {
      if (form.elements.latitude.value && form.elements.longitude.value) return;
      event.preventDefault();
      status.textContent = form.getAttribute("data-locating");
      navigator.geolocation.getCurrentPosition(
        function (position) {
          form.elements.latitude.value = position.coords.latitude.toFixed(6);
          form.elements.longitude.value = position.coords.longitude.toFixed(6);
          form.submit();
        },
        function () { status.textContent = form.getAttribute("data-failed"); },
        { timeout: 10000, maximumAge: 60000 }
      );
    });
  }

  // A running watch: send the position as the driver moves, at most every 30 s, until the
  // server says the watch has ended (404).
  var running = document.getElementById("nearby-running");
  if (running && "geolocation" in navigator) {
    var lastSent = Date.now();
    var watchId = navigator.geolocation.watchPosition(function (position) {
      if (Date.now() - lastSent < EVERY_MS) return;
      lastSent = Date.now();
      var body = new FormData();
      body.append("latitude", position.coords.latitude.toFixed(6));
      body.append("longitude", position.coords.longitude.toFixed(6));
      fetch(running.getAttribute("data-url"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(running.closest("section")) },
        body: body,
      }).then(function (response) {
        if (response.status === 404) navigator.geolocation.clearWatch(watchId);
      });
    }, function () {}, { maximumAge: EVERY_MS });
  }
})();
