// Conveniences on top of a page that reads without script: open the step
// named in the address (#step-board.step), filter and fold the timeline,
// make graph boxes link to their steps, show the start in local time.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function openStep(hash) {
    if (!hash || hash.indexOf("#step-") !== 0) return;
    var row = document.getElementById(decodeURIComponent(hash.slice(1)));
    if (!row) return;
    var timeline = row.closest(".timeline");
    if (timeline && getComputedStyle(row).display === "none") setShow(timeline, "all");
    row.open = true;
    row.scrollIntoView({ block: "center" });
  }

  function setShow(timeline, what) {
    timeline.setAttribute("data-show", what);
    document.querySelectorAll(".controls button[data-show]").forEach(function (b) {
      b.classList.toggle("on", b.getAttribute("data-show") === what);
    });
  }

  document.querySelectorAll(".controls button").forEach(function (button) {
    button.addEventListener("click", function () {
      var timeline = document.querySelector(".timeline");
      if (!timeline) return;
      var show = button.getAttribute("data-show");
      if (show) setShow(timeline, show);
      var fold = button.getAttribute("data-fold");
      if (fold) {
        timeline.querySelectorAll("details.row").forEach(function (d) {
          d.open = fold === "open";
        });
      }
    });
  });

  // A click on a graph box goes to its step.
  document.querySelectorAll("[data-node]").forEach(function (node) {
    node.addEventListener("click", function () {
      location.hash = "step-" + node.getAttribute("data-node");
    });
  });

  document.querySelectorAll("time[datetime]").forEach(function (t) {
    var d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d)) {
      t.title = t.textContent;
      t.textContent = d.toLocaleString();
    }
  });

  window.addEventListener("hashchange", function () { openStep(location.hash); });
  openStep(location.hash);
  document.documentElement.setAttribute("data-ready", "1");
})();
