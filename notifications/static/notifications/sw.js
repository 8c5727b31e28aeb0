// The portal's service worker (served at /sw.js, scope "/"): shows a push message as a
// notification and opens its link on click. A push message is JSON: title, body, url
// (notifications/webpush.py encrypts it; the browser has decrypted it by now).
"use strict";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("push", function (event) {
  var message = {};
  try { message = event.data ? event.data.json() : {}; } catch (error) { message = {}; }
  event.waitUntil(
    self.registration.showNotification(message.title || "ChargeHub", {
      body: message.body || "",
      icon: "/static/notifications/icon-192.png",
      data: { url: message.url || "/" },
    })
  );
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var url = new URL((event.notification.data && event.notification.data.url) || "/", self.location.origin);
  if (url.origin !== self.location.origin) url = new URL("/", self.location.origin);
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
      for (var i = 0; i < windows.length; i++) {
        if ("navigate" in windows[i]) {
          return windows[i].focus().then(function (client) { return client.navigate(url.href); });
        }
      }
      return self.clients.openWindow(url.href);
    })
  );
});
