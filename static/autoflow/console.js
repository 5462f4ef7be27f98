// The run page's live timeline: htmx's ws extension swaps the server's fragments in by id.
// Pause holds updates back (they are re-read on resume); while the socket is down, the page
// polls the same fragments every few seconds. Without JavaScript the page is a plain page.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) { return; }
  live.hidden = false;  // the controls mean something only with JavaScript
  var state = document.getElementById("live-state");
  var toggle = document.getElementById("live-toggle");
  var paused = false;
  var connected = false;

  function say(text) { state.textContent = text; }
  function refresh() {
    ["header", "timeline", "response", "events"].forEach(function (part) {
      var target = document.getElementById(part === "header" ? "run-header" : part);
      if (target) {
        htmx.ajax("GET", live.dataset.url + "?partial=" + part, { target: target, swap: "outerHTML" });
      }
    });
  }

  document.body.addEventListener("htmx:wsOpen", function () { connected = true; say(paused ? "Paused" : "Live"); });
  document.body.addEventListener("htmx:wsClose", function () { connected = false; say("Reconnecting… (polling)"); });
  document.body.addEventListener("htmx:wsError", function () { connected = false; say("Reconnecting… (polling)"); });
  document.body.addEventListener("htmx:wsBeforeMessage", function (event) {
    if (paused) { event.preventDefault(); }
  });
  toggle.addEventListener("click", function () {
    paused = !paused;
    toggle.textContent = paused ? "Resume" : "Pause";
    toggle.setAttribute("aria-pressed", paused ? "true" : "false");
    say(paused ? "Paused" : (connected ? "Live" : "Reconnecting… (polling)"));
    if (!paused) { refresh(); }
  });
  window.setInterval(function () { if (!connected && !paused) { refresh(); } }, 5000);
})();
