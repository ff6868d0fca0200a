/* The Devices tab's bulk actions: tick rows (or the header box for the whole page, then "select
 * all N matching the filter"), pick an action, apply.
 *
 * Without this script the form still works: the ticked rows are posted and the page comes back
 * with a message. With it: the tag fields show only for the tag actions, deleting and revoking
 * ask first in a dialog saying how many devices, and "all matching" is posted for JSON
 * (Accept: application/json), which answers a job (202) whose progress is followed as the CSV
 * import's is (window.Murano.followJob, site.js).
 */
(function () {
  "use strict";

  var form = document.querySelector("[data-bulk-form]");
  if (!form || !window.Murano) return;
  var rows = Array.prototype.slice.call(document.querySelectorAll("input[data-bulk-row]"));
  var pageBox = document.querySelector("[data-bulk-page]");
  var selection = form.querySelector("[data-bulk-selection]");
  var selectAll = form.querySelector("[data-bulk-select-all]");
  var allInput = form.querySelector("[data-bulk-all]");
  var action = form.querySelector("[data-bulk-action]");
  var tagFields = form.querySelector("[data-bulk-tag]");
  var apply = form.querySelector("[data-bulk-apply]");
  var confirmDialog = document.getElementById("bulk-confirm");
  var confirmText = confirmDialog.querySelector("[data-bulk-confirm-text]");
  var confirmYes = confirmDialog.querySelector("[data-bulk-confirm-yes]");
  var panel = document.querySelector("[data-bulk-progress]");
  var bar = panel.querySelector("progress");
  var text = panel.querySelector("[data-bulk-text]");
  var done = panel.querySelector("[data-bulk-done]");

  var matching = form.hasAttribute("data-matching") ? Number(form.getAttribute("data-matching")) : null;
  var matchingText = form.getAttribute("data-matching-text");
  var more = form.hasAttribute("data-more") || (matching !== null && matching > rows.length);
  var VERBS = { lock: "Locking", unlock: "Unlocking", revoke: "Revoking", "delete": "Deleting", tag_add: "Tagging", tag_remove: "Untagging" };

  function number(n) { return Number(n || 0).toLocaleString("en-US"); }
  function devices(n) { return number(n) + " device" + (n === 1 ? "" : "s"); }
  function ticked() { return rows.filter(function (box) { return box.checked; }); }
  function everything() { return allInput.value === "1"; }

  function howMany() {
    // What the confirmation says: a number, or "every matching device" when it is unknown.
    if (!everything()) return devices(ticked().length);
    return matchingText ? "all " + matchingText + " matching devices" : "every matching device";
  }

  function refresh() {
    var count = ticked().length;
    if (count < rows.length) allInput.value = "0";
    pageBox.checked = count > 0 && count === rows.length;
    pageBox.indeterminate = count > 0 && count < rows.length;
    if (everything()) {
      selection.textContent = (matchingText ? "All " + matchingText : "All") + " devices matching the filter are selected.";
      selectAll.textContent = "Select this page only";
      selectAll.hidden = false;
    } else {
      selection.textContent = count ? devices(count) + " selected." : "Tick devices to change them together.";
      selectAll.textContent = matchingText ? "Select all " + matchingText + " devices matching the filter" : "Select all devices matching the filter";
      selectAll.hidden = !(more && count === rows.length);
    }
    apply.disabled = count === 0;
  }

  function showTagFields() {
    var tagging = action.value === "tag_add" || action.value === "tag_remove";
    tagFields.hidden = !tagging;
    tagFields.querySelectorAll("input").forEach(function (input) { input.disabled = !tagging; });
  }

  pageBox.hidden = false;
  pageBox.addEventListener("change", function () {
    rows.forEach(function (box) { box.checked = pageBox.checked; });
    refresh();
  });
  rows.forEach(function (box) { box.addEventListener("change", refresh); });
  selectAll.addEventListener("click", function () {
    allInput.value = everything() ? "0" : "1";
    refresh();
  });
  action.addEventListener("change", showTagFields);
  showTagFields();
  refresh();

  function render(job) {
    panel.hidden = false;
    var total = typeof job.total === "number" ? job.total : 0;
    bar.max = Math.max(total, 1);
    bar.value = Math.min(job.done || 0, bar.max);
    bar.setAttribute("aria-valuetext", Math.floor((100 * bar.value) / bar.max) + "%");
    if (job.state === "failed") {
      text.textContent = "Stopped: " + (job.detail || "the change failed") + " (" + number(job.done) + " of " + number(total) + " devices handled).";
    } else if (job.state === "finished") {
      text.textContent = "Done: " + devices(job.done) + " handled, " + number(job.updated) + " changed.";
    } else if (job.total === null || job.total === undefined) {
      text.textContent = "Queued…";
    } else {
      text.textContent = (VERBS[action.value] || "Changing") + "… " + number(job.done) + " of " + devices(total);
    }
    panel.setAttribute("data-state", job.state || "");
    if (window.Murano.jobIsFinal(job)) {
      done.hidden = false;
      done.querySelector("a").href = window.location.href;
      apply.disabled = false;
    }
  }

  function startJob() {
    apply.disabled = true;
    panel.hidden = false;
    done.hidden = true;
    bar.removeAttribute("value");
    text.textContent = "Starting…";
    // (Not form.action: the form has a field named "action", which that property returns.)
    fetch(form.getAttribute("action"), {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      body: new FormData(form)
    }).then(function (response) {
      return response.json().then(function (body) { return { status: response.status, body: body }; });
    }).then(function (result) {
      if (result.status !== 202) {
        text.textContent = (result.body && result.body.detail) || "The change was refused.";
        apply.disabled = false;
        return;
      }
      window.Murano.followJob(result.body, { render: render });
    }, function () {
      text.textContent = "The server could not be reached; nothing was changed.";
      apply.disabled = false;
    });
  }

  function proceed() {
    if (everything()) startJob();
    else form.submit();
  }

  confirmYes.addEventListener("click", function () {
    confirmDialog.close();
    proceed();
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!ticked().length) return;
    var what = howMany();
    if (action.value === "delete") {
      confirmText.textContent = "Delete " + what + "? Their state, tags and history go with them; this cannot be undone.";
      confirmYes.textContent = "Delete " + what;
      confirmDialog.showModal();
    } else if (action.value === "revoke") {
      confirmText.textContent = "Revoke the credentials of " + what + "? They stop working at once; the devices may activate again.";
      confirmYes.textContent = "Revoke " + what;
      confirmDialog.showModal();
    } else {
      proceed();
    }
  });
})();
