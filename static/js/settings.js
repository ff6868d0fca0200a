/* The Settings tab: a section's fields show only while the checkbox that turns the section on is
 * ticked (data-shown-by="<checkbox id>"; e.g. the allowed addresses while "Restrict first
 * provisioning by IP" is). Without this script every field shows. Hidden fields are still
 * posted, so their values stay for when the box is ticked again; a field the server sent back
 * with an error always shows, so the error can be read and fixed. */
(function () {
  "use strict";

  var dependents = Array.prototype.slice.call(document.querySelectorAll("[data-shown-by]"));

  function toggleOf(element) {
    return document.getElementById(element.getAttribute("data-shown-by"));
  }

  function shown(element) {
    var toggle = toggleOf(element);
    if (!toggle) return true;
    // A box inside a hidden field counts as unticked: the allowed addresses hide with provisioning.
    var holder = toggle.closest("[data-shown-by]");
    return toggle.checked && !(holder && holder.hidden);
  }

  function update() {
    // In page order, so a box's own holder is settled before the fields that box shows.
    dependents.forEach(function (element) {
      var hasError = element.querySelector(".errorlist, [aria-invalid=true]") !== null;
      element.hidden = !shown(element) && !hasError;
    });
  }

  dependents.forEach(function (element) {
    var toggle = toggleOf(element);
    if (toggle) toggle.addEventListener("change", update);
  });
  update();
})();
