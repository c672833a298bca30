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
