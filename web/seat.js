// A seat's page: the link's fragment is the seat's secret. It never goes in
// a URL: HTTP requests carry it as a Bearer token, a terminal's websocket as
// its first message.
"use strict";
(function () {
  const secret = decodeURIComponent(location.hash.slice(1));
  // Opened from the board: the board's secret and the seat it names.
  const named = new URLSearchParams(location.search).get("seat");
  const seatQuery = named ? "seat=" + encodeURIComponent(named) : "";
  const $ = (id) => document.getElementById(id);
  const api = (path, options = {}) =>
    fetch(path, { ...options, headers: { Authorization: "Bearer " + secret, ...(options.headers || {}) } });
  const terminals = new Map();
  let active = null;

  function refuse(text) {
    document.querySelector("main").hidden = true;
    $("refused").hidden = false;
    $("refused").textContent = text;
  }

  function openTerminal(node) {
    const screen = document.createElement("div");
    screen.dataset.node = node;
    $("screens").appendChild(screen);
    const term = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000 });
    const fit = new FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(screen);
    fit.fit();
    const entry = { node, term, fit, screen, socket: null };
    terminals.set(node, entry);
    connect(entry);
    term.onData((data) => entry.socket && entry.socket.readyState === 1 && keyMessages(data).forEach((keys) => entry.socket.send(keys)));
    term.onResize(({ cols, rows }) => entry.socket && entry.socket.readyState === 1 && entry.socket.send(JSON.stringify({ t: "size", cols, rows })));
    return entry;
  }

  // A terminal reconnects by itself when its seat or this server comes back.
  function connect(entry) {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(scheme + "//" + location.host + "/ws/terminal");
    socket.binaryType = "arraybuffer";
    entry.socket = socket;
    socket.onopen = () => socket.send(JSON.stringify({ secret, seat: named ? Number(named) : undefined, node: entry.node, cols: entry.term.cols, rows: entry.term.rows }));
    socket.onmessage = (event) => {
      if (typeof event.data !== "string") { entry.term.write(new Uint8Array(event.data)); return; }
      // Text is labctl's own: a line for the terminal, or the page's notice.
      const said = JSON.parse(event.data);
      if (said.say !== undefined) entry.term.write(said.say);
      if (said.notice !== undefined) { entry.notice = said.notice; showNotice(); }
    };
    socket.onclose = (event) => {
      if (entry.leaving) return;
      if (event.code === 4401) { refuse(event.reason || "refused"); return; }
      if (event.code === 4429) {
        entry.term.write("\r\n[labctl: " + event.reason + "; trying again in 30 s]\r\n");
        setTimeout(() => connect(entry), 30000);
        return;
      }
      entry.term.write("\r\n[labctl: disconnected" + (event.reason ? ": " + event.reason : "") + "; reconnecting…]\r\n");
      setTimeout(() => connect(entry), 3000);
    };
  }

  // "Your instructor is watching / typing": said on the page, never typed
  // into the terminal.
  function showNotice() {
    const said = [...terminals.values()].filter((t) => t.notice).map((t) => t.node + ": " + t.notice);
    $("notice").textContent = said.join("; ");
    $("notice").hidden = said.length === 0;
  }

  function show(node) {
    const entry = terminals.get(node) || openTerminal(node);
    for (const other of terminals.values()) { other.screen.hidden = other !== entry; }
    for (const tab of $("tabs").children) { tab.classList.toggle("active", tab.dataset.node === node); }
    active = entry;
    entry.fit.fit();
    entry.term.focus();
  }

  async function loadHandout() {
    const lab = $("lab").value;
    const response = await api("/api/handout/" + encodeURIComponent(lab) + "?lang=" + $("lang").value + (seatQuery ? "&" + seatQuery : ""));
    $("handout").innerHTML = response.ok ? await response.text() : "";
    for (const code of $("handout").querySelectorAll("pre > code")) {
      const run = document.createElement("button");
      run.type = "button";
      run.className = "run";
      run.textContent = "▶";
      run.title = "type it into the terminal";
      run.onclick = () => {
        if (!active || !active.socket) return;
        keyMessages(code.textContent.replace(/\n$/, "") + "\r").forEach((keys) => active.socket.send(keys));
        active.term.focus();
      };
      code.parentElement.appendChild(run);
    }
  }

  async function check() {
    $("status").textContent = "checking…";
    $("check").disabled = true;
    try {
      const response = await api("/api/check/" + encodeURIComponent($("lab").value) + "?lang=" + $("lang").value + (seatQuery ? "&" + seatQuery : ""), { method: "POST" });
      if (response.status === 429) { $("status").textContent = await response.text(); return; }
      const report = await response.json();
      const list = document.createElement("ul");
      for (const verdict of report.checks || []) {
        const item = document.createElement("li");
        item.className = verdict.passed ? "pass" : "fail";
        item.textContent = verdict.name + (verdict.detail ? " — " + verdict.detail : "");
        if (!verdict.passed && verdict.hint) {
          const hint = document.createElement("span");
          hint.className = "hint";
          hint.textContent = verdict.hint;
          item.appendChild(hint);
        }
        list.appendChild(item);
      }
      $("verdicts").replaceChildren(list);
      const passed = (report.checks || []).filter((v) => v.passed).length;
      $("status").textContent = report.reachable === false ? (report.error || "the seat does not answer") : passed + " of " + (report.checks || []).length + " checks pass";
    } catch (error) {
      $("status").textContent = "check failed: " + error;
    } finally {
      $("check").disabled = false;
    }
  }

  async function start() {
    if (!secret) { refuse("Open this page with the link in your handout."); return; }
    const response = await api("/api/seat" + (seatQuery ? "?" + seatQuery : ""));
    if (!response.ok) { refuse(await response.text()); return; }
    const seat = await response.json();
    $("seat").textContent = seat.class + " " + seat.label;
    document.title = "labctl " + seat.label;
    $("lang").value = seat.language;
    for (const lab of seat.labs) {
      const option = document.createElement("option");
      option.value = lab.id;
      option.textContent = lab.id + ": " + (seat.language === "ko" ? lab.title_ko : lab.title);
      $("lab").appendChild(option);
    }
    for (const node of seat.nodes) {
      const tab = document.createElement("button");
      tab.type = "button";
      tab.dataset.node = node;
      tab.textContent = node;
      tab.onclick = () => show(node);
      $("tabs").appendChild(tab);
    }
    $("lab").onchange = loadHandout;
    $("lang").onchange = loadHandout;
    $("check").onclick = check;
    window.addEventListener("resize", () => active && active.fit.fit());
    show(seat.nodes[0]);
    loadHandout();
    loadPages();
  }

  // The labs' own pages (the visualizer…), each on a port of this server,
  // opened with a cookie this call sets (never the link's secret).
  async function loadPages() {
    const response = await api("/api/pages" + (seatQuery ? "?" + seatQuery : ""), { method: "POST" });
    if (!response.ok) return;
    const { pages } = await response.json();
    for (const page of pages) {
      const link = document.createElement("a");
      link.href = location.protocol + "//" + location.hostname + ":" + page.port + "/";
      link.target = "_blank";
      link.rel = "noopener";
      link.textContent = page.node + ":" + page.guest;
      link.title = "port " + page.guest + " on " + page.node + " of your seat";
      $("pages").appendChild(link);
    }
  }
  // Leaving the page (or the browser keeping it for "back") closes its
  // terminals, so that their shells end now; coming back opens them anew.
  window.addEventListener("pagehide", () => {
    for (const entry of terminals.values()) {
      entry.leaving = true;
      if (entry.socket) entry.socket.close(1000, "page closed");
    }
  });
  window.addEventListener("pageshow", (event) => {
    if (!event.persisted) return;
    for (const entry of terminals.values()) { entry.leaving = false; connect(entry); }
  });
  window.addEventListener("load", start);
})();
