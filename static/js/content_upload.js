/* The Content tab's upload, with a progress bar.
 *
 * The file goes to the management API (POST <data-upload-url>, multipart id/file/description/
 * content_type; session cookie + CSRF header), which answers the stored item (201 new, 200
 * replaced) or an error ({"detail"} or {"field": [...]}); the page then reloads its list.
 * Without this script the form posts to the page itself.
 */
(function () {
  "use strict";

  var form = document.querySelector("[data-content-upload]");
  if (!form || !window.FormData || !window.XMLHttpRequest) return;
  var fileInput = form.querySelector("input[type=file]");
  var submit = form.querySelector("button[type=submit]");
  var panel = form.querySelector("[data-upload-progress]");
  var bar = panel.querySelector("progress");
  var text = panel.querySelector("[data-upload-text]");
  var errorBox = form.querySelector("[data-upload-error]");
  var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10);

  function csrfToken() {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function megabytes(bytes) {
    return (bytes / 1048576).toFixed(1) + " MB";
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  function apiMessage(status, body) {
    if (body && typeof body === "object") {
      if (typeof body.detail === "string") return body.detail;
      var parts = [];
      Object.keys(body).forEach(function (key) {
        var value = body[key];
        parts.push((key === "file" ? "" : key + ": ") + (Array.isArray(value) ? value.join(" ") : String(value)));
      });
      if (parts.length) return parts.join(" ");
    }
    if (status === 413) return "The file is too large (64 MB or more).";
    return "The upload failed (HTTP " + status + "). Please try again.";
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    showError("");
    var file = fileInput.files && fileInput.files[0];
    if (!file) { showError("Choose a file to upload."); fileInput.focus(); return; }
    if (file.size > maxBytes) { showError("The file is too large: content items must be smaller than 64 MB."); return; }
    var data = new FormData();
    data.append("file", file, file.name);
    ["id", "description", "content_type"].forEach(function (name) {
      var input = form.elements[name];
      if (input && input.value !== "") data.append(name, input.value);
    });
    var request = new XMLHttpRequest();
    request.open("POST", form.getAttribute("data-upload-url"));
    request.setRequestHeader("X-CSRFToken", csrfToken());
    request.setRequestHeader("Accept", "application/json");
    panel.hidden = false;
    bar.value = 0;
    submit.disabled = true;
    text.textContent = "Uploading " + file.name + "…";
    request.upload.addEventListener("progress", function (progress) {
      if (!progress.lengthComputable) return;
      bar.value = progress.loaded / progress.total;
      text.textContent = megabytes(progress.loaded) + " of " + megabytes(progress.total) + " (" +
        Math.round(100 * progress.loaded / progress.total) + "%)";
    });
    request.addEventListener("load", function () {
      var body = null;
      try { body = JSON.parse(request.responseText); } catch (error) { body = null; }
      if (request.status === 200 || request.status === 201) {
        bar.value = 1;
        text.textContent = (body && body.id ? body.id : file.name) + (request.status === 201 ? " uploaded." : " replaced.");
        window.location.reload();
        return;
      }
      submit.disabled = false;
      panel.hidden = true;
      showError(apiMessage(request.status, body));
    });
    request.addEventListener("error", function () {
      submit.disabled = false;
      panel.hidden = true;
      showError("The upload was interrupted. Check the connection and try again.");
    });
    request.send(data);
  });
})();
