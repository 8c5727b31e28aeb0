// Site planning's map (templates/admin/insights/planning.html): existing sites as circles
// sized by their unmet demand, candidate locations as markers with their score. Leaflet
// from our /static/; without it or its tiles, the tables below are the page.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const mapElement = document.getElementById("planning-map");
  const markers = JSON.parse(document.getElementById("planning-markers").textContent);
  const tiles = JSON.parse(document.getElementById("map-tiles").textContent);
  const places = markers.sites.concat(markers.candidates);
  const withoutMap = () => {
    mapElement.hidden = true;
    document.getElementById("map-fallback").hidden = false;
  };
  if (!window.L || !places.length) { withoutMap(); return; }
  const map = L.map(mapElement);
  L.tileLayer(tiles.url, { maxZoom: 19, attribution: tiles.attribution }).addTo(map);
  const largest = Math.max(1, ...markers.sites.map((s) => s.unmet));
  markers.sites.forEach((site) => {
    L.circleMarker([site.lat, site.lon], {
      radius: 6 + 18 * (site.unmet / largest), color: "#ba2121", fillOpacity: 0.4,
    }).addTo(map).bindPopup(site.name + ": " + site.unmet.toFixed(1));
  });
  markers.candidates.forEach((candidate) => {
    const link = document.createElement("a");
    link.href = candidate.url;
    link.textContent = candidate.name + ": " + candidate.score.toFixed(1);
    L.marker([candidate.lat, candidate.lon]).addTo(map).bindPopup(link);
  });
  map.fitBounds(places.map((p) => [p.lat, p.lon]), { maxZoom: 13, padding: [20, 20] });
});
