// The demand forecast's chart (templates/admin/insights/forecast.html), drawn with Chart.js
// from /static/chartjs/ and the figures in #forecast-chart-data.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const source = document.getElementById("forecast-chart-data");
  if (!source || typeof Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  new Chart(document.getElementById("forecast-chart"), {
    type: "line",
    data: {
      labels: data.labels,
      datasets: [{ label: data.label, data: data.values, borderColor: "#417690", pointRadius: 0, tension: 0 }],
    },
    options: {
      maintainAspectRatio: false,
      scales: { y: { beginAtZero: true, suggestedMax: data.connectors } },
    },
  });
});
