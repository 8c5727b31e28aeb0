// "Near me": the browser's position goes into the filter form as ?near=lat,lon and the
// server sorts by distance. The map needs Leaflet (our static files) and the tile server of
// settings.PORTAL_MAP_TILE_URL; without them the list, which is the page's content, is all
// there is.
(function () {
  "use strict";
  var button = document.getElementById("near-me");
  var form = document.getElementById("station-filter");
  var status = document.getElementById("near-status");
  if (button && form && "geolocation" in navigator) {
    button.hidden = false;
    button.addEventListener("click", function () {
      status.textContent = button.getAttribute("data-locating");
      navigator.geolocation.getCurrentPosition(
        function (position) {
          form.elements.near.value =
            position.coords.latitude.toFixed(5) + "," + position.coords.longitude.toFixed(5);
          form.submit();
        },
        function () { status.textContent = button.getAttribute("data-failed"); },
        { timeout: 10000, maximumAge: 300000 }
      );
    });
  }

  var markersElement = document.getElementById("map-markers");
  var tilesElement = document.getElementById("map-tiles");
  var mapElement = document.getElementById("map");
  if (!markersElement || !tilesElement || !mapElement) return;
  var markers = JSON.parse(markersElement.textContent);
  if (!markers.length) return;

  // No map (Leaflet missing, or not one tile from the tile server: offline, blocked, a
  // server down): not a grey box, but a note that the list below has every place.
  function withoutMap() {
    mapElement.hidden = true;
    var note = document.getElementById("map-fallback");
    if (note) note.hidden = false;
  }
  if (!window.L) { withoutMap(); return; }
  var tiles = JSON.parse(tilesElement.textContent);
  var map = L.map(mapElement);
  var tileLoaded = false;
  var failed = false;
  var layer = L.tileLayer(tiles.url, { maxZoom: 19, attribution: tiles.attribution });
  layer.on("tileload", function () { tileLoaded = true; });
  layer.on("tileerror", function () {
    if (tileLoaded || failed) return;
    failed = true;
    map.remove();
    withoutMap();
  });
  layer.addTo(map);
  var bounds = [];
  markers.forEach(function (site) {
    var link = document.createElement("a");
    link.href = site.url;
    link.textContent = site.name + " (" + site.available + "/" + site.total + ")";
    L.marker([site.lat, site.lon]).addTo(map).bindPopup(link);
    bounds.push([site.lat, site.lon]);
  });
  map.fitBounds(bounds, { maxZoom: 14, padding: [20, 20] });
})();
