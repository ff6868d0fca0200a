/* The Firmware updates tab's start form: only the fields of the chosen targeting show (the
 * device list, or the filter's tags, status and identity prefix). Without this script both sets
 * show and the server reads the chosen one (firmware/forms.py). */
(function () {
  "use strict";

  var form = document.querySelector("[data-rollout-form]");
  if (!form) return;
  var radios = form.querySelectorAll("input[name=target]");
  var groups = form.querySelectorAll("[data-target-fields]");

  function show() {
    var chosen = form.querySelector("input[name=target]:checked");
    var target = chosen ? chosen.value : "devices";
    groups.forEach(function (group) {
      group.hidden = group.getAttribute("data-target-fields") !== target;
    });
  }

  radios.forEach(function (radio) { radio.addEventListener("change", show); });
  show();
})();
