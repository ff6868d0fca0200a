/* Bulk whitelisting from a CSV file, with a live progress bar and a per-row error report.
 *
 * The file goes to the management API (POST <data-import-url>, multipart "file"; session
 * cookie + CSRF header), which answers a job {id, state, total, done, created, updated,
 * errors[], error_count}. Progress then comes over the websocket /ws/jobs/<id>/ ({"kind":
 * "job", "job": {...}} on open and on every update); if websockets fail, the page polls
 * /api/v1/jobs/<id>/ every second instead. The upload itself is window.Murano.uploadWithProgress
 * (site.js).
 */
(function () {
  "use strict";

  var form = document.querySelector("[data-import-form]");
  if (!form || !window.Murano) return;
  var fileInput = form.querySelector("input[type=file]");
  var submit = form.querySelector("button[type=submit]");
  var panel = document.querySelector("[data-import-progress]");
  var bar = panel.querySelector("progress");
  var text = panel.querySelector("[data-import-text]");
  var report = panel.querySelector("[data-import-report]");
  var errorBox = form.querySelector("[data-import-error]");
  var done = panel.querySelector("[data-import-done]");

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
    if (message) fileInput.setAttribute("aria-invalid", "true"); else fileInput.removeAttribute("aria-invalid");
  }

  function errorParts(error) {
    if (error === null || typeof error !== "object") return { line: "", identity: "", reason: String(error) };
    var line = error.line !== undefined ? error.line : (error.row !== undefined ? error.row : "");
    var identity = error.identity !== undefined ? error.identity : (error.id !== undefined ? error.id : "");
    var reason = error.reason || error.error || error.message || error.detail;
    if (reason && typeof reason === "object") reason = JSON.stringify(reason);
    return { line: String(line), identity: String(identity || ""), reason: String(reason || JSON.stringify(error)) };
  }

  function renderReport(job) {
    report.textContent = "";
    var errors = Array.isArray(job.errors) ? job.errors : [];
    var count = typeof job.error_count === "number" ? job.error_count : errors.length;
    if (!count) return;
    var heading = document.createElement("h3");
    heading.textContent = count === 1 ? "1 row was not imported" : count + " rows were not imported";
    report.appendChild(heading);
    var wrap = document.createElement("div");
    wrap.className = "table-wrap";
    var table = document.createElement("table");
    table.className = "data";
    var head = table.createTHead().insertRow();
    ["Line", "Identity", "Reason"].forEach(function (label) {
      var th = document.createElement("th");
      th.scope = "col";
      th.textContent = label;
      head.appendChild(th);
    });
    var body = table.createTBody();
    errors.forEach(function (error) {
      var parts = errorParts(error);
      var row = body.insertRow();
      row.insertCell().textContent = parts.line;
      var identity = row.insertCell();
      identity.className = "mono";
      identity.textContent = parts.identity;
      row.insertCell().textContent = parts.reason;
    });
    wrap.appendChild(table);
    report.appendChild(wrap);
    if (count > errors.length) {
      var more = document.createElement("p");
      more.className = "muted";
      more.textContent = "Only the first " + errors.length + " errors are listed.";
      report.appendChild(more);
    }
  }

  function render(job) {
    var total = typeof job.total === "number" && job.total > 0 ? job.total : 0;
    var count = typeof job.done === "number" ? job.done : 0;
    bar.max = total || 1;
    bar.value = total ? Math.min(count, total) : (job.state === "finished" ? 1 : 0);
    var percent = total ? Math.floor((100 * Math.min(count, total)) / total) : (job.state === "finished" ? 100 : 0);
    bar.setAttribute("aria-valuetext", percent + "%");
    var summary = (total ? count + " of " + total + " rows" : count + " rows") +
      " · " + (job.created || 0) + " created · " + (job.updated || 0) + " updated · " +
      (job.unchanged || 0) + " unchanged · " + (job.error_count || (job.errors || []).length || 0) + " errors";
    if (job.state === "finished") text.textContent = "Finished: " + summary;
    else if (job.state === "failed") text.textContent = "Failed: " + (job.detail || job.error || summary);
    else text.textContent = (job.state === "queued" || job.state === "pending" ? "Waiting… " : "Importing… ") + summary;
    panel.setAttribute("data-state", job.state || "");
    if (window.Murano.jobIsFinal(job)) {
      renderReport(job);
      done.hidden = false;
      submit.disabled = false;
    }
  }

  function follow(job) {
    // Pushes carry the counts; the refused rows themselves are read from the API once.
    window.Murano.followJob(job, {
      render: render,
      finalFromApi: function (pushed) { return !Array.isArray(pushed.errors); }
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    showError("");
    var file = fileInput.files && fileInput.files[0];
    if (!file) {
      showError("Choose a CSV file first.");
      fileInput.focus();
      return;
    }
    done.hidden = true;
    report.textContent = "";
    bar.removeAttribute("value");
    window.Murano.uploadWithProgress({
      form: form,
      url: form.getAttribute("data-import-url"),
      file: file,
      panel: panel,
      submit: submit,
      text: text,
      messages: { 404: "Bulk import is not available on this server yet.", 413: "The file is too large." },
      onProgress: function (loaded, total) {
        text.textContent = "Uploading " + file.name + "… " + Math.floor((100 * loaded) / total) + "%";
      },
      accept: function (body) { return body && body.id !== undefined; },
      onSuccess: follow,
      onError: showError
    });
  });
})();
