// The staff session page: a chart of power and energy, and, while the session runs, the
// figures so far refreshed every 5 seconds.
(function () {
  "use strict";
  const box = document.querySelector(".session-chart");
  if (!box) return;

  const data = document.getElementById("session-chart-data");
  const canvas = document.getElementById("session-chart");
  if (data && canvas && window.Chart) {
    const series = JSON.parse(data.textContent);
    const points = (rows) => rows.map(([x, y]) => ({ x: Date.parse(x), y }));
    new window.Chart(canvas, {
      type: "line",
      data: {
        datasets: [
          { label: canvas.dataset.energyLabel, data: points(series.energy), yAxisID: "energy", stepped: false },
          { label: canvas.dataset.powerLabel, data: points(series.power), yAxisID: "power" },
        ],
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        parsing: false,
        scales: {
          x: {
            type: "linear",
            ticks: { callback: (value) => new Date(value).toLocaleTimeString() },
          },
          energy: { position: "left", beginAtZero: true },
          power: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false } },
        },
      },
    });
  }

  if (box.dataset.running !== "yes") return;
  async function refresh() {
    try {
      const response = await fetch(box.dataset.figuresUrl, { credentials: "same-origin" });
      if (response.ok) {
        const figures = await response.json();
        const show = (name, value) => {
          const node = document.querySelector(`[data-figure="${name}"]`);
          if (node && value !== null) node.textContent = value;
        };
        show("energy", figures.energy_kwh);
        show("power", figures.power_kw);
        if (figures.cost !== null) show("cost", `${figures.cost} ${figures.currency}`);
        if (!figures.running) return;
      }
    } catch (error) {
      // The network hiccuped: try again at the next tick.
    }
    setTimeout(refresh, 5000);
  }
  setTimeout(refresh, 5000);
})();
