/* A rollout's page, kept live: its counts per status, state and wave, from the management API
 * (GET <data-api-url>) every two seconds while the rollout is running or paused. Statuses are
 * drawn as the server draws them (firmware/templatetags/firmware_tags.py): words and a colour
 * by meaning, both read from the page's #fw-status-words. */
(function () {
  "use strict";

  var root = document.querySelector("[data-rollout]");
  if (!root) return;
  var url = root.getAttribute("data-api-url");
  var words = JSON.parse(document.getElementById("fw-status-words").textContent);

  /* A status badge. Only a device's own *_ERROR reports are missing from the known words, so a
   * status not found there is a failure, shown as reported. */
  function statusBadge(status, count) {
    var known = words.statuses[status] || [status, "failed"];
    var badge = document.createElement("span");
    badge.className = "fw-status fw-status-" + known[1];
    badge.title = status;
    badge.setAttribute("data-status", status);
    badge.textContent = known[0];
    if (count !== undefined) {
      var number = document.createElement("span");
      number.className = "fw-count";
      number.textContent = String(count);
      badge.appendChild(document.createTextNode(" "));
      badge.appendChild(number);
    }
    return badge;
  }

  function cell(text, className) {
    var td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    return td;
  }

  function render(rollout) {
    var state = root.querySelector("[data-rollout-state]");
    var stateWords = words.states[rollout.state] || [rollout.state, "running"];
    state.textContent = stateWords[0];
    state.className = "fw-status fw-status-" + stateWords[1];
    root.querySelector("[data-rollout-reason]").textContent = rollout.state_reason || "";
    root.querySelector("[data-rollout-wave]").textContent = String(rollout.current_wave + 1);
    var body = root.querySelector("[data-rollout-counts]");
    body.textContent = "";
    Object.keys(rollout.counts).sort().forEach(function (status) {
      var row = document.createElement("tr");
      row.appendChild(cell("")).appendChild(statusBadge(status));
      row.appendChild(cell(String(rollout.counts[status])));
      body.appendChild(row);
    });
    var waves = root.querySelector("[data-rollout-waves]");
    if (waves) {
      waves.textContent = "";
      rollout.waves.forEach(function (counts, index) {
        var row = document.createElement("tr");
        row.appendChild(cell(String(index + 1)));
        var td = document.createElement("td");
        Object.keys(counts).sort().forEach(function (status) {
          td.appendChild(statusBadge(status, counts[status]));
          td.appendChild(document.createTextNode(" "));
        });
        row.appendChild(td);
        waves.appendChild(row);
      });
    }
    return rollout.state === "running" || rollout.state === "paused";
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (rollout) {
        if (rollout && !render(rollout)) return; // finished: nothing more will change
        window.setTimeout(poll, 2000);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }

  window.setTimeout(poll, 2000);
})();
