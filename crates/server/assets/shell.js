// The web shell: xterm.js in the page, bytes to and from the build's sandbox
// over a websocket. Closing the page closes the socket, which ends the shell.
"use strict";

(function () {
  document.addEventListener("DOMContentLoaded", function () {
    const element = document.getElementById("terminal");
    const state = document.getElementById("shell-state");
    if (!element || !window.Terminal) return;
    const terminal = new window.Terminal({
      cursorBlink: true,
      convertEol: false,
      fontSize: 14,
      scrollback: 5000,
    });
    const fit = new window.FitAddon.FitAddon();
    terminal.loadAddon(fit);
    terminal.open(element);
    fit.fit();

    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = new URLSearchParams({
      csrf: element.dataset.csrf,
      cols: String(terminal.cols),
      rows: String(terminal.rows),
    });
    const socket = new WebSocket(scheme + "//" + location.host + element.dataset.socket + "?" + query);
    socket.binaryType = "arraybuffer";
    const encoder = new TextEncoder();

    socket.addEventListener("open", function () {
      state.textContent = "connected";
      terminal.focus();
    });
    socket.addEventListener("message", function (event) {
      if (typeof event.data === "string") {
        const control = JSON.parse(event.data);
        if (control.type === "exit") state.textContent = "the shell ended";
        if (control.type === "idle") state.textContent = "closed after an hour without input";
        if (control.type === "signed-out") state.textContent = "closed: you signed out";
        return;
      }
      terminal.write(new Uint8Array(event.data));
    });
    socket.addEventListener("close", function () {
      if (state.textContent === "connected") state.textContent = "disconnected";
      terminal.options.disableStdin = true;
    });
    terminal.onData(function (data) {
      if (socket.readyState === WebSocket.OPEN) socket.send(encoder.encode(data));
    });
    terminal.onResize(function (size) {
      if (socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify({ type: "resize", cols: size.cols, rows: size.rows }));
      }
    });
    window.addEventListener("resize", function () { fit.fit(); });
    // Tests (and people) can tell the terminal is ready.
    element.dataset.ready = "true";
  });
})();
