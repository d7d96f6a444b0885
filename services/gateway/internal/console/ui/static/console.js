// printfleet operator console: progressive enhancement only; every page
// and action works without it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Ask before the actions that cannot be undone or touch many messages.
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (!window.confirm(f.getAttribute("data-confirm"))) {
        e.preventDefault();
      }
    });
  });
  // A form submits once: a second click while the first is on its way does
  // nothing (the action id makes a resubmission harmless anyway).
  document.querySelectorAll("form[method=post]").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      if (e.defaultPrevented) {
        return;
      }
      if (f.dataset.sent) {
        e.preventDefault();
        return;
      }
      f.dataset.sent = "1";
    });
  });
  // Live pages reload themselves while visible.
  var every = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
  if (every > 0) {
    window.setInterval(function () {
      if (document.visibilityState === "visible") {
        window.location.reload();
      }
    }, every * 1000);
  }
});
