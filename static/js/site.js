/* Small behaviours shared by every page: copy buttons, dialogs, self-submitting selects; and
 * window.Murano.uploadWithProgress for the page scripts (loaded after this one, also deferred).
 * Pages work without it; it only adds convenience. */
(function () {
  "use strict";

  /* Words for a refused upload: the API's {"detail"} or {"field": [...]} answer, else the
   * page's own words for the status (messages[status]), else the status itself. */
  function uploadMessage(status, body, messages) {
    if (body && typeof body === "object") {
      if (typeof body.detail === "string") return body.detail;
      var parts = [];
      Object.keys(body).forEach(function (key) {
        var value = body[key];
        parts.push((key === "file" ? "" : key + ": ") + (Array.isArray(value) ? value.join(" ") : String(value)));
      });
      if (parts.length) return parts.join(" ");
    }
    if (messages && messages[status]) return messages[status];
    return "The upload failed (HTTP " + status + "). Please try again.";
  }

  /* POST options.file (multipart "file", plus the non-empty options.fields) to options.url with
   * the CSRF token of options.form, asking for JSON. While it uploads, options.panel is shown,
   * options.submit disabled and options.text says "Uploading <name>…"; options.onProgress(loaded,
   * total) follows the upload when its size is known. A 2xx answer whose JSON body passes
   * options.accept(body) (if given) goes to options.onSuccess(body, status); anything else hides
   * the panel, enables the button again and hands options.onError the reason in words
   * (options.messages: {status: words} for answers without a body, and "network" when the
   * request did not complete). */
  function uploadWithProgress(options) {
    var data = new FormData();
    data.append("file", options.file, options.file.name);
    Object.keys(options.fields || {}).forEach(function (name) {
      if (options.fields[name] !== "") data.append(name, options.fields[name]);
    });
    var token = options.form.querySelector("input[name=csrfmiddlewaretoken]");
    var request = new XMLHttpRequest();
    request.open("POST", options.url);
    request.setRequestHeader("X-CSRFToken", token ? token.value : "");
    request.setRequestHeader("Accept", "application/json");
    options.panel.hidden = false;
    options.submit.disabled = true;
    options.text.textContent = "Uploading " + options.file.name + "…";
    function fail(message) {
      options.panel.hidden = true;
      options.submit.disabled = false;
      options.onError(message);
    }
    request.upload.addEventListener("progress", function (progress) {
      if (progress.lengthComputable && options.onProgress) options.onProgress(progress.loaded, progress.total);
    });
    request.addEventListener("load", function () {
      var body = null;
      try { body = JSON.parse(request.responseText); } catch (error) { body = null; }
      var ok = request.status >= 200 && request.status < 300 && (!options.accept || options.accept(body));
      if (ok) options.onSuccess(body, request.status);
      else fail(uploadMessage(request.status, body, options.messages));
    });
    request.addEventListener("error", function () {
      fail((options.messages && options.messages.network) || "The upload did not reach the server. Check your connection and try again.");
    });
    request.send(data);
    return request;
  }

  var FINAL_JOB_STATES = { finished: true, failed: true };

  function fetchJob(jobId) {
    return fetch("/api/v1/jobs/" + encodeURIComponent(jobId) + "/", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); });
  }

  /* Follow a background job (a CSV import, a claim code generation) until it ends:
   * options.render(job) at every step. Progress comes over the websocket /ws/jobs/<id>/
   * ({"kind": "job", "job": {...}}); if websockets fail, the job is polled every second
   * instead. options.finalFromApi: the final state is read once more from the API (pushes
   * carry counts only; an import's refused rows are read from there). */
  function followJob(job, options) {
    var render = options.render;
    render(job);
    if (FINAL_JOB_STATES[job.state]) return;
    var finished = false;
    var fellBack = false;
    function poll() {
      fetchJob(job.id).then(function (current) {
        render(current);
        if (!FINAL_JOB_STATES[current.state]) window.setTimeout(poll, 1000);
      }, function () {
        window.setTimeout(poll, 2000);
      });
    }
    function fallBack() {
      if (finished || fellBack) return;
      fellBack = true;
      poll();
    }
    var socket;
    try {
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      socket = new WebSocket(scheme + window.location.host + "/ws/jobs/" + encodeURIComponent(job.id) + "/");
    } catch (error) {
      fallBack();
      return;
    }
    socket.onmessage = function (message) {
      var data;
      try { data = JSON.parse(message.data); } catch (error) { return; }
      if (data.kind !== "job" || !data.job) return;
      if (FINAL_JOB_STATES[data.job.state]) {
        finished = true;
        socket.close();
        if (options.finalFromApi && options.finalFromApi(data.job)) {
          fetchJob(job.id).then(render, function () { render(data.job); });
          return;
        }
      }
      render(data.job);
    };
    socket.onerror = fallBack;
    socket.onclose = fallBack;
  }

  window.Murano = window.Murano || {};
  window.Murano.uploadWithProgress = uploadWithProgress;
  window.Murano.followJob = followJob;
  window.Murano.jobIsFinal = function (job) { return Boolean(FINAL_JOB_STATES[job.state]); };

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
