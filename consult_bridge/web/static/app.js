// Vigil dashboard: the live vitals tiles (server-sent events), the range picker, and a
// reload of the alerts tab while a ladder is open. No library, nothing from elsewhere.
"use strict";

function showReading(tiles, reading) {
  const tile = tiles.querySelector(`.tile[data-type="${reading.type}"]`);
  if (!tile) return;
  if (reading.type === "temperature") {
    // Core temperature wins over the wrist's skin temperature once the tile shows one.
    if (reading.values.site === "wrist" && tile.dataset.core === "1") return;
    if (reading.values.site !== "wrist") tile.dataset.core = "1";
  }
  const value = tile.querySelector(".value");
  const v = reading.values;
  if (reading.type === "blood_pressure") {
    value.textContent = `${Math.round(v.systolic_mmhg)}/${Math.round(v.diastolic_mmhg)}`;
  } else {
    const x = v[value.dataset.field];
    value.textContent = typeof x === "number" ? String(Math.round(x * 10) / 10) : "–";
  }
  const at = tile.querySelector(".at");
  at.textContent = new Date(reading.at).toLocaleTimeString();
  at.title = reading.at;
  tile.classList.remove("flash");
  void tile.offsetWidth; // restart the highlight
  tile.classList.add("flash");
}

function startLive() {
  const tiles = document.getElementById("live");
  if (!tiles || !window.EventSource) return;
  const source = new EventSource(tiles.dataset.source);
  source.addEventListener("open", () => tiles.classList.add("connected"));
  source.addEventListener("error", () => tiles.classList.remove("connected"));
  source.addEventListener("reading", (e) => showReading(tiles, JSON.parse(e.data)));
  source.addEventListener("closed", () => { source.close(); tiles.classList.remove("connected"); });
}

function rangePicker() {
  document.querySelectorAll("form.range select").forEach((select) => {
    select.addEventListener("change", () => select.form.submit());
  });
}

function refreshWhileOpen() {
  const marker = document.getElementById("refresh");
  if (!marker) return;
  const seconds = Number(marker.dataset.every) || 3;
  setTimeout(() => {
    const url = new URL(window.location.href);
    url.searchParams.delete("done");
    window.location.replace(url.toString());
  }, seconds * 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  startLive();
  rangePicker();
  refreshWhileOpen();
});
