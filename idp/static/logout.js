// The logout page (idp/templates/logout_done.html): it notices when each front-channel iframe has loaded (OIDC
// Front-Channel Logout 1.0; a platform told only that way shows "gevraagd", as a load proves nothing), goes on to
// the platform that asked for the logout once they all have (or after three seconds), and follows the back-channel
// logouts that leerID's worker sends, from a small JSON address that only this browser may read. The list is an
// aria-live region, so a screen reader says each platform's news. Without this script the iframes load all the same
// and the page offers a "Verder" link.
(function () {
  "use strict";

  var WAIT_FOR_FRAMES = 3000;  // milliseconds: a slow platform never keeps the person here longer
  var POLLS = 40;  // about two minutes: after that the person sees the rest in Mijn leerID
  var loaded = {};
  var left = null;

  // Loaded before the iframes, so none of their load events is missed (they do not bubble, but can be captured).
  document.addEventListener("load", function (event) {
    var frame = event.target;
    if (frame && frame.tagName === "IFRAME" && frame.hasAttribute("data-frame")) {
      loaded[frame.getAttribute("data-frame")] = true;
      framesChanged();
    }
  }, true);

  function section() {
    return document.querySelector("[data-logout]");
  }

  function show(id, state) {
    var box = section();
    var item = box && box.querySelector("li[data-platform='" + id + "']");
    if (!item || item.getAttribute("data-state") === state || item.getAttribute("data-state") === "none") {
      return;
    }
    item.setAttribute("data-state", state);
    item.querySelector("[data-text]").textContent = box.getAttribute("data-msg-" + state) || "";
  }

  function framesChanged() {
    var frames = document.querySelectorAll("iframe[data-frame]");
    var waiting = 0;
    Array.prototype.forEach.call(frames, function (frame) {
      var id = frame.getAttribute("data-frame");
      if (!loaded[id]) {
        waiting += 1;
      } else if (document.querySelector("li[data-platform='" + id + "'][data-front]")) {
        show(id, "asked");  // only its iframe: it loaded, but that proves no logout (any answer loads)
      }
    });
    if (waiting === 0 && left === null && document.readyState !== "loading") {
      goOn();
    }
  }

  function goOn() {
    var link = document.querySelector("a[data-continue]");
    left = true;
    if (link) {
      window.location.assign(link.href);
    }
  }

  function poll(address, count) {
    window.fetch(address, {credentials: "same-origin", cache: "no-store", headers: {Accept: "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (answer) {
        if (!answer) {
          return;
        }
        var unsettled = 0;
        answer.platforms.forEach(function (platform) {
          show(platform.id, platform.status);
          if (platform.status !== "done") {
            unsettled += 1;
          }
        });
        if (unsettled && count < POLLS) {
          window.setTimeout(function () { poll(address, count + 1); }, count < 10 ? 1000 : 5000);
        }
      })
      .catch(function () {
        if (count < POLLS) {
          window.setTimeout(function () { poll(address, count + 1); }, 5000);
        }
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = section();
    if (!box) {
      return;
    }
    if (box.getAttribute("data-status") && window.fetch) {
      poll(box.getAttribute("data-status"), 0);
    }
    if (document.querySelector("a[data-continue]")) {
      window.setTimeout(function () { if (left === null) { goOn(); } }, WAIT_FOR_FRAMES);
    }
    framesChanged();
  });
}());
