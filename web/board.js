// The instructor's board: every seat, its nodes, who is connected and its
// last checks, updated every few seconds without a reload. The link's
// fragment is the board's secret, sent as a Bearer token.
"use strict";
(function () {
  const secret = decodeURIComponent(location.hash.slice(1));
  const $ = (id) => document.getElementById(id);

  const auth = { Authorization: "Bearer " + secret };

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function button(parent, label, onclick) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.onclick = onclick;
    parent.appendChild(b);
    return b;
  }

  // Reset (backed up as `labctl reset` does) or solve the chosen lab on a seat.
  async function act(action, seat, label) {
    const lab = $("lab").value;
    if (action === "reset" && !confirm("Reset " + lab + " on " + label + "? What the student changed is backed up first.")) return;
    $("updated").textContent = action + " " + lab + " on " + label + "…";
    const response = await fetch("/api/board/" + action + "/" + seat + "/" + encodeURIComponent(lab), { method: "POST", headers: auth });
    const done = response.ok ? await response.json() : { ok: false, error: await response.text() };
    $("updated").textContent = action + " " + lab + " on " + label + ": " + (done.ok ? "done" : "failed: " + done.error);
  }

  async function gradebook() {
    const lab = $("lab").value;
    const response = await fetch("/api/board/gradebook/" + encodeURIComponent(lab), { headers: auth });
    if (!response.ok) { $("updated").textContent = "gradebook: " + await response.text(); return; }
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = "gradebook-" + lab + ".csv";
    link.click();
  }

  async function refresh() {
    const response = await fetch("/api/board", { headers: auth });
    if (!response.ok) {
      $("seats").hidden = true;
      $("refused").hidden = false;
      $("refused").textContent = await response.text();
      return false;
    }
    const board = await response.json();
    $("class").textContent = "labctl board: " + board.class;
    if ($("lab").options.length === 0) {
      for (const lab of board.labs) {
        const option = document.createElement("option");
        option.value = option.textContent = lab;
        $("lab").appendChild(option);
      }
      $("csv").onclick = gradebook;
    }
    const rows = [];
    for (const seat of board.seats) {
      const row = document.createElement("tr");
      row.dataset.seat = seat.seat;
      cell(row, seat.label);
      cell(row, seat.reachable ? seat.nodes_ready + "/" + seat.nodes + (seat.ready ? " Ready" : "") : "unreachable");
      // Each open terminal: watch it, or take it over (the student is told).
      const open = cell(row, "");
      for (const terminal of seat.terminals || []) {
        const watch = document.createElement("a");
        watch.href = "/watch?seat=" + seat.seat + "&terminal=" + terminal.id + "#" + encodeURIComponent(secret);
        watch.target = "_blank";
        watch.rel = "noopener";
        watch.textContent = terminal.node + (terminal.watchers ? " 👁" + terminal.watchers : "");
        watch.title = "watch this terminal (" + terminal.minutes + " min open); you may take it over from there";
        open.appendChild(watch);
      }
      if (!(seat.terminals || []).length) open.textContent = "-";
      cell(row, (seat.checks || []).map((c) => c.lab + " " + (c.passed === c.total ? "✓" : "✗") + " " + c.passed + "/" + c.total).join(", ") || "-");
      const actions = cell(row, "");
      // The seat's own page, opened with the board's secret: its terminals are yours.
      const own = document.createElement("a");
      own.href = "/?seat=" + seat.seat + "#" + encodeURIComponent(secret);
      own.target = "_blank";
      own.rel = "noopener";
      own.textContent = "terminal";
      own.title = "a terminal of your own on this seat, with its handout and check";
      actions.appendChild(own);
      button(actions, "reset", () => act("reset", seat.seat, seat.label));
      button(actions, "solve", () => act("solve", seat.seat, seat.label));
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
