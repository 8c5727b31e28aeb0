// The site admin's chart (templates/admin/stations/site/change_form.html): what the cars
// drew per phase at each smart charging run against the limit it applied, with Chart.js
// from /static/chartjs/ and the figures in #site-load-data.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const source = document.getElementById("site-load-data");
  const canvas = document.getElementById("site-load-chart");
  if (!source || !canvas || typeof Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const colours = { L1: "#417690", L2: "#79aec8", L3: "#5b80b2" };
  const labels = data.times.map((at) => new Date(at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
  const datasets = Object.entries(data.drawn).map(([phase, values]) => ({
    label: `${data.labels.drawn} ${phase}`,
    data: values,
    borderColor: colours[phase],
    stepped: true,
  }));
  datasets.push({ label: data.labels.limit, data: data.limit, borderColor: "#ba2121", borderDash: [6, 4], stepped: true });

  new Chart(canvas, {
    type: "line",
    data: { labels, datasets },
    options: {
      maintainAspectRatio: false,
      animation: false,
      scales: { y: { beginAtZero: true, title: { display: true, text: "A" } } },
    },
  });
});
