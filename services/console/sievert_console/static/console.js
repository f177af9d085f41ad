/* Sievert console: the little script the pages need beyond htmx.
   - shows whether live updates are connected;
   - keeps a live update from landing on a form someone is filling in: one they have typed into,
     or one whose field they are in (focused) and may be about to type into. A refresh landing
     there would replace the field under them: htmx moves the focus to the new field of the
     same id, but a field inside a <details> is still closed when it does (the section's opened
     <details> are reopened only after the swap), so the focus fell to the page and what they
     typed next went nowhere. The check runs when the refresh is asked for and again when its
     answer lands, on the swapped element and everything inside it; a refresh held back is
     remembered, and the section fetches itself again once the form is sent, or left without
     anything typed.
   - keeps a live update from landing while a form of the section is being sent (its answer
     replaces the section; the section then fetches itself again, so no change is lost), from
     closing what the person opened, and from wiping the answer to their last action.
   - never loses a change that arrives while the section is already fetching itself: htmx's
     hx-sync queue would hold the second fetch on the element the first one's answer replaces
     (outerHTML), and htmx drops a request whose element has left the page, so the section would
     show what was read before the change. Such a change is remembered instead, and the section
     fetches itself again once the answer in flight has been swapped in.
     The live triggers carry no delay: a delayed trigger fires on the element it was set on,
     and when a refresh in flight replaced that element meanwhile, htmx drops the request
     before any event reaches this script, so the change was lost. Without the delay a burst
     costs at most two fetches a section: the first, and one for all it heard meanwhile.
   Sections holding forms set hx-disinherit="hx-sync": a form must not queue behind the
   section's own refresh, which would replace the form and drop the queued submission. */
(function () {
  "use strict";

  // A live section: a fragment that fetches itself (a card's <section>, or a <div> such as a
  // theme's detail), with an id to be found again once replaced.
  var LIVE = "section[hx-get][id], div[hx-get][id]";
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

  function typedInto(event) {
    var form = event.target.closest && event.target.closest("form");
    if (form) {
      form.dataset.dirty = "true";
    }
  }
  document.addEventListener("input", typedInto);
  document.addEventListener("change", typedInto);

  // A field a person can be typing into or choosing in (not a button, not a hidden value).
  var NOT_FIELDS = { hidden: true, submit: true, button: true, reset: true, image: true };
  function isField(element) {
    var tag = element.tagName;
    return tag === "TEXTAREA" || tag === "SELECT" || (tag === "INPUT" && !NOT_FIELDS[element.type]) ||
      Boolean(element.isContentEditable);
  }

  // Whether replacing the element would take something from the person: a form in it typed
  // into, a field in it they are in, or a form of a live section in it being sent.
  function inUse(element) {
    if (element.id && sending[element.id]) {
      return true;
    }
    var sections = element.querySelectorAll(LIVE);
    for (var i = 0; i < sections.length; i += 1) {
      if (sending[sections[i].id]) {
        return true;
      }
    }
    if (element.querySelector("form[data-dirty='true']")) {
      return true;
    }
    var active = document.activeElement;
    return Boolean(active && active !== element && element.contains(active) && isField(active));
  }

  // A refresh of the element held back: it shows as stale, and (a live section) fetches itself
  // again once it is no longer in use.
  function holdBack(element) {
    element.dataset.stale = "true";
    if (element.id) {
      missed[element.id] = true;
    }
  }

  // A live section whose form is being sent: its answer replaces the section, and was rendered
  // before any change that arrives meanwhile. Such a change is remembered (by the section's id)
  // and the section fetches itself again once the answer is in, so the last change is never lost.

  function liveSection(element) {
    var section = element.parentElement && element.parentElement.closest(LIVE);
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
    return Boolean(element.id) && element.matches(LIVE);
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
  // in use (a refresh already in flight when the person went into the form is dropped when its
  // answer lands, and the section fetches itself again once the form is sent or left).
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
    if (inUse(target)) {
      event.detail.shouldSwap = false;
      holdBack(target);
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
    var target = event.detail.target || element;
    if (event.detail.verb !== "get" || !element.querySelector || !target.querySelector) {
      return;
    }
    if (element.id && inFlight(element.id)) {
      event.preventDefault();
      missed[element.id] = true; // fetched again once the answer in flight is in
      return;
    }
    if (inUse(target)) {
      event.preventDefault();
      holdBack(target); // fetched again once the form is sent and answered, or left
    }
  });

  // A person leaving a form without typing into it: what its section missed meanwhile is
  // fetched (htmx:confirm holds it back again if they only moved to another of its fields).
  document.addEventListener("focusout", function (event) {
    var element = event.target;
    if (!element.closest || !isField(element)) {
      return;
    }
    var id = liveSection(element);
    if (id) {
      caughtUp(id);
    }
  });
})();
