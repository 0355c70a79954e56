// slipway's own script: live pages over server-sent events, the branch
// filter, and the log viewer. Text from the server is only ever inserted as
// text (textContent); HTML comes only from slipway's own templates, rendered
// and escaped on the server.
"use strict";

(function () {
  // --- Branches view ---------------------------------------------------
  function rowsOf(body) {
    return Array.prototype.slice.call(body.querySelectorAll("tr.branch"));
  }

  function applyFilter() {
    const input = document.getElementById("branch-filter");
    const body = document.getElementById("branch-rows");
    if (!input || !body) return;
    const needle = input.value.trim().toLowerCase();
    rowsOf(body).forEach(function (row) {
      const name = (row.dataset.name || "").toLowerCase();
      row.hidden = needle !== "" && name.indexOf(needle) === -1;
    });
  }

  // Production first, then by newest build (data-order, highest first).
  function sortRows(body) {
    const rows = rowsOf(body);
    rows.sort(function (a, b) {
      const x = BigInt(a.dataset.order || "0");
      const y = BigInt(b.dataset.order || "0");
      if (x === y) return (a.dataset.name || "").localeCompare(b.dataset.name || "");
      return x > y ? -1 : 1;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }

  function rowFromHtml(html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content;
  }

  function liveBranches() {
    const table = document.getElementById("branches");
    const body = document.getElementById("branch-rows");
    if (!table || !body) return;
    const source = new EventSource(table.dataset.events);
    source.addEventListener("row", function (event) {
      const update = JSON.parse(event.data);
      const fresh = rowFromHtml(update.html);
      const old = document.getElementById("branch-" + update.id);
      if (old) old.replaceWith(fresh); else body.appendChild(fresh);
      const row = document.getElementById("branch-" + update.id);
      if (row && window.htmx) window.htmx.process(row);
      sortRows(body);
      applyFilter();
    });
    source.addEventListener("rows", function (event) {
      body.replaceChildren(rowFromHtml(JSON.parse(event.data)));
      if (window.htmx) window.htmx.process(body);
      sortRows(body);
      applyFilter();
    });
    source.addEventListener("gone", function (event) {
      const old = document.getElementById("branch-" + JSON.parse(event.data).id);
      if (old) old.remove();
    });
    const input = document.getElementById("branch-filter");
    if (input) {
      input.value = new URLSearchParams(location.search).get("q") || "";
      input.addEventListener("input", applyFilter);
      applyFilter();
    }
  }

  // --- Build page: live status ------------------------------------------
  function liveBuild() {
    const status = document.getElementById("build-status");
    if (!status) return;
    const source = new EventSource(status.dataset.events);
    source.addEventListener("status", function (event) {
      const openDetails = Array.prototype.map.call(
        status.querySelectorAll("details[open]"), function (d) { return d.className; });
      status.replaceChildren(rowFromHtml(JSON.parse(event.data)));
      status.querySelectorAll("details").forEach(function (d) {
        if (openDetails.indexOf(d.className) !== -1) d.open = true;
      });
      if (window.htmx) window.htmx.process(status);
      document.dispatchEvent(new CustomEvent("slipway:status"));
    });
  }

  // --- Logs --------------------------------------------------------------
  const LEVEL = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \d+ (ERROR|CRITICAL|WARNING) /;
  // Lines kept on screen at most; the whole file is a link away.
  const MAX_LINES = 20000;

  function logViewer() {
    const pre = document.getElementById("log");
    if (!pre) return;
    const tabs = Array.prototype.slice.call(document.querySelectorAll(".log-tab"));
    const follow = document.getElementById("log-follow");
    const raw = document.getElementById("log-raw");
    const state = document.getElementById("log-state");
    let source = null;
    let partial = null; // the last line, while it has no newline yet
    let lineClass = "";

    function appendText(text) {
      const atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
      const parts = text.split("\n");
      parts.forEach(function (part, index) {
        const last = index === parts.length - 1;
        if (partial) {
          partial.textContent += part;
        } else if (part !== "" || !last) {
          const match = LEVEL.exec(part);
          // A traceback's lines belong to the record before.
          if (match) lineClass = match[1].toLowerCase();
          else if (/^\d{4}-\d\d-\d\d /.test(part)) lineClass = "";
          partial = document.createElement("span");
          if (lineClass) partial.className = lineClass;
          partial.textContent = part;
          pre.appendChild(partial);
        }
        if (!last) {
          if (partial) partial.textContent += "\n";
          partial = null;
        }
      });
      while (pre.childNodes.length > MAX_LINES) pre.removeChild(pre.firstChild);
      if (follow && follow.checked && atBottom) pre.scrollTop = pre.scrollHeight;
    }

    function open(tab) {
      if (source) source.close();
      tabs.forEach(function (t) { t.setAttribute("aria-selected", t === tab ? "true" : "false"); });
      pre.replaceChildren();
      partial = null;
      lineClass = "";
      const base = tab.dataset.log;
      if (raw) raw.href = base;
      state.textContent = "connecting…";
      // EventSource reconnects by itself and sends the last event id (the
      // byte offset): the log resumes where it stopped.
      source = new EventSource(base + "/tail");
      source.addEventListener("open", function () { state.textContent = "live"; });
      source.addEventListener("error", function () { state.textContent = "reconnecting…"; });
      source.addEventListener("skipped", function (event) {
        const skipped = JSON.parse(event.data).bytes;
        const note = document.createElement("span");
        note.className = "skipped";
        note.textContent = "… " + skipped + " earlier bytes: see the whole file\n";
        pre.appendChild(note);
      });
      source.addEventListener("chunk", function (event) {
        appendText(JSON.parse(event.data).text);
      });
      source.addEventListener("end", function () {
        state.textContent = "complete";
        source.close();
      });
    }

    tabs.forEach(function (tab) {
      tab.addEventListener("click", function () { open(tab); });
    });
    // The tab of the file written last is the interesting one.
    if (tabs.length) open(tabs[tabs.length - 1]);
  }

  document.addEventListener("DOMContentLoaded", function () {
    liveBranches();
    liveBuild();
    logViewer();
  });
})();
