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
                       container: document.getElementById("tiles"), localVideo: document.getElementById("self-video"),
                       onError: function () { status(script.dataset.msgNomedia); },
                       onShareEnded: function () { send({ action: "share", on: false }); } });
    } else if (msg.type === "media" && msg.action === "stop") {
      if (m) m.stop();
    } else if (m) {
      m.handle(msg);
    }
  });

  // After the server re-renders the controls, local tracks follow what the server decided.
  document.body.addEventListener("htmx:oobAfterSwap", function (e) {
    var target = e.target;
    var m = media();
    if (!target || target.id !== "controls" || !m || !m.setLocal) return;
    ["mic", "cam"].forEach(function (a) {
      var b = target.querySelector('[data-action="' + a + '"]');
      if (b) m.setLocal(a === "mic" ? "audio" : "video", b.getAttribute("aria-pressed") === "true");
    });
  });

  // Forms sent over the websocket (ws-send) are cleared once sent, for the next message.
  live.addEventListener("htmx:wsAfterSend", function (e) {
    var form = e.target.closest ? e.target.closest("form[data-reset]") : null;
    if (form) form.reset();
  });

  // Tiles follow the server's facts: layout, hosts, raised hands (numbered), names, screen.
  var lastHands = 0;
  function soundOn() { return localStorage.getItem("mvc-hand-sound") !== "off"; }
  function beep() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    var ctx = new Ctx(), osc = ctx.createOscillator(), gain = ctx.createGain();
    osc.frequency.value = 660; gain.gain.value = 0.15;
    osc.connect(gain); gain.connect(ctx.destination);
    osc.start(); osc.stop(ctx.currentTime + 0.25);
  }
  function applyMeta() {
    var meta = document.getElementById("meta"), tiles = document.getElementById("tiles");
    if (!meta || !tiles) return;
    tiles.dataset.layout = meta.dataset.layout;
    var hosts = (meta.dataset.hosts || "").split(" "), hands = (meta.dataset.hands || "").split(" ").filter(Boolean);
    var names = {};
    try { names = JSON.parse(meta.dataset.names || "{}"); } catch (err) { names = {}; }
    tiles.querySelectorAll(".tile[data-pid]").forEach(function (tile) {
      var pid = tile.dataset.pid, at = hands.indexOf(pid);
      tile.classList.toggle("host", hosts.indexOf(pid) >= 0);
      tile.classList.toggle("screen", /~screen$/.test(pid));  // "<pid>~screen": a shared screen
      if (at >= 0) tile.dataset.hand = String(at + 1); else delete tile.dataset.hand;
      var cap = tile.querySelector("figcaption");
      if (cap && names[pid] && !tile.classList.contains("self")) cap.textContent = names[pid];
    });
    if (meta.dataset.host === "1" && hands.length > lastHands && soundOn()) beep();
    lastHands = hands.length;
    var sound = document.querySelector('[data-local="sound"]');
    if (sound) sound.setAttribute("aria-pressed", soundOn() ? "true" : "false");
  }
  document.body.addEventListener("htmx:oobAfterSwap", applyMeta);
  document.addEventListener("mvc:tiles", applyMeta);

  // Breakout countdowns tick in the page; the server moves people when time is up.
  setInterval(function () {
    document.querySelectorAll(".countdown[data-until]").forEach(function (el) {
      var left = Math.max(0, Math.round(Number(el.dataset.until) - Date.now() / 1000));
      var out = el.querySelector(".left") || el.appendChild(document.createElement("strong"));
      out.className = "left";
      out.textContent = " " + Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
    });
  }, 1000);

  // Screen sharing is offered only where the browser can do it (never on phones).
  function offerShare() {
    var can = !!(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
    document.querySelectorAll('[data-needs="getDisplayMedia"]').forEach(function (b) { b.hidden = !can; });
  }
  document.body.addEventListener("htmx:oobAfterSwap", offerShare);

  // Switching between front and back camera (phones) and picture-in-picture, where possible.
  var cameras = [], cameraAt = 0;
  function offerDevices() {
    var pip = document.querySelector('[data-needs="pictureInPicture"]');
    if (pip) pip.hidden = !document.pictureInPictureEnabled;
    var flip = document.querySelector('[data-needs="twoCameras"]');
    if (flip) flip.hidden = cameras.length < 2;
  }
  if (navigator.mediaDevices && navigator.mediaDevices.enumerateDevices) {
    navigator.mediaDevices.enumerateDevices().then(function (list) {
      cameras = list.filter(function (d) { return d.kind === "videoinput"; });
      offerDevices();
    });
  }
  document.body.addEventListener("htmx:oobAfterSwap", offerDevices);
  function mainTile() {
    var tiles = document.querySelectorAll("#tiles .tile:not(.self)");
    return document.querySelector("#tiles .tile.screen:not(.self)") || document.querySelector("#tiles .tile.speaking:not(.self)") ||
           document.querySelector("#tiles .tile.host:not(.self)") || tiles[0] || null;
  }

  document.addEventListener("click", function (e) {
    var local = e.target.closest ? e.target.closest("[data-local=sound]") : null;
    if (local) {
      localStorage.setItem("mvc-hand-sound", soundOn() ? "off" : "on");
      local.setAttribute("aria-pressed", soundOn() ? "true" : "false");
      return;
    }
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
    if (action === "pip") {
      var main = mainTile(), mp = media();
      if (mp && mp.pip) mp.pip(main ? main.dataset.pid : null);
      return;
    }
    if (action === "flip") {
      var mf = media();
      if (!mf || !mf.switchDevice || cameras.length < 2) return;
      cameraAt = (cameraAt + 1) % cameras.length;
      mf.switchDevice("video", cameras[cameraAt].deviceId);
      return;
    }
    if (action === "share") {
      var sharing = button.getAttribute("aria-pressed") === "true";
      var sm = media();
      if (sm && sm.share) {
        sm.share(!sharing).then(function (ok) { if (ok !== false) send({ action: "share", on: !sharing }); });
      }
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
