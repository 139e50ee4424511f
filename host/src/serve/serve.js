// baton serve: keeps a server-rendered page current from its one event
// stream. Everything from the run is set as text (textContent), never as
// markup; the page works without this script.
"use strict";
(function () {
  var body = document.body;
  var run = body.getAttribute("data-run");
  if (!run) return;
  var start = parseFloat(body.getAttribute("data-start") || "0");
  var elapsedAt = 0, elapsedSince = Date.now();

  function human(s) {
    s = Math.max(0, s);
    if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + "s";
    var m = Math.floor(s / 60), r = Math.floor(s % 60);
    if (m < 60) return m + "m" + (r < 10 ? "0" : "") + r + "s";
    return Math.floor(m / 60) + "h" + (m % 60 < 10 ? "0" : "") + (m % 60) + "m";
  }
  function now() { return elapsedAt + (Date.now() - elapsedSince) / 1000; }
  function text(id, value) { var e = document.getElementById(id); if (e) e.textContent = value; }

  function tick() {
    if (body.getAttribute("data-live") !== "1") return;
    text("elapsed", human(now()));
    var cells = document.querySelectorAll(".cell.c-running[data-since]");
    for (var i = 0; i < cells.length; i++) {
      var since = parseFloat(cells[i].getAttribute("data-since"));
      var note = cells[i].querySelector(".cnote");
      if (note) note.textContent = "running " + human(now() - since);
    }
  }

  if (body.getAttribute("data-live") !== "1") return;
  if (start > 0) { elapsedAt = Date.now() / 1000 - start; elapsedSince = Date.now(); }
  var url = "/runs/" + encodeURIComponent(run) + "/events?from=" + body.getAttribute("data-seq") + "." + (body.getAttribute("data-offset") || "0");
  var step = body.getAttribute("data-step");
  if (step) url += "&step=" + encodeURIComponent(step);
  var es = new EventSource(url);
  var log = document.getElementById("log");

  es.addEventListener("step", function (ev) {
    var d = JSON.parse(ev.data);
    if (step && d.id === step) {
      var badge = document.getElementById("status");
      if (badge) { badge.textContent = d.l; badge.className = "badge s-" + d.c; }
    }
    var cell = document.getElementById("step-" + d.id);
    if (!cell) return;
    cell.className = "cell c-" + d.c;
    if (d.s === null || d.s === undefined) cell.removeAttribute("data-since");
    else cell.setAttribute("data-since", String(d.s));
    var note = cell.querySelector(".cnote");
    if (note) note.textContent = d.n;
  });
  es.addEventListener("run", function (ev) {
    var d = JSON.parse(ev.data);
    var st = document.getElementById("status");
    if (st && !step) { st.textContent = d.status; st.className = "badge s-" + d.status; }
    text("slots", d.slots);
    text("counts", d.counts);
    elapsedAt = d.elapsed; elapsedSince = Date.now();
    if (d.status !== "running") { elapsedSince = Date.now(); text("elapsed", human(d.elapsed)); }
  });
  es.addEventListener("log", function (ev) {
    if (!log) return;
    var d = JSON.parse(ev.data);
    var atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
    log.appendChild(document.createTextNode(d.lines.join("\n") + "\n"));
    if (atBottom) window.scrollTo(0, document.body.scrollHeight);
  });
  es.addEventListener("end", function () {
    es.close();
    body.setAttribute("data-live", "0");
    // A reload shows the server's final page (failures with their tails,
    // artifacts); not done here: `baton run --serve` stops serving at the end.
  });
  setInterval(tick, 1000);
  tick();
})();
