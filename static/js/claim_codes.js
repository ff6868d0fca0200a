/* The claim codes page: print the labels, and generate fresh codes with a live progress bar.
 *
 * "Generate new codes" posts {"generate": true} to the management API (data-generate-url: the
 * page's filters as query parameters; session cookie + CSRF header), which answers a job. Its
 * progress is followed as the CSV import's is (window.Murano.followJob, site.js).
 */
(function () {
  "use strict";

  var printButton = document.querySelector("[data-print]");
  if (printButton) printButton.addEventListener("click", function () { window.print(); });

  var form = document.querySelector("[data-generate-form]");
  if (!form) return;
  var button = form.querySelector("button[type=submit]");
  var panel = document.querySelector("[data-generate-progress]");
  var bar = panel.querySelector("progress");
  var text = panel.querySelector("[data-generate-text]");
  var done = panel.querySelector("[data-generate-done]");

  function render(job) {
    panel.hidden = false;
    var total = typeof job.total === "number" ? job.total : 0;
    bar.max = Math.max(total, 1);
    bar.value = Math.min(job.done || 0, bar.max);
    if (job.state === "failed") {
      text.textContent = "Stopped: " + (job.detail || "the generation failed") + " (" + (job.done || 0) + " of " + total + " devices have new codes).";
    } else if (job.state === "finished") {
      text.textContent = "Done: " + (job.done || 0) + " device" + (job.done === 1 ? "" : "s") + " got a new claim code.";
    } else if (job.total === null || job.total === undefined) {
      text.textContent = "Queued…";
    } else {
      text.textContent = (job.done || 0) + " of " + total + " devices";
    }
    if (window.Murano.jobIsFinal(job)) {
      done.hidden = false;
      done.querySelector("a").href = window.location.href;
      button.disabled = false;
    }
  }

  function follow(job) {
    window.Murano.followJob(job, { render: render });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!window.confirm("Replace the claim codes of every matching device with a new random code? Codes already handed out stop working.")) return;
    var token = form.querySelector("input[name=csrfmiddlewaretoken]");
    button.disabled = true;
    fetch(form.getAttribute("data-generate-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": token ? token.value : "" },
      body: JSON.stringify({ generate: true })
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (result) {
      if (!result.ok) {
        panel.hidden = false;
        var body = result.body || {};
        text.textContent = body.detail || Object.keys(body).map(function (key) { return key + ": " + body[key]; }).join("; ") || "The generation was refused.";
        button.disabled = false;
        return;
      }
      follow(result.body);
    }, function () {
      panel.hidden = false;
      text.textContent = "The server could not be reached; nothing was changed.";
      button.disabled = false;
    });
  });
})();
