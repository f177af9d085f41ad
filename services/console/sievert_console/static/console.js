/* Sievert console: the little script the pages need beyond htmx.
   - shows whether live updates are connected;
   - keeps a live update from wiping a form someone is filling in (the section refreshes once
     the form has been sent). */
(function () {
  "use strict";

  function liveState(state, text) {
    var status = document.getElementById("live-status");
    if (status) {
      status.dataset.state = state;
      status.textContent = text;
    }
    document.body.dataset.live = state;
  }

  document.addEventListener("htmx:sseOpen", function () {
    liveState("on", "Live updates: on");
  });
  document.addEventListener("htmx:sseError", function () {
    liveState("reconnecting", "Live updates: reconnecting…");
  });

  document.addEventListener("input", function (event) {
    var form = event.target.closest && event.target.closest("form");
    if (form) {
      form.dataset.dirty = "true";
    }
  });

  // Once sent, a form no longer holds back its section's refresh.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var element = event.detail.elt;
    if (element.tagName === "FORM") {
      delete element.dataset.dirty;
    }
  });

  document.addEventListener("htmx:confirm", function (event) {
    var element = event.detail.elt;
    if (event.detail.verb !== "get" || !element.querySelector) {
      return;
    }
    if (element.querySelector("form[data-dirty='true']")) {
      event.preventDefault();
      element.dataset.stale = "true";
    }
  });
})();
