// The history page's live rows: after its socket reconnects (the server closes it after
// WEBSOCKET_MAX_LIFETIME_SECONDS, or a restart dropped it), the results are re-read, so that no
// run that started or ended meanwhile is missing.
(function () {
  "use strict";
  document.body.addEventListener("htmx:wsClose", function (event) {
    if (event.target.id === "results") { event.target.dataset.dropped = "1"; }
  });
  document.body.addEventListener("htmx:wsOpen", function (event) {
    var results = event.target;
    if (results.id !== "results" || !results.dataset.dropped) { return; }
    delete results.dataset.dropped;
    htmx.ajax("GET", window.location.href, { target: "#results", swap: "outerHTML" });
  });
})();
