/* Sievert console: the little script the pages need beyond htmx.
   - shows whether live updates are connected;
   - keeps a live update from wiping a form someone is filling in (the section refreshes once
     the form has been sent), from landing while a form of the section is being sent (its answer
     replaces the section; the section then fetches itself again, so no change is lost), from
     closing what the person opened, and from wiping the answer to their last action.
   Sections holding forms set hx-disinherit="hx-sync": a form must not queue behind the
   section's own refresh, which would replace the form and drop the queued submission. */
(function () {
  "use strict";

  var sending = {}; // live section id -> forms of it being sent
  var missed = {}; // live section ids a change reached while they could not fetch themselves

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

  // A live section whose form is being sent: its answer replaces the section, and was rendered
  // before any change that arrives meanwhile. Such a change is remembered (by the section's id)
  // and the section fetches itself again once the answer is in, so the last change is never lost.

  function liveSection(element) {
    var section = element.parentElement && element.parentElement.closest("section[hx-get][id]");
    return section ? section.id : null;
  }

  function fetchAgain(id) {
    var section = document.getElementById(id);
    if (section && window.htmx) {
      window.htmx.ajax("GET", section.getAttribute("hx-get"), { source: section, target: section, swap: "outerHTML" });
    }
  }

  // Once sent, a form no longer holds back its section's refresh.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var element = event.detail.elt;
    if (element.tagName === "FORM") {
      delete element.dataset.dirty;
      var id = liveSection(element);
      if (id) {
        sending[id] = (sending[id] || 0) + 1;
        event.detail.xhr.sievertSection = id;
      }
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var id = event.detail.xhr && event.detail.xhr.sievertSection;
    if (!id) {
      return;
    }
    sending[id] -= 1;
    if (sending[id] <= 0) {
      delete sending[id];
      if (missed[id]) {
        delete missed[id];
        window.setTimeout(function () { fetchAgain(id); }, 50);
      }
    }
  });

  // A live refresh (a GET) of a section: it keeps open what the person opened (a <details> with
  // an id) and the answer to their last action ([data-outcome]); and it never lands on a form
  // being typed into (a refresh already in flight when the typing started is dropped, and the
  // section fetches itself again once the form is sent).
  var opened = [];
  var outcome = null;
  var swapped = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    var verb = (event.detail.requestConfig || {}).verb;
    opened = [];
    outcome = null;
    swapped = null;
    if (verb !== "get" || !target || !target.querySelectorAll) {
      return;
    }
    if (target.id && (sending[target.id] || target.querySelector("form[data-dirty='true']"))) {
      event.detail.shouldSwap = false;
      target.dataset.stale = "true";
      missed[target.id] = true;
      return;
    }
    swapped = target.id || null;
    opened = Array.prototype.map.call(target.querySelectorAll("details[id][open]"), function (d) { return d.id; });
    var shown = target.querySelector("[data-outcome]");
    outcome = shown && shown.innerHTML.trim() ? shown.innerHTML : null;
  });
  document.addEventListener("htmx:afterSwap", function () {
    opened.forEach(function (id) {
      var details = document.getElementById(id);
      if (details) {
        details.open = true;
      }
    });
    var section = swapped && document.getElementById(swapped);
    var slot = section && section.querySelector("[data-outcome]");
    if (slot && outcome && !slot.innerHTML.trim()) {
      slot.innerHTML = outcome;
    }
    opened = [];
    outcome = null;
    swapped = null;
  });

  document.addEventListener("htmx:confirm", function (event) {
    var element = event.detail.elt;
    if (event.detail.verb !== "get" || !element.querySelector) {
      return;
    }
    if (element.id && sending[element.id]) {
      event.preventDefault();
      missed[element.id] = true;
      return;
    }
    if (element.querySelector("form[data-dirty='true']")) {
      event.preventDefault();
      element.dataset.stale = "true";
      if (element.id) {
        missed[element.id] = true; // fetched again once the form is sent and answered
      }
    }
  });
})();
