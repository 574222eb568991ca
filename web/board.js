// The instructor's board: every seat, its nodes, who is connected and its
// last checks, updated every few seconds without a reload. The link's
// fragment is the board's secret, sent as a Bearer token.
"use strict";
(function () {
  const secret = decodeURIComponent(location.hash.slice(1));
  const $ = (id) => document.getElementById(id);

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
  }

  async function refresh() {
    const response = await fetch("/api/board", { headers: { Authorization: "Bearer " + secret } });
    if (!response.ok) {
      $("seats").hidden = true;
      $("refused").hidden = false;
      $("refused").textContent = await response.text();
      return false;
    }
    const board = await response.json();
    $("class").textContent = "labctl board: " + board.class;
    const rows = [];
    for (const seat of board.seats) {
      const row = document.createElement("tr");
      row.dataset.seat = seat.seat;
      cell(row, seat.label);
      cell(row, seat.reachable ? seat.nodes_ready + "/" + seat.nodes + (seat.ready ? " Ready" : "") : "unreachable");
      cell(row, String(seat.connected));
      cell(row, (seat.checks || []).map((c) => c.lab + " " + (c.passed === c.total ? "✓" : "✗") + " " + c.passed + "/" + c.total).join(", ") || "-");
      rows.push(row);
    }
    document.querySelector("#seats tbody").replaceChildren(...rows);
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
    return true;
  }

  async function loop() {
    let again = true;
    try { again = await refresh(); } catch (error) { $("updated").textContent = "no answer: " + error; }
    if (again) setTimeout(loop, 2000);
  }
  window.addEventListener("load", loop);
})();
