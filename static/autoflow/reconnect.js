// The server ends every live socket after WEBSOCKET_MAX_LIFETIME_SECONDS with close code 4012
// ("reconnect"; daphne may send only 1000 or 3000-4999, so htmx's own retry codes cannot be
// used): open it again on the same element, after a short random pause so that a restart's
// sockets do not all come back at once. The server sends the current state on every connect.
(function () {
  "use strict";
  var RECONNECT = 4012;
  document.body.addEventListener("htmx:wsClose", function (event) {
    var detail = event.detail || {};
    if (!detail.event || detail.event.code !== RECONNECT || !detail.socketWrapper) { return; }
    window.setTimeout(detail.socketWrapper.reconnect, 250 + Math.random() * 750);
  });
})();
