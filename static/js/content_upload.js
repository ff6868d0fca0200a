/* The Content tab's upload, with a progress bar.
 *
 * The file goes to the management API (POST <data-upload-url>, multipart id/file/description/
 * content_type; session cookie + CSRF header), which answers the stored item (201 new, 200
 * replaced) or an error ({"detail"} or {"field": [...]}); the page then reloads its list. The
 * request itself is window.Murano.uploadWithProgress (site.js). Without this script the form
 * posts to the page itself.
 */
(function () {
  "use strict";

  var form = document.querySelector("[data-content-upload]");
  if (!form || !window.FormData || !window.XMLHttpRequest || !window.Murano) return;
  var fileInput = form.querySelector("input[type=file]");
  var submit = form.querySelector("button[type=submit]");
  var panel = form.querySelector("[data-upload-progress]");
  var bar = panel.querySelector("progress");
  var text = panel.querySelector("[data-upload-text]");
  var errorBox = form.querySelector("[data-upload-error]");
  var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10);

  function megabytes(bytes) {
    return (bytes / 1048576).toFixed(1) + " MB";
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    showError("");
    var file = fileInput.files && fileInput.files[0];
    if (!file) { showError("Choose a file to upload."); fileInput.focus(); return; }
    if (file.size > maxBytes) { showError("The file is too large: content items must be smaller than 64 MB."); return; }
    var fields = {};
    ["id", "description", "content_type"].forEach(function (name) {
      var input = form.elements[name];
      if (input) fields[name] = input.value;
    });
    bar.value = 0;
    window.Murano.uploadWithProgress({
      form: form,
      url: form.getAttribute("data-upload-url"),
      file: file,
      fields: fields,
      panel: panel,
      submit: submit,
      text: text,
      messages: {
        413: "The file is too large (64 MB or more).",
        network: "The upload was interrupted. Check the connection and try again."
      },
      onProgress: function (loaded, total) {
        bar.value = loaded / total;
        text.textContent = megabytes(loaded) + " of " + megabytes(total) + " (" + Math.round(100 * loaded / total) + "%)";
      },
      onSuccess: function (body, status) {
        bar.value = 1;
        text.textContent = (body && body.id ? body.id : file.name) + (status === 201 ? " uploaded." : " replaced.");
        window.location.reload();
      },
      onError: showError
    });
  });
})();
