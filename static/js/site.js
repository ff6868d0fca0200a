/* Small behaviours shared by every page: copy buttons, dialogs, self-submitting selects.
 * Pages work without it; it only adds convenience. */
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    // Plain-HTTP pages have no async clipboard: fall back to a selected, hidden textarea.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (error) { ok = false; }
      document.body.removeChild(area);
      if (ok) resolve(); else reject(new Error("copy refused"));
    });
  }

  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var label = button.textContent;
    button.addEventListener("click", function () {
      var source = document.querySelector(button.getAttribute("data-copy"));
      if (!source) return;
      var status = button.parentNode.querySelector("[data-copy-status]");
      copyText(source.textContent.trim()).then(function () {
        button.textContent = button.getAttribute("data-copied-text") || "Copied";
        if (status) status.textContent = "Copied " + source.textContent.trim() + " to the clipboard.";
      }, function () {
        // Let people copy by hand: select the text.
        var range = document.createRange();
        range.selectNodeContents(source);
        var selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        if (status) status.textContent = "Press Ctrl+C to copy.";
      });
      window.setTimeout(function () { button.textContent = label; }, 2000);
    });
  });

  document.querySelectorAll("[data-dialog-open]").forEach(function (button) {
    var dialog = document.querySelector(button.getAttribute("data-dialog-open"));
    if (!dialog || typeof dialog.showModal !== "function") return;
    button.addEventListener("click", function (event) {
      event.preventDefault();
      if (!dialog.open) dialog.showModal();
    });
  });
  document.querySelectorAll("dialog [data-dialog-close]").forEach(function (button) {
    button.addEventListener("click", function () { button.closest("dialog").close(); });
  });
  document.querySelectorAll("dialog[data-open-on-load]").forEach(function (dialog) {
    if (typeof dialog.showModal !== "function") return;
    if (dialog.open) dialog.close(); // open as a page section without JS; modal with it
    dialog.showModal();
    var invalid = dialog.querySelector("[aria-invalid=true]");
    if (invalid) invalid.focus();
  });

  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () {
      var form = select.form;
      if (form) { if (form.requestSubmit) form.requestSubmit(); else form.submit(); }
    });
  });
  document.querySelectorAll("[data-js-hidden]").forEach(function (element) { element.hidden = true; });

  document.querySelectorAll("[data-choice-tabs]").forEach(function (group) {
    var buttons = group.querySelectorAll("[role=tab]");
    function select(button) {
      buttons.forEach(function (other) {
        var selected = other === button;
        other.setAttribute("aria-selected", selected ? "true" : "false");
        other.tabIndex = selected ? 0 : -1;
        document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
      });
    }
    buttons.forEach(function (button, index) {
      button.addEventListener("click", function () { select(button); });
      button.addEventListener("keydown", function (event) {
        var step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
        if (!step) return;
        var next = buttons[(index + step + buttons.length) % buttons.length];
        select(next);
        next.focus();
      });
    });
  });
})();
