// Meeting page glue: JSON messages on the websocket go to the media code (window.MVCMedia);
// HTML fragments are swapped by htmx. The control buttons send small JSON actions.
(function () {
  "use strict";
  var script = document.currentScript;
  var live = document.getElementById("main");
  var socket = null, wasOpen = false;

  function send(obj) { if (socket) socket.send(JSON.stringify(obj)); }
  function status(text) { var el = document.getElementById("status"); if (el) el.textContent = text; }
  function media() { return window.MVCMedia; }

  live.addEventListener("htmx:wsOpen", function (e) {
    socket = e.detail.socketWrapper;
    if (wasOpen) status(script.dataset.msgReconnected);
    wasOpen = true;
  });
  live.addEventListener("htmx:wsClose", function () {
    if (wasOpen) status(script.dataset.msgReconnecting);
  });
  live.addEventListener("htmx:wsBeforeMessage", function (e) {
    var text = e.detail.message;
    if (typeof text !== "string" || text.charAt(0) !== "{") return;  // HTML: let htmx swap it
    e.preventDefault();
    var msg;
    try { msg = JSON.parse(text); } catch (err) { return; }
    var m = media();
    if (msg.type === "media" && msg.action === "start") {
      if (m) m.start({ send: send, pid: msg.pid, iceServers: msg.iceServers || [], mode: live.dataset.mediaMode,
                       container: document.getElementById("tiles"), selfVideo: document.getElementById("self-video"),
                       onError: function () { status(script.dataset.msgNomedia); } });
    } else if (msg.type === "media" && msg.action === "stop") {
      if (m) m.stop();
    } else if (m) {
      m.handle(msg);
    }
  });

  // After the server re-renders the controls, local tracks follow what the server decided.
  document.body.addEventListener("htmx:oobAfterSwap", function (e) {
    var target = e.detail && e.detail.target;
    var m = media();
    if (!target || target.id !== "controls" || !m || !m.setLocal) return;
    ["mic", "cam"].forEach(function (a) {
      var b = target.querySelector('[data-action="' + a + '"]');
      if (b) m.setLocal(a === "mic" ? "audio" : "video", b.getAttribute("aria-pressed") === "true");
    });
  });

  document.addEventListener("click", function (e) {
    var button = e.target.closest ? e.target.closest("button[data-action]") : null;
    if (!button) return;
    var action = button.dataset.action;
    if (action === "panel") {
      var panel = document.getElementById("panel");
      var open = button.getAttribute("aria-expanded") !== "true";
      button.setAttribute("aria-expanded", open ? "true" : "false");
      if (panel) panel.hidden = !open;
      return;
    }
    if (action === "mic" || action === "cam") {
      var on = button.getAttribute("aria-pressed") !== "true";
      var m = media();
      if (m && m.setLocal) m.setLocal(action === "mic" ? "audio" : "video", on);
      send({ action: action, on: on });
      return;
    }
    var payload = { action: action };
    Object.keys(button.dataset).forEach(function (k) { if (k !== "action") payload[k] = button.dataset[k]; });
    send(payload);
  });
})();
