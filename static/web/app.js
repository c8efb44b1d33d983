// Doppel web app: progressive enhancement only (every page works without it).
// 1. <time datetime data-local> → the viewer's time zone.
// 2. [data-poll-url] → live progress of a generation (JSON polled every second).
(function () {
  "use strict";
  function localTimes(root) {
    root.querySelectorAll("time[data-local]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d)) {
        el.textContent = d.toLocaleString(undefined, {dateStyle: "medium", timeStyle: "short"});
        el.title = el.getAttribute("datetime");
      }
    });
  }
  function poll(el) {
    var url = el.getAttribute("data-poll-url");
    var bar = el.querySelector("progress");
    var label = el.querySelector("[data-status]");
    function tick() {
      fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.json(); })
        .then(function (s) {
          if (bar && typeof s.progress === "number") { bar.value = s.progress; }
          if (label) { label.textContent = s.status_text || s.status; }
          if (s.done) { window.location.reload(); } else { setTimeout(tick, 1000); }
        })
        .catch(function () { setTimeout(tick, 3000); });
    }
    tick();
  }
  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    document.querySelectorAll("[data-poll-url]").forEach(poll);
  });
})();
