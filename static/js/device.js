// A registered device: the code keys, the idle/ringing screen over one websocket, and the way home after a call.
(function () {
  "use strict";
  var script = document.currentScript;

  // The meeting page (or the "you left" page) of a device: back to the idle screen when the meeting is over
  // (after a moment to read that it ended), at once when the device was removed or revoked (/device then
  // shows the idle screen, or the code screen for a revoked credential).
  if (script && script.dataset.home) {
    var home = script.dataset.home;
    var goHome = function (delay) { setTimeout(function () { location.href = home; }, delay); };
    var watch = function () {
      var stage = document.getElementById("stage");
      if (!stage) { goHome(3000); return; }
      var check = function () {
        var s = document.getElementById("stage"), view = s && s.dataset.view;
        if (view === "ended" || view === "removed") { observer.disconnect(); goHome(view === "removed" ? 0 : 3000); }
      };
      var observer = new MutationObserver(check);
      observer.observe(document.getElementById("main") || document.body, {subtree: true, childList: true, attributes: true});
      check();
    };
    document.addEventListener("DOMContentLoaded", watch);
    return;
  }

  // The code screen: large keys that type into the field.
  function keys() {
    var box = document.querySelector("[data-keys]");
    var input = document.getElementById("code");
    if (!box || !input) return;
    box.hidden = false;
    box.addEventListener("click", function (e) {
      var key = e.target.closest("[data-key]");
      if (!key) return;
      var k = key.dataset.key;
      input.value = k === "back" ? input.value.slice(0, -1) : (input.value + k).slice(0, 12);
    });
  }

  var main, socket, retry = 0, ringer = null, timers = [], wakeLock = null;

  function clearTimers() { timers.forEach(clearInterval); timers = []; }

  function ring(on) {
    if (!on) { if (ringer) { ringer.stop(); ringer = null; } return; }
    if (ringer) return;
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    var ctx = new Ctx(), beat = 0;
    var tone = function () {
      [0, 0.4].forEach(function (at) {
        var osc = ctx.createOscillator(), gain = ctx.createGain();
        osc.frequency.value = beat % 2 ? 660 : 880;
        gain.gain.value = 0.2;
        osc.connect(gain); gain.connect(ctx.destination);
        osc.start(ctx.currentTime + at); osc.stop(ctx.currentTime + at + 0.3);
      });
      beat++;
    };
    tone();
    var id = setInterval(tone, 2000);
    ringer = {stop: function () { clearInterval(id); ctx.close(); }};
  }

  function tick(el) {
    if (el) el.textContent = new Date().toLocaleTimeString(document.documentElement.lang === "en" ? "en-GB" : "da-DK",
                                                           {hour: "2-digit", minute: "2-digit"});
  }

  // Behaviour of the screen just shown: clock, ringing sound, auto-answer countdown.
  function show(screen) {
    clearTimers();
    var state = screen.dataset.state;
    if (state === "unbound") { location.href = location.pathname; return; }
    ring(state === "ringing");
    var clock = screen.querySelector("[data-clock]");
    if (clock) { tick(clock); timers.push(setInterval(function () { tick(clock); }, 5000)); }
    var auto = parseInt(screen.dataset.auto || "0", 10), countdown = screen.querySelector("[data-countdown]");
    if (state === "ringing" && auto > 0 && countdown) {
      var form = screen.querySelector(".answer-form"), msg = script.dataset.msgAuto || "{num}";
      timers.push(setInterval(function () {
        auto -= 1;
        countdown.textContent = msg.replace("{num}", Math.max(auto, 0));
        if (auto <= 0) { clearTimers(); form.requestSubmit(); }
      }, 1000));
    }
    if (state === "ringing") { var answer = screen.querySelector(".answer"); if (answer) answer.focus(); }
  }

  function place(html) {
    var tpl = document.createElement("template");
    tpl.innerHTML = html.trim();
    var fresh = tpl.content.getElementById("device-screen"), old = document.getElementById("device-screen");
    if (!fresh || !old) return;
    old.replaceWith(fresh);
    show(fresh);
  }

  function status(text) { var el = document.getElementById("device-connection"); if (el) el.textContent = text; }

  // Renew the credential cookie (browsers keep it at most 400 days): a websocket's answer cannot set it.
  function renew() { fetch(main.dataset.keep, {credentials: "same-origin", cache: "no-store"}).catch(function () {}); }

  function connect() {
    var url = main.dataset.ws;  // url_for gives the websocket's full ws:// or wss:// address
    socket = new WebSocket(url);
    socket.onopen = function () { retry = 0; status(""); renew(); };
    socket.onmessage = function (e) { place(e.data); };
    socket.onclose = function () {
      // Back off 1, 2, 4 … 30 seconds (with jitter) so a restarting server is not flooded by tablets.
      var wait = Math.min(30000, 1000 * Math.pow(2, retry++)) * (0.75 + Math.random() / 2);
      if (retry > 1) status(script.dataset.msgReconnecting || "");
      setTimeout(connect, wait);
    };
  }

  // Keep the screen on where the browser allows it (Screen Wake Lock); asked again when the page is shown.
  function keepAwake() {
    if (!("wakeLock" in navigator) || document.visibilityState !== "visible") return;
    navigator.wakeLock.request("screen").then(function (lock) { wakeLock = lock; }).catch(function () {});
  }

  document.addEventListener("DOMContentLoaded", function () {
    keys();
    main = document.querySelector("main[data-ws]");
    if (!main) return;
    show(document.getElementById("device-screen"));
    connect();
    setInterval(renew, 24 * 3600 * 1000);  // a screen may stay open, connected, for months
    keepAwake();
    document.addEventListener("visibilitychange", function () { if (!wakeLock || wakeLock.released) keepAwake(); });
  });
})();
