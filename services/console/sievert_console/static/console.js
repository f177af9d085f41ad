/* Sievert console: the little script the pages need beyond htmx.
   - shows whether live updates are connected;
   - keeps a live update from wiping a form someone is filling in (the section refreshes once
     the form has been sent), from landing while a form of the section is being sent (its answer
     replaces the section; the section then fetches itself again, so no change is lost), from
     closing what the person opened, and from wiping the answer to their last action.
   - never loses a change that arrives while the section is already fetching itself: htmx's
     hx-sync queue would hold the second fetch on the element the first one's answer replaces
     (outerHTML), and htmx drops a request whose element has left the page, so the section would
     show what was read before the change. Such a change is remembered instead, and the section
     fetches itself again once the answer in flight has been swapped in.
   Sections holding forms set hx-disinherit="hx-sync": a form must not queue behind the
   section's own refresh, which would replace the form and drop the queued submission. */
(function () {
  "use strict";

  var sending = {}; // live section id -> forms of it being sent
  var fetching = {}; // live section id -> its own refresh (a GET's xhr) in flight
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

  // Once nothing of the section is in flight, a change it missed meanwhile is fetched.
  function caughtUp(id) {
    if (!sending[id] && !inFlight(id) && missed[id]) {
      delete missed[id];
      window.setTimeout(function () { fetchAgain(id); }, 50);
    }
  }

  // A refresh whose answer is in (readyState 4 = done) no longer counts, even if its
  // htmx:afterRequest never reached the document.
  function inFlight(id) {
    return Boolean(fetching[id] && fetching[id].readyState !== 4);
  }

  function isLiveSection(element) {
    return element.tagName === "SECTION" && element.id && element.hasAttribute("hx-get");
  }

  // Once sent, a form no longer holds back its section's refresh.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var element = event.detail.elt;
    if (isLiveSection(element) && (event.detail.requestConfig || {}).verb === "get") {
      fetching[element.id] = event.detail.xhr;
      event.detail.xhr.sievertRefresh = element.id;
      return;
    }
    if (element.tagName === "FORM") {
      delete element.dataset.dirty;
      var id = liveSection(element);
      if (id) {
        sending[id] = (sending[id] || 0) + 1;
        event.detail.xhr.sievertSection = id;
      }
    }
  });

  // htmx:afterRequest comes once the answer is swapped in (from the element's nearest ancestor
  // still on the page when the element itself was replaced).
  document.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail.xhr || {};
    var refreshed = xhr.sievertRefresh;
    if (refreshed) {
      if (fetching[refreshed] === xhr) {
        delete fetching[refreshed];
      }
      caughtUp(refreshed);
    }
    var id = xhr.sievertSection;
    if (!id) {
      return;
    }
    sending[id] -= 1;
    if (sending[id] <= 0) {
      delete sending[id];
    }
    caughtUp(id);
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
    if (element.id && (sending[element.id] || inFlight(element.id))) {
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
