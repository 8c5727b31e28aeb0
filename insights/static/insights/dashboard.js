// The insights dashboards' charts (templates/admin/insights/dashboard.html), drawn with
// Chart.js from /static/chartjs/ and the tables' figures in #insights-charts.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const source = document.getElementById("insights-charts");
  if (!source || typeof Chart === "undefined") return;
  const colours = ["#417690", "#ba2121", "#79aec8", "#e5a00d", "#5b8c5a"];
  for (const chart of JSON.parse(source.textContent)) {
    const canvas = document.getElementById(`chart-${chart.id}`);
    if (!canvas) continue;
    new Chart(canvas, {
      type: chart.type,
      data: {
        labels: chart.labels,
        datasets: chart.series.map((series, index) => ({
          label: series.label,
          data: series.data,
          borderColor: colours[index % colours.length],
          backgroundColor: colours[index % colours.length],
          tension: 0,
        })),
      },
      options: { maintainAspectRatio: false, scales: { y: { beginAtZero: true } } },
    });
  }
});
