/* A rollout's page, kept live: its counts per status, state and wave, from the management API
 * (GET <data-api-url>) every two seconds while the rollout is running or paused. */
(function () {
  "use strict";

  var root = document.querySelector("[data-rollout]");
  if (!root) return;
  var url = root.getAttribute("data-api-url");
  var STATES = { running: "Running", paused: "Paused", completed: "Completed", cancelled: "Cancelled" };

  function cell(text, className) {
    var td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    return td;
  }

  function render(rollout) {
    root.querySelector("[data-rollout-state]").textContent = STATES[rollout.state] || rollout.state;
    root.querySelector("[data-rollout-reason]").textContent = rollout.state_reason || "";
    root.querySelector("[data-rollout-wave]").textContent = String(rollout.current_wave + 1);
    var body = root.querySelector("[data-rollout-counts]");
    body.textContent = "";
    Object.keys(rollout.counts).sort().forEach(function (status) {
      var row = document.createElement("tr");
      row.appendChild(cell(status, "mono"));
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
          var tag = document.createElement("span");
          tag.className = "tag";
          tag.textContent = status + " " + counts[status];
          td.appendChild(tag);
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
