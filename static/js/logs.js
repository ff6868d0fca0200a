/* Live device events: the Logs tab and the device page.
 *
 * Protocol (devices/consumers.py): on open the server sends {"kind": "recent", "events": [...]}
 * (oldest first), then {"kind": "event", "event": {...}} for each new event. Close code 4401:
 * not logged in; 4404: no such connector for this user. Other closes reconnect with back-off.
 */
(function () {
  "use strict";

  var MAX_ROWS = 1000;
  var MESSAGES = {
    4401: "Disconnected: your session has ended. Log in again to see live events.",
    4404: "This connector's events are not available to you.",
  };

  function pad(n, width) {
    var s = String(n);
    while (s.length < (width || 2)) s = "0" + s;
    return s;
  }

  function formatTime(us) {
    if (typeof us !== "number") return { text: "—", iso: "" };
    var d = new Date(Math.floor(us / 1000));
    var text = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + "." + pad(d.getMilliseconds(), 3);
    return { text: text, iso: d.toISOString() };
  }

  /* A value as people read it: text as is (no quotes), numbers and true/false as they are, an
   * absent value as a dash (never "null"), and only a nested object or list as compact JSON. */
  function valueText(value) {
    if (value === null || value === undefined || value === "") return "—";
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  function valuesText(values) {
    if (!values || typeof values !== "object") return "";
    return Object.keys(values).map(function (alias) { return alias + "=" + valueText(values[alias]); }).join("\n");
  }

  var LONG_LINE = 400;

  /* A very long value (a 64 KB string resource) is cut in the row; the raw JSON has it whole. */
  function clip(text) {
    return text.split("\n").map(function (line) {
      return line.length > LONG_LINE ? line.slice(0, LONG_LINE) + "… (" + (line.length - LONG_LINE).toLocaleString("en") + " more characters)" : line;
    }).join("\n");
  }

  function isNested(value) {
    return value !== null && typeof value === "object";
  }

  /* Whether the readable lines leave something out (nested objects or lists, cut lines): only
   * then does the row offer the raw JSON. */
  function needsRaw(payload, readable) {
    if (!isNested(payload)) return false;
    if (readable.indexOf("more characters)") !== -1) return true;
    var points = Array.isArray(payload) ? payload : [payload];
    return points.some(function (point) {
      if (!isNested(point)) return false;
      return Object.keys(point).some(function (key) {
        var value = point[key];
        if (key === "values" && isNested(value)) return Object.keys(value).some(function (alias) { return isNested(value[alias]); });
        if (key === "aliases" && Array.isArray(value)) return false;
        return isNested(value);
      });
    });
  }

  /* A short, readable line (or lines) for each payload shape the platform emits. */
  function readablePayload(event) {
    var payload = event.payload;
    if (payload === null || payload === undefined || payload === "") return "";
    if (Array.isArray(payload)) {
      return payload.map(function (point) {
        if (point && typeof point === "object" && point.values) {
          var text = valuesText(point.values);
          if (event.type === "record" && typeof point.timestamp === "number") {
            return "@" + formatTime(point.timestamp).text + " " + text.replace(/\n/g, " ");
          }
          return text;
        }
        return valueText(point);
      }).join("\n");
    }
    if (typeof payload === "object") {
      var lines = [];
      if (payload.reason) lines.push(String(payload.reason) + (payload.message && payload.message !== payload.reason ? ": " + payload.message : ""));
      else if (payload.message) lines.push(String(payload.message));
      if (payload.values) lines.push(valuesText(payload.values));
      if (Array.isArray(payload.aliases)) lines.push("aliases: " + payload.aliases.join(", "));
      Object.keys(payload).forEach(function (key) {
        if (["reason", "message", "values", "aliases"].indexOf(key) === -1) {
          lines.push(key + ": " + valueText(payload[key]));
        }
      });
      return lines.join("\n");
    }
    return String(payload);
  }

  function cell(row, text, className) {
    var td = document.createElement("td");
    if (className) td.className = className;
    if (text instanceof Node) td.appendChild(text); else td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function EventLog(root) {
    this.root = root;
    this.rows = root.querySelector("[data-log-rows]");
    this.empty = root.querySelector("[data-log-empty]");
    this.status = root.querySelector("[data-log-status]");
    this.identityInput = root.querySelector("[data-log-identity]");
    this.typeSelect = root.querySelector("[data-log-type]");
    this.pauseButton = root.querySelector("[data-log-pause]");
    this.clearButton = root.querySelector("[data-log-clear]");
    this.deviceBase = root.getAttribute("data-device-base");
    this.compact = !this.identityInput;
    this.paused = false;
    this.held = [];
    this.retry = 0;
    this.seen = 0;
    this.bind();
    this.connect();
  }

  EventLog.prototype.bind = function () {
    var self = this;
    if (this.identityInput) this.identityInput.addEventListener("input", function () { self.applyFilter(); });
    this.typeSelect.addEventListener("change", function () { self.applyFilter(); });
    this.pauseButton.addEventListener("click", function () { self.togglePause(); });
    this.clearButton.addEventListener("click", function () {
      self.rows.textContent = "";
      self.held = [];
      self.updateEmpty();
      if (self.state === "open") self.setStatus("open", self.paused ? "Paused" : "Live");
    });
  };

  EventLog.prototype.setStatus = function (state, text) {
    this.state = state;
    this.status.setAttribute("data-state", state);
    this.status.textContent = text;
  };

  EventLog.prototype.connect = function () {
    var self = this;
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket;
    try {
      socket = new WebSocket(scheme + window.location.host + this.root.getAttribute("data-ws-path"));
    } catch (error) {
      this.setStatus("closed", "Live events are not available in this browser.");
      return;
    }
    this.socket = socket;
    socket.onopen = function () {
      self.retry = 0;
      self.setStatus("open", self.paused ? "Paused" : "Live");
    };
    socket.onmessage = function (message) {
      var data;
      try { data = JSON.parse(message.data); } catch (error) { return; }
      if (data.kind === "recent" && Array.isArray(data.events)) {
        // A reconnect sends the buffer again: start over rather than show events twice.
        self.rows.textContent = "";
        self.held = [];
        data.events.forEach(function (event) { self.receive(event); });
      } else if (data.kind === "event" && data.event) {
        self.receive(data.event);
      }
    };
    socket.onclose = function (closed) {
      if (MESSAGES[closed.code]) {
        self.setStatus("refused", MESSAGES[closed.code]);
        return;
      }
      var delay = Math.min(30, Math.pow(2, self.retry++));
      self.setStatus("closed", "Disconnected; reconnecting in " + delay + " s…");
      window.setTimeout(function () { self.connect(); }, delay * 1000);
    };
  };

  EventLog.prototype.receive = function (event) {
    this.seen++;
    if (this.paused) {
      this.held.push(event);
      this.setStatus("open", "Paused (" + this.held.length + " new)");
      return;
    }
    this.add(event);
  };

  EventLog.prototype.togglePause = function () {
    this.paused = !this.paused;
    this.pauseButton.setAttribute("aria-pressed", this.paused ? "true" : "false");
    this.pauseButton.textContent = this.paused ? "Resume" : "Pause";
    if (!this.paused) {
      var held = this.held;
      this.held = [];
      for (var i = 0; i < held.length; i++) this.add(held[i]);
    }
    if (this.state === "open") this.setStatus("open", this.paused ? "Paused" : "Live");
  };

  EventLog.prototype.matches = function (row) {
    var wantedType = this.typeSelect.value;
    var wantedIdentity = this.identityInput ? this.identityInput.value.trim().toLowerCase() : "";
    if (wantedType && row.getAttribute("data-type") !== wantedType) return false;
    if (wantedIdentity && row.getAttribute("data-identity").toLowerCase().indexOf(wantedIdentity) === -1) return false;
    return true;
  };

  EventLog.prototype.applyFilter = function () {
    var rows = this.rows.children;
    for (var i = 0; i < rows.length; i++) rows[i].hidden = !this.matches(rows[i]);
    this.updateEmpty();
  };

  EventLog.prototype.updateEmpty = function () {
    var visible = false;
    var rows = this.rows.children;
    for (var i = 0; i < rows.length && !visible; i++) visible = !rows[i].hidden;
    this.empty.hidden = visible;
    if (!visible && rows.length) this.empty.textContent = "No events match the filter.";
  };

  EventLog.prototype.add = function (event) {
    var row = document.createElement("tr");
    var type = String(event.type || "");
    var identity = String(event.identity || "");
    row.setAttribute("data-type", type);
    row.setAttribute("data-identity", identity);
    row.className = "event";

    var when = formatTime(event.timestamp);
    var time = document.createElement("time");
    time.textContent = when.text;
    if (when.iso) time.setAttribute("datetime", when.iso);
    cell(row, time, "nowrap");

    var badge = document.createElement("span");
    badge.className = "event-type";
    badge.setAttribute("data-type", type);
    badge.textContent = type;
    cell(row, badge);

    if (!this.compact) {
      if (identity && this.deviceBase) {
        var link = document.createElement("a");
        link.href = this.deviceBase + encodeURIComponent(identity) + "/";
        link.textContent = identity;
        cell(row, link, "mono");
      } else {
        cell(row, identity || "—", "mono");
      }
    }
    cell(row, event.ip || "—", "mono nowrap");
    cell(row, event.protocol || "—");

    var payloadCell = cell(row, "");
    var readable = clip(readablePayload(event));
    if (readable) {
      var pre = document.createElement("pre");
      pre.className = "payload";
      pre.textContent = readable;
      payloadCell.appendChild(pre);
    }
    if (needsRaw(event.payload, readable)) {
      var details = document.createElement("details");
      var summary = document.createElement("summary");
      summary.textContent = "Raw JSON";
      var raw = document.createElement("pre");
      raw.className = "payload";
      raw.textContent = JSON.stringify(event.payload, null, 2);
      details.appendChild(summary);
      details.appendChild(raw);
      payloadCell.appendChild(details);
    }

    row.hidden = !this.matches(row);
    this.rows.insertBefore(row, this.rows.firstChild);
    while (this.rows.children.length > MAX_ROWS) this.rows.removeChild(this.rows.lastChild);
    this.updateEmpty();
  };

  document.querySelectorAll("[data-event-log]").forEach(function (root) { root.eventLog = new EventLog(root); });
})();
