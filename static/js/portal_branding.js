/* The Portal tab: colour pickers beside the colour fields, and the landing page's preview
   reloaded (debounced) as the branding form changes. Without this script the text fields and
   the "Preview" button do the same. */
(function () {
  "use strict";

  var COLOUR = /^#[0-9a-fA-F]{6}$/;

  function addPicker(text) {
    if (text.disabled) return;
    var picker = document.createElement("input");
    picker.type = "color";
    picker.className = "colour-picker";
    var label = document.querySelector('label[for="' + text.id + '"]');
    picker.setAttribute("aria-label", (label ? label.textContent : "Colour") + " picker");
    if (COLOUR.test(text.value)) picker.value = text.value.toLowerCase();
    picker.addEventListener("input", function () {
      text.value = picker.value.toUpperCase();
      text.dispatchEvent(new Event("input", { bubbles: true }));
    });
    text.addEventListener("input", function () {
      if (COLOUR.test(text.value.trim())) picker.value = text.value.trim().toLowerCase();
    });
    text.insertAdjacentElement("afterend", picker);
  }

  function previewQuery(form) {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, key) {
      if (key !== "csrfmiddlewaretoken") params.append(key, value);
    });
    return params.toString();
  }

  function start() {
    var form = document.getElementById("branding-form");
    if (!form) return;
    form.querySelectorAll("input[data-colour]").forEach(addPicker);
    var frame = document.querySelector(form.getAttribute("data-preview"));
    var url = form.getAttribute("data-preview-url");
    if (!frame || !url) return;
    var timer = null;
    var last = null;
    function reload() {
      var query = previewQuery(form);
      if (query === last) return;
      last = query;
      frame.src = url + "?" + query;
    }
    function schedule() {
      window.clearTimeout(timer);
      timer = window.setTimeout(reload, 400);
    }
    form.addEventListener("input", schedule);
    form.addEventListener("change", schedule);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
