/* The Integration tab's last-sync panel, kept live while a run is queued or under way.
 *
 * The page renders the latest run (data-job-id, data-job-state); while it is not over, its
 * progress comes from window.Murano.followJob (site.js: the websocket /ws/jobs/<id>/, else
 * polling /api/v1/jobs/<id>/), as the CSV import's does. The bar shows done of total (the
 * assets listed so far), the counts follow, and once the run is over the per-asset errors are
 * read from the API and listed. Without JavaScript the page shows the run as it was when loaded.
 */
(function () {
  "use strict";

  var panel = document.querySelector("[data-sync-progress]");
  if (!panel || !window.Murano) return;
  var bar = panel.querySelector("progress");
  var text = panel.querySelector("[data-sync-text]");
  var state = panel.querySelector("[data-sync-state]");
  var detail = panel.querySelector("[data-sync-detail]");
  var errorsBox = panel.querySelector("[data-sync-errors]");
  var button = document.querySelector("[data-sync-button]");
  var STATES = { queued: "Queued", running: "Running", finished: "Finished", failed: "Failed" };

  function setTime(name, value) {
    var cell = panel.querySelector("[data-sync-" + name + "]");
    if (!cell) return;
    cell.textContent = "";
    if (!value) { cell.textContent = "—"; return; }
    var time = document.createElement("time");
    time.dateTime = value;
    var date = new Date(value);
    // As the page writes times: UTC, "YYYY-MM-DD HH:MM:SS".
    time.textContent = isNaN(date.getTime()) ? value : date.toISOString().slice(0, 19).replace("T", " ");
    cell.appendChild(time);
  }

  function setCount(name, value) {
    var cell = panel.querySelector("[data-count=" + name + "]");
    if (cell) cell.textContent = String(value || 0);
  }

  function renderErrors(job) {
    var errors = Array.isArray(job.errors) ? job.errors : [];
    errorsBox.textContent = "";
    if (!errors.length) return;
    var heading = document.createElement("h4");
    heading.textContent = "Assets with errors";
    errorsBox.appendChild(heading);
    var wrap = document.createElement("div");
    wrap.className = "table-wrap";
    var table = document.createElement("table");
    table.className = "data";
    table.id = "sync-errors";
    var head = table.createTHead().insertRow();
    ["Asset", "Reason"].forEach(function (label) {
      var th = document.createElement("th");
      th.scope = "col";
      th.textContent = label;
      head.appendChild(th);
    });
    var body = table.createTBody();
    errors.forEach(function (error) {
      var row = body.insertRow();
      var asset = row.insertCell();
      asset.className = "mono";
      asset.textContent = String((error && (error.asset || error.identity)) || "");
      row.insertCell().textContent = String((error && error.reason) || "");
    });
    wrap.appendChild(table);
    errorsBox.appendChild(wrap);
    var count = typeof job.error_count === "number" ? job.error_count : errors.length;
    if (count > errors.length) {
      var more = document.createElement("p");
      more.className = "muted";
      more.textContent = "Only the first " + errors.length + " errors are listed.";
      errorsBox.appendChild(more);
    }
  }

  function render(job) {
    var total = typeof job.total === "number" && job.total > 0 ? job.total : 0;
    var done = typeof job.done === "number" ? job.done : 0;
    var over = window.Murano.jobIsFinal(job);
    bar.max = total || 1;
    bar.value = total ? Math.min(done, total) : (over ? 1 : 0);
    var percent = total ? Math.floor((100 * Math.min(done, total)) / total) : (over ? 100 : 0);
    bar.setAttribute("aria-valuetext", percent + "%");
    text.textContent = typeof job.total === "number" ? done + " of " + job.total + " assets" : done + " assets so far";
    state.textContent = STATES[job.state] || job.state || "";
    state.className = "badge integration-run integration-run-" + (job.state || "");
    panel.setAttribute("data-job-state", job.state || "");
    if (detail) detail.textContent = job.detail || "";
    setCount("assets", typeof job.total === "number" ? job.total : done);
    ["created", "updated", "unchanged", "error_count"].forEach(function (name) { setCount(name, job[name]); });
    if (job.started_at !== undefined) setTime("started", job.started_at);
    if (job.finished_at !== undefined) setTime("finished", job.finished_at);
    if (over) {
      if (Array.isArray(job.errors)) renderErrors(job);
      if (button) button.disabled = false;
    }
  }

  var job = { id: panel.getAttribute("data-job-id"), state: panel.getAttribute("data-job-state") };
  if (window.Murano.jobIsFinal(job)) return;
  // Pushes carry the counts; the run's errors are read from the API once it is over.
  window.Murano.followJob(job, {
    render: function (current) { if (current.total !== undefined || current.done !== undefined) render(current); },
    finalFromApi: function (pushed) { return !Array.isArray(pushed.errors); }
  });
})();
