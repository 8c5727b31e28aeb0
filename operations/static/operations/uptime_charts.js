// The uptime report's two charts (templates/admin/operations/uptime/report.html), drawn
// with Chart.js from /static/chartjs/ and the figures in #uptime-chart-data.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const source = document.getElementById("uptime-chart-data");
  if (!source || typeof Chart === "undefined") return;
  const data = JSON.parse(source.textContent);

  new Chart(document.getElementById("uptime-by-month"), {
    type: "line",
    data: {
      labels: data.months,
      datasets: [{ label: data.labels.uptime, data: data.uptime, borderColor: "#417690", tension: 0 }],
    },
    options: {
      maintainAspectRatio: false,
      scales: { y: { suggestedMin: 90, max: 100 } },
    },
  });

  new Chart(document.getElementById("outages-by-cause"), {
    type: "bar",
    data: {
      labels: data.causes,
      datasets: [{ label: data.labels.outages, data: data.outages, backgroundColor: "#ba2121" }],
    },
    options: {
      maintainAspectRatio: false,
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
    },
  });
});
