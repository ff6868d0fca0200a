/* The Content tab's upload, with a progress bar.
 *
 * The file goes to the management API (POST <data-upload-url>, multipart id/file/description/
 * content_type; session cookie + CSRF header), which answers the stored item (201 new, 200
 * replaced) or an error ({"detail"} or {"field": [...]}); the page then reloads its list. The
 * request itself is window.Murano.uploadWithProgress (site.js). Without this script the form
 * posts to the page itself.
 *
 * The reload would lose the success message, so it is kept in sessionStorage and shown after it
 * the way the page shows its own messages (the form without JavaScript gets the same words from
 * the server). Sizes are written like the pages write them (core/sizes.py: "1.2 MB", "64 MB").
 */
(function () {
  "use strict";

  var FLASH_KEY = "murano.content-upload-message";

  /* The message of the upload that reloaded this page, shown as the page's own messages. */
  function showFlash() {
    var text;
    try {
      text = window.sessionStorage.getItem(FLASH_KEY);
      window.sessionStorage.removeItem(FLASH_KEY);
    } catch (error) { return; }
    var main = document.getElementById("main");
    if (!text || !main) return;
    var list = main.querySelector(".messages");
    if (!list) {
      list = document.createElement("ul");
      list.className = "messages";
      list.setAttribute("role", "status");
      main.insertBefore(list, main.firstChild);
    }
    var item = document.createElement("li");
    item.className = "message message-success";
    item.textContent = text;
    list.appendChild(item);
  }

  showFlash();

  var form = document.querySelector("[data-content-upload]");
  if (!form || !window.FormData || !window.XMLHttpRequest || !window.Murano) return;
  var fileInput = form.querySelector("input[type=file]");
  var submit = form.querySelector("button[type=submit]");
  var panel = form.querySelector("[data-upload-progress]");
  var bar = panel.querySelector("progress");
  var text = panel.querySelector("[data-upload-text]");
  var errorBox = form.querySelector("[data-upload-error]");
  var maxBytes = parseInt(form.getAttribute("data-max-bytes"), 10);
  var maxSize = form.getAttribute("data-max-size");

  /* core/sizes.py's size_text: bytes under 1 KB, else one decimal (dropped when zero). */
  function formatSize(bytes) {
    if (bytes < 1024) return bytes === 1 ? "1 byte" : bytes.toLocaleString("en") + " bytes";
    var units = ["KB", "MB", "GB", "TB"];
    var value = bytes / 1024;
    var unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
    var text = value.toFixed(1);
    if (text === "1024.0" && unit < units.length - 1) return "1 " + units[unit + 1];
    return text.replace(/\.0$/, "") + " " + units[unit];
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
    if (file.size > maxBytes) { showError("The file is too large: content items must be smaller than " + maxSize + "."); return; }
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
        413: "The file is too large: content items must be smaller than " + maxSize + ".",
        network: "The upload was interrupted. Check the connection and try again."
      },
      onProgress: function (loaded, total) {
        bar.value = loaded / total;
        text.textContent = formatSize(loaded) + " of " + formatSize(total) + " (" + Math.round(100 * loaded / total) + "%)";
      },
      onSuccess: function (body, status) {
        bar.value = 1;
        // The server's words for the form without JavaScript (connectors/views_content.py).
        var message = "\u201c" + (body && body.id ? body.id : file.name) + "\u201d" + (status === 201 ? " uploaded." : " replaced.");
        text.textContent = message;
        try { window.sessionStorage.setItem(FLASH_KEY, message); } catch (error) { /* shown until the reload only */ }
        window.location.reload();
      },
      onError: showError
    });
  });
})();
