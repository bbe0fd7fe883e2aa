// Meeting page glue: JSON messages on the websocket go to the media code (window.MVCMedia);
// HTML fragments are swapped by htmx. The control buttons send small JSON actions.
// The page has no single-key shortcuts; Escape closes the panel when focus is in it.
(function () {
  "use strict";
  var script = document.currentScript;
  var msgs = script.dataset;
  var live = document.getElementById("main");
  var socket = null, wasOpen = false;

  function $(id) { return document.getElementById(id); }
  function send(obj) { if (socket) socket.send(JSON.stringify(obj)); }
  function status(text) { var el = $("status"); if (el) el.textContent = text; }
  function media() { return window.MVCMedia; }
  function fill(template, values) {
    return String(template || "").replace(/\{(\w+)\}/g, function (all, key) { return key in values ? values[key] : all; });
  }

  // Polite announcements for screen readers (knocks, joins, hands, chat); focus never moves.
  function say(template, values) {
    var region = $("announce");
    if (!region || !template) return;
    var line = document.createElement("p");
    line.textContent = fill(template, values || {});
    region.appendChild(line);
    while (region.children.length > 5) region.removeChild(region.firstChild);
  }

  live.addEventListener("htmx:wsOpen", function (e) {
    socket = e.detail.socketWrapper;
    if (wasOpen) status(msgs.msgReconnected);
    wasOpen = true;
  });
  live.addEventListener("htmx:wsClose", function () {
    if (wasOpen) status(msgs.msgReconnecting);
  });

  // A browser that cannot do WebRTC is told what to do, and the host sees it in the list.
  function stepFailed(what, detail) {
    if (window.MVCQuality) window.MVCQuality.step(what, detail);
  }

  // A page that cannot do WebRTC says so once the person is in the meeting (the waiting
  // room stays calm, and the host's list shows it from then on).
  var mediaFailed = null;
  function noWebRTC(err) {
    stepFailed("webrtc", err && err.message || err);
    if ($("stage") && $("stage").dataset.view !== "meeting") { mediaFailed = err || "no WebRTC"; return; }
    tellNoWebRTC();
  }
  function tellNoWebRTC() {
    mediaFailed = null;
    var box = $("media-problem");
    if (box) { box.textContent = msgs.msgNowebrtc; box.hidden = false; }
    send({ action: "no_media" });
  }

  function startMedia(msg) {
    var m = media();
    Promise.resolve().then(function () {
      if (!m) throw new Error("no media code");
      return m.start({ send: send, pid: msg.pid, iceServers: msg.iceServers || [], mode: live.dataset.mediaMode,
                       waiting: !!msg.waiting,
                       container: $("tiles"), localVideo: $("self-video"),
                       onError: function () { status(msgs.msgNomedia); }, onStep: stepFailed,
                       onShareEnded: function () { send({ action: "share", on: false }); } });
    }).then(mediaStarted, noWebRTC);
  }

  // The camera and microphone are on now: they follow the controls (a guest let in muted
  // stays muted in the browser too), and the camera list can be read.
  function mediaStarted() {
    followControls();
    findCameras();
  }

  function admitMedia() {
    var m = media();
    if (mediaFailed) { tellNoWebRTC(); return; }
    if (m) m.admit({ container: $("tiles"), selfVideo: $("self-video") }).then(mediaStarted, noWebRTC);
  }

  var focusId = null;  // the focused control, found again after the server re-renders it
  live.addEventListener("htmx:wsBeforeMessage", function (e) {
    var text = e.detail.message;
    if (typeof text !== "string" || text.charAt(0) !== "{") {  // HTML: let htmx swap it
      var active = document.activeElement;
      focusId = active && active !== document.body ? active.id : null;
      return;
    }
    e.preventDefault();
    var msg;
    try { msg = JSON.parse(text); } catch (err) { return; }
    var m = media();
    if (msg.type === "media" && msg.action === "start") {
      startMedia(msg);
    } else if (msg.type === "media" && msg.action === "admit") {  // let in: the stage is the meeting's now
      admitMedia();
    } else if (msg.type === "media" && msg.action === "stop") {
      if (m) m.stop();
    } else if (m) {
      m.handle(msg);
    }
  });
  live.addEventListener("htmx:wsAfterMessage", function () {
    var active = document.activeElement;
    if (focusId && (!active || active === document.body)) {
      var again = $(focusId);
      if (again && !again.closest("[hidden]")) again.focus();
    }
    focusId = null;
    afterChange();
  });

  // After the server re-renders the controls, local tracks follow what the server decided.
  function followControls() {
    var controls = $("controls"), m = media();
    if (!controls || !m || !m.setLocal) return;
    ["mic", "cam"].forEach(function (a) {
      var b = controls.querySelector('[data-action="' + a + '"]');
      if (b) m.setLocal(a === "mic" ? "audio" : "video", b.getAttribute("aria-pressed") === "true");
    });
  }
  document.body.addEventListener("htmx:oobAfterSwap", function (e) {
    if (e.target && e.target.id === "controls") followControls();
  });

  // A ws-send form pressed in the instant after the server re-rendered it, before htmx
  // bound it, would otherwise do a plain browser submit and reload the page: bind it, send.
  live.addEventListener("submit", function (e) {
    var form = e.target;
    if (e.defaultPrevented || !form.hasAttribute || !form.hasAttribute("ws-send")) return;
    e.preventDefault();
    if (form.dataset.mvcRebound) return;
    form.dataset.mvcRebound = "1";
    htmx.process(form);
    setTimeout(function () { form.requestSubmit(); }, 0);  // not from inside this submit event
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
  function names(meta) {
    try { return JSON.parse(meta.dataset.names || "{}"); } catch (err) { return {}; }
  }
  function applyMeta() {
    var meta = $("meta"), tiles = $("tiles");
    if (!tiles) return;
    tiles.dataset.count = String(tiles.querySelectorAll(".tile:not(.self)").length);
    if (!meta) return;
    tiles.dataset.layout = meta.dataset.layout;
    var hosts = (meta.dataset.hosts || "").split(" "), hands = (meta.dataset.hands || "").split(" ").filter(Boolean);
    var known = names(meta);
    tiles.querySelectorAll(".tile[data-pid]").forEach(function (tile) {
      var pid = tile.dataset.pid, owner = pid.replace(/~screen$/, ""), at = hands.indexOf(pid);
      tile.classList.toggle("host", hosts.indexOf(pid) >= 0);
      tile.classList.toggle("screen", pid !== owner);  // "<pid>~screen": a shared screen
      if (at >= 0) tile.dataset.hand = String(at + 1); else delete tile.dataset.hand;
      var cap = tile.querySelector("figcaption");
      if (cap && known[owner] && !tile.classList.contains("self")) {
        cap.textContent = pid === owner ? known[owner] : fill(msgs.msgScreen, { name: known[owner] });
      }
    });
    if (meta.dataset.host === "1" && hands.length > lastHands && soundOn()) beep();
    lastHands = hands.length;
    var sound = document.querySelector('[data-local="sound"]');
    if (sound) sound.setAttribute("aria-pressed", soundOn() ? "true" : "false");
  }
  document.addEventListener("mvc:tiles", applyMeta);

  // What changed since the last fragment, told to screen readers.
  var seen = null, chatLines = 0;
  function listed(prefix) {
    var out = {};
    document.querySelectorAll('#people li[id^="' + prefix + '"]').forEach(function (li) {
      var who = li.querySelector(".who");
      out[li.id.slice(prefix.length)] = who ? who.textContent.trim() : "";
    });
    return out;
  }
  function snapshot() {
    var stage = $("stage"), meta = $("meta");
    return { view: stage ? stage.dataset.view : "", people: listed("person-"), knocking: listed("knock-"),
             waiting: listed("wait-"), names: meta ? names(meta) : {}, host: !!meta && meta.dataset.host === "1",
             hands: meta ? (meta.dataset.hands || "").split(" ").filter(Boolean) : [] };
  }
  function announceChanges() {
    var now = snapshot(), was = seen;
    seen = now;
    if (!was) return;
    if ((was.view === "waiting" || was.view === "knocking") && now.view === "meeting") say(msgs.msgIn);
    if (was.view !== "meeting" || now.view !== "meeting") return;
    function added(key, template) {
      Object.keys(now[key]).forEach(function (pid) { if (!(pid in was[key])) say(template, { name: now[key][pid] }); });
    }
    added("knocking", msgs.msgKnocking);
    added("waiting", msgs.msgWaiting);
    Object.keys(now.people).forEach(function (pid) {
      if (pid in was.people) return;
      var admitted = pid in was.knocking || pid in was.waiting;
      say(admitted ? msgs.msgAdmitted : msgs.msgJoined, { name: now.people[pid] });
    });
    Object.keys(was.people).forEach(function (pid) {
      if (!(pid in now.people)) say(msgs.msgLeft, { name: was.people[pid] });
    });
    if (now.host) now.hands.forEach(function (pid) {
      if (was.hands.indexOf(pid) < 0) say(msgs.msgHand, { name: now.names[pid] || now.people[pid] || "" });
    });
  }
  // The chat log is itself a polite live region; while the panel is closed, new lines are told here.
  function announceChat() {
    var lines = document.querySelectorAll("#chat-log .line");
    var panel = $("panel");
    if (lines.length > chatLines && chatLines > 0 && panel && panel.hidden) {
      say(msgs.msgChat, { text: lines[lines.length - 1].textContent.replace(/\s+/g, " ").trim() });
    }
    chatLines = lines.length;
  }

  function afterChange() {
    syncPanel();
    applyMeta();
    offerControls();
    announceChanges();
    announceChat();
    syncShare();
  }

  // The server says who shares: when another person's share took over, or the server refused
  // ours, this page stops capturing and sending its screen. A share just started has a few
  // seconds for the server's answer first.
  var SHARE_ANSWER_MS = 5000, shareAskedAt = 0;
  function syncShare() {
    var button = $("ctl-share"), m = media();
    if (!button || !m || !m.sharing || !m.sharing() || button.getAttribute("aria-pressed") === "true") return;
    if (Date.now() - shareAskedAt < SHARE_ANSWER_MS) return;
    m.share(false).catch(function () {});
  }

  // Breakout countdowns tick in the page; the server moves people when time is up.
  setInterval(function () {
    document.querySelectorAll(".countdown[data-until]").forEach(function (el) {
      var left = Math.max(0, Math.round(Number(el.dataset.until) - Date.now() / 1000));
      var out = el.querySelector(".left") || el.appendChild(document.createElement("strong"));
      out.className = "left";
      out.textContent = " " + Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
    });
  }, 1000);

  // Controls appear only where the browser can do what they promise (feature detection):
  // sharing needs getDisplayMedia (never on phones), switching needs two cameras, the small
  // picture needs picture-in-picture.
  var cameras = [], cameraAt = 0;
  function offerControls() {
    var can = {
      getDisplayMedia: !!(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia),
      twoCameras: cameras.length >= 2,
      pictureInPicture: !!document.pictureInPictureEnabled
    };
    document.querySelectorAll("[data-needs]").forEach(function (b) { b.hidden = !can[b.dataset.needs]; });
  }
  function findCameras() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
    navigator.mediaDevices.enumerateDevices().then(function (list) {
      cameras = list.filter(function (d) { return d.kind === "videoinput"; });
      offerControls();
    });
  }
  findCameras();
  if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) {
    navigator.mediaDevices.addEventListener("devicechange", findCameras);
  }

  // The panel (people, chat, host controls): focus goes in when it opens and back to its
  // button when it closes; Escape closes it. Its state survives the server's re-renders.
  var panelOpen = null;
  function syncPanel() {
    var panel = $("panel"), button = $("ctl-panel");
    if (!panel || !button) return;
    if (panelOpen === null) panelOpen = !panel.hidden;
    panel.hidden = !panelOpen;
    button.setAttribute("aria-expanded", panelOpen ? "true" : "false");
  }
  function setPanel(open) {
    panelOpen = open;
    syncPanel();
    var target = open ? $("panel") : $("ctl-panel");
    if (target) target.focus();
    if (!open) chatLines = document.querySelectorAll("#chat-log .line").length;
  }
  document.addEventListener("keydown", function (e) {
    var panel = $("panel");
    if (e.key !== "Escape" || !panel || panel.hidden || !panel.contains(document.activeElement)) return;
    if (document.activeElement.closest("details[open]")) return;  // Escape closes the open menu first
    e.preventDefault();
    setPanel(false);
  });

  function mainTile() {
    var tiles = document.querySelectorAll("#tiles .tile:not(.self)");
    return document.querySelector("#tiles .tile.screen:not(.self)") || document.querySelector("#tiles .tile.speaking:not(.self)") ||
           document.querySelector("#tiles .tile.host:not(.self)") || tiles[0] || null;
  }

  document.addEventListener("click", function (e) {
    var local = e.target.closest ? e.target.closest("[data-local]") : null;
    if (local && local.dataset.local === "sound") {
      localStorage.setItem("mvc-hand-sound", soundOn() ? "off" : "on");
      local.setAttribute("aria-pressed", soundOn() ? "true" : "false");
      return;
    }
    if (local && local.dataset.local === "dismiss") {
      var notice = $("notice");
      if (notice) notice.hidden = true;
      return;
    }
    var button = e.target.closest ? e.target.closest("button[data-action]") : null;
    if (!button) return;
    var action = button.dataset.action;
    if (action === "panel") {
      setPanel(button.getAttribute("aria-expanded") !== "true");
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
      mf.switchDevice("video", cameras[cameraAt].deviceId).catch(function (err) { stepFailed("camera", err && err.name || err); });
      return;
    }
    if (action === "share") {
      var sharing = button.getAttribute("aria-pressed") === "true";
      var sm = media();
      if (sm && sm.share) {
        sm.share(!sharing).then(function (ok) {
          if (ok === false) return;
          if (!sharing) {
            shareAskedAt = Date.now();
            setTimeout(syncShare, SHARE_ANSWER_MS + 100);  // refused: no new state may come
          }
          send({ action: "share", on: !sharing });
        });
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

  afterChange();
})();
