// Quality reports for statistics and support: every 5 s a small summary of the peer
// connection's getStats() goes to the server over the meeting's websocket, and uncaught
// errors and media connection states are reported too. Nothing here changes the meeting.
(function () {
  "use strict";
  var EVERY = 5000;
  var live = document.getElementById("main");
  var socket = null, last = null, watched = null;
  if (!live) return;

  function send(obj) { try { if (socket) socket.send(JSON.stringify(obj)); } catch (e) { /* socket gone */ } }
  function pc() { return window.MVCMedia && window.MVCMedia.pc ? window.MVCMedia.pc() : null; }
  function num(x) { return typeof x === "number" && isFinite(x) ? x : 0; }
  function round(x, max) { return Math.min(max, Math.max(0, Math.round(x * 10) / 10)); }

  live.addEventListener("htmx:wsOpen", function (e) { socket = e.detail.socketWrapper; });

  // Running totals from one getStats() report.
  function totals(report) {
    var t = {at: performance.now(), lost: 0, recv: 0, bytesIn: 0, bytesOut: 0, freezes: 0,
             jitter: 0, rtt: null, fpsIn: 0, fpsOut: 0, lossOut: 0};
    report.forEach(function (s) {
      if (s.type === "inbound-rtp") {
        t.lost += num(s.packetsLost); t.recv += num(s.packetsReceived); t.bytesIn += num(s.bytesReceived);
        t.freezes += num(s.freezeCount); t.jitter = Math.max(t.jitter, num(s.jitter) * 1000);
        if (s.kind === "video") t.fpsIn = Math.max(t.fpsIn, num(s.framesPerSecond));
      } else if (s.type === "outbound-rtp") {
        t.bytesOut += num(s.bytesSent);
        if (s.kind === "video") t.fpsOut = Math.max(t.fpsOut, num(s.framesPerSecond));
      } else if (s.type === "remote-inbound-rtp") {
        t.lossOut = Math.max(t.lossOut, num(s.fractionLost) * 100);
      } else if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") {
        if (typeof s.currentRoundTripTime === "number") t.rtt = s.currentRoundTripTime * 1000;
      }
    });
    return t;
  }

  // The summary of what happened between two reports.
  function summary(a, b) {
    var secs = Math.max(0.001, (b.at - a.at) / 1000);
    var lost = Math.max(0, b.lost - a.lost), recv = Math.max(0, b.recv - a.recv);
    var msg = {type: "quality", jitter: round(b.jitter, 60000),
               lossIn: round(lost + recv ? 100 * lost / (lost + recv) : 0, 100), lossOut: round(b.lossOut, 100),
               kbpsIn: round(8 * Math.max(0, b.bytesIn - a.bytesIn) / secs / 1000, 100000),
               kbpsOut: round(8 * Math.max(0, b.bytesOut - a.bytesOut) / secs / 1000, 100000),
               fpsIn: round(b.fpsIn, 240), fpsOut: round(b.fpsOut, 240),
               freezes: Math.min(1000, Math.max(0, Math.round(b.freezes - a.freezes)))};
    if (b.rtt !== null) msg.rtt = round(b.rtt, 60000);
    return msg;
  }

  function watch(conn) {
    if (!conn || conn === watched) return;
    watched = conn; last = null;
    conn.addEventListener("connectionstatechange", function () {
      send({type: "media_state", state: conn.connectionState});
    });
  }

  setInterval(function () {
    var conn = pc();
    watch(conn);
    if (!conn || conn.connectionState !== "connected") { last = null; return; }
    conn.getStats().then(function (report) {
      var now = totals(report);
      if (last) send(summary(last, now));
      last = now;
    }).catch(function () { last = null; });
  }, EVERY);

  window.addEventListener("error", function (e) {
    send({type: "client_error", message: String(e.message || "error").slice(0, 200)});
  });
  window.addEventListener("unhandledrejection", function (e) {
    var r = e.reason;
    send({type: "client_error", message: String((r && (r.name + ": " + r.message)) || r).slice(0, 200)});
  });
  // A media step that failed (camera, microphone, WebRTC, signalling): the page goes on, support sees it.
  function step(what, detail) {
    send({type: "media_error", message: (String(what) + ": " + String(detail || "")).slice(0, 200)});
  }
  window.MVCQuality = {summary: summary, totals: totals, step: step};
})();
