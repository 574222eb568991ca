// The board watches a student's open terminal: the screen as it has been
// lately, then everything that follows, at the student's own size. With
// "take over" ticked, the instructor's keys go into it too; the student's
// page says so while it lasts. The fragment is the board's secret.
"use strict";
(function () {
  const secret = decodeURIComponent(location.hash.slice(1));
  const query = new URLSearchParams(location.search);
  const seat = Number(query.get("seat"));
  const id = Number(query.get("terminal"));
  const $ = (id) => document.getElementById(id);

  function start() {
    $("title").textContent = "labctl: watching seat " + seat + ", terminal " + id;
    const term = new Terminal({ fontSize: 14, scrollback: 5000, disableStdin: false });
    term.open($("screen"));
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(scheme + "//" + location.host + "/ws/terminal");
    socket.binaryType = "arraybuffer";
    const send = (message) => socket.readyState === 1 && socket.send(JSON.stringify(message));
    socket.onopen = () => send({ secret, seat, watch: id, take: $("take").checked });
    socket.onmessage = (event) => {
      if (typeof event.data !== "string") { term.write(new Uint8Array(event.data)); return; }
      const said = JSON.parse(event.data);
      if (said.say !== undefined) term.write(said.say);
      if (said.size) term.resize(said.size[0], said.size[1]);
    };
    socket.onclose = (event) => {
      if (event.code === 4401 || event.code === 4429) {
        $("status").textContent = event.reason || "refused";
        return;
      }
      $("status").textContent = "closed" + (event.reason ? ": " + event.reason : "");
    };
    $("take").onchange = () => { send({ t: "take", on: $("take").checked }); term.focus(); };
    term.onData((data) => $("take").checked && socket.readyState === 1 && keyMessages(data).forEach((keys) => socket.send(keys)));
    window.addEventListener("pagehide", () => socket.close(1000, "page closed"));
  }
  window.addEventListener("load", start);
})();
