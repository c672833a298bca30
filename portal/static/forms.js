// Progressive enhancement for e-forms. Without JavaScript every question is shown and the
// server decides what counts; with it, questions that do not apply are hidden as answers change.
(function () {
  "use strict";
  function currentValues(form, name) {
    var values = [];
    form.querySelectorAll('[name="' + name + '"]').forEach(function (input) {
      if ((input.type === "radio" || input.type === "checkbox")) {
        if (input.checked) { values.push(input.type === "checkbox" ? "true" : input.value); }
        else if (input.type === "checkbox") { values.push("false"); }
      } else { values.push(input.value); }
    });
    return values;
  }
  function update(form) {
    form.querySelectorAll("[data-show-if-field]").forEach(function (group) {
      var wanted = group.getAttribute("data-show-if-values").split("|");
      var have = currentValues(form, group.getAttribute("data-show-if-field"));
      group.hidden = !have.some(function (value) { return wanted.indexOf(value) !== -1; });
    });
  }
  document.querySelectorAll("form").forEach(function (form) {
    if (!form.querySelector("[data-show-if-field]")) { return; }
    form.addEventListener("change", function () { update(form); });
    update(form);
  });
})();
// A computed answer (the waste fee) shown as its inputs are typed: the same formula as the server's
// calculator (portal/forms/flow.py), with the definition's own parameters from data-compute. The
// server computes it again from the saved answers, and its figure is what the summary and the document
// carry. Formatted as portal/forms/display.py formats amounts: 96,00 zł; PLN 96.00 in English.
(function () {
  "use strict";
  var NBSP = "\u00a0";
  function grosze(text) {
    var match = /^(\d+)(?:[.,](\d{1,2}))?$/.exec(String(text).trim());
    return match ? parseInt(match[1], 10) * 100 + parseInt(((match[2] || "") + "00").slice(0, 2), 10) : null;
  }
  function grouped(digits, separator) {
    return digits.replace(/\B(?=(\d{3})+(?!\d))/g, separator);
  }
  function amount(total, currency, lang) {
    var whole = String(Math.floor(total / 100)), cents = ("0" + (total % 100)).slice(-2);
    if (lang === "pl") {
      var figure = grouped(whole, NBSP) + "," + cents;
      return currency === "PLN" ? figure + NBSP + "zł" : currency + NBSP + figure;
    }
    return currency + NBSP + grouped(whole, ",") + "." + cents;
  }
  function holds(form, name) {
    var yes = false;
    form.querySelectorAll('[name="' + name + '"]').forEach(function (input) {
      if ((input.type === "checkbox" || input.type === "radio") && !input.checked) { return; }
      var value = input.type === "checkbox" ? "true" : String(input.value).toLowerCase();
      if (value === "true" || value === "tak") { yes = true; }
    });
    return yes;
  }
  var calculators = {
    "per-person-fee": function (form, p) {
      var persons = form.querySelector('[name="' + p.persons + '"]');
      if (!persons || !/^\s*\d{1,6}\s*$/.test(persons.value)) { return null; }
      var rate = grosze(p.rate), discount = grosze(p.discount || "0");
      if (rate === null || discount === null) { return null; }
      if (p.discount_if && holds(form, p.discount_if)) { rate -= discount; }
      return parseInt(persons.value, 10) * rate;
    }
  };
  document.querySelectorAll("[data-compute]").forEach(function (box) {
    var form = box.closest("form");
    var formula = JSON.parse(box.getAttribute("data-compute"));
    var calculate = calculators[formula.calculator];
    var shown = box.querySelector("[data-computed]");
    if (!form || !calculate || !shown || !form.querySelector('[name="' + formula.persons + '"]')) { return; }
    var lang = document.documentElement.lang === "en" ? "en" : "pl";
    function update() {
      var total = calculate(form, formula);
      var text = total === null ? box.getAttribute("data-unknown") : amount(total, formula.currency || "PLN", lang);
      if (shown.textContent !== text) { shown.textContent = text; }
    }
    form.addEventListener("input", update);
    form.addEventListener("change", update);
    update();
  });
})();
// Changing the language on a step keeps what has been typed: the step is saved first, unchecked, through
// the same address the session time-out uses (data-autosave), then the page is shown in the other
// language. Without JavaScript the switch is a plain link and only answers sent with "Dalej" are kept.
(function () {
  "use strict";
  var form = document.querySelector("form[data-autosave]");
  if (!form || !window.fetch) { return; }
  document.querySelectorAll(".header__lang a").forEach(function (link) {
    link.addEventListener("click", function (event) {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) { return; }
      event.preventDefault();
      var go = function () { window.location.assign(link.href); };
      fetch(form.getAttribute("data-autosave"), { method: "POST", body: new FormData(form), credentials: "same-origin" })
        .then(go, go);
    });
  });
})();
