// Session time-out, the accessible way (WCAG 2.2.1): a warning two minutes before the session
// ends, a button that extends it, and — if nobody answers — the answers on the page are saved
// before the resident is signed out. The server enforces the same limit on its own.
(function () {
  "use strict";
  var body = document.body;
  var idle = parseInt(body.getAttribute("data-session-idle") || "0", 10);
  if (!idle) { return; }
  var warnAt = Math.max(idle - 120, Math.floor(idle / 2));
  var dialog = document.getElementById("session-warning");
  var extend = document.getElementById("session-extend");
  var token = document.querySelector('meta[name="csrf-token"]');
  var warnTimer, endTimer, returnFocus;

  function schedule() {
    clearTimeout(warnTimer); clearTimeout(endTimer);
    warnTimer = setTimeout(warn, warnAt * 1000);
    endTimer = setTimeout(end, (idle - 5) * 1000);
  }
  function warn() {
    returnFocus = document.activeElement;
    dialog.hidden = false;
    extend.focus();
  }
  function end() {
    var form = document.querySelector("form[data-autosave]");
    var leave = function () { window.location.assign(body.getAttribute("data-session-ended")); };
    if (!form) { leave(); return; }
    fetch(form.getAttribute("data-autosave"), { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .then(leave, leave);
  }
  extend.addEventListener("click", function () {
    fetch(body.getAttribute("data-session-extend"), {
      method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": token ? token.content : "" }
    }).then(function (response) {
      if (!response.ok) { end(); return; }
      dialog.hidden = true;
      if (returnFocus && returnFocus.focus) { returnFocus.focus(); }
      schedule();
    }, end);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !dialog.hidden) { extend.click(); }
  });
  schedule();
})();
