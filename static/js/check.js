// The pre-call check: browser, camera, microphone level, speaker, and a real connection
// to a media worker (an offer/answer relayed by /check/connect), measured with getStats().
// Every outcome is shown in plain language from #check-texts and sent to /check/finish,
// which answers with the support code.
(function () {
  "use strict";
  var texts = document.getElementById("check-texts").dataset;
  var start = document.getElementById("check-start");
  var results = {}, stream = null, pc = null, checkId = null;

  function key(check, outcome) {
    return (check + "-" + outcome).replace(/[-_](.)/g, function (_m, c) { return c.toUpperCase(); });
  }
  function show(check, outcome, extra) {
    var li = document.getElementById("c-" + check);
    results[check] = outcome;
    // A connection through the relay server works: passed, with its own explanation.
    li.dataset.state = outcome === "ok" || outcome === "relay" ? "ok" : (outcome === "running" ? "running" : "problem");
    li.querySelector(".result").textContent =
      (outcome === "running" ? texts.running : texts[key(check, outcome)] || outcome) + (extra ? " " + extra : "");
  }
  function post(path, body) {
    return fetch(texts.base + "/" + path, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": texts.csrf},
      body: JSON.stringify(body)
    }).then(function (r) { return r.json().then(function (j) { j.status = r.status; return j; }); });
  }
  function delay(ms) { return new Promise(function (ok) { setTimeout(ok, ms); }); }

  function browserCheck() {
    var ok = !!(window.RTCPeerConnection && navigator.mediaDevices && navigator.mediaDevices.getUserMedia &&
                window.WebSocket && (window.AudioContext || window.webkitAudioContext));
    show("browser", ok ? "ok" : "unsupported");
    return ok;
  }

  function failure(err) {
    var name = err && err.name;
    if (name === "NotAllowedError" || name === "SecurityError") return "denied";
    if (name === "NotFoundError" || name === "OverconstrainedError") return "missing";
    if (name === "NotReadableError" || name === "AbortError") return "busy";
    return "error";
  }

  async function devices() {
    show("camera", "running"); show("microphone", "running");
    try {
      stream = await navigator.mediaDevices.getUserMedia({audio: true, video: {width: {ideal: 640}, height: {ideal: 360}}});
    } catch (err) {
      show("camera", failure(err));
      try { stream = await navigator.mediaDevices.getUserMedia({audio: true}); }
      catch (err2) { var f = failure(err2); show("microphone", f === "busy" ? "error" : f); return; }
    }
    if (stream.getVideoTracks().length) {
      var video = document.getElementById("check-video");
      video.hidden = false; video.srcObject = stream;
      show("camera", "ok");
    }
    show("microphone", await heard(stream) ? "ok" : "silent");
  }

  // True once the microphone's level rises above silence within 6 seconds.
  function heard(s) {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    var ctx = new Ctx(), analyser = ctx.createAnalyser(), data = new Uint8Array(512);
    var level = document.getElementById("check-level");
    analyser.fftSize = 1024;
    ctx.createMediaStreamSource(s).connect(analyser);
    return new Promise(function (done) {
      var until = performance.now() + 6000, loud = 0;
      (function tick() {
        analyser.getByteTimeDomainData(data);
        var peak = 0;
        for (var i = 0; i < data.length; i++) peak = Math.max(peak, Math.abs(data[i] - 128));
        level.style.width = Math.min(100, peak * 1.6) + "%";
        if (peak > 6) loud++;
        if (loud > 5 || performance.now() > until) { ctx.close(); level.style.width = "0"; done(loud > 5); return; }
        requestAnimationFrame(tick);
      })();
    });
  }

  function speaker() {
    var box = document.getElementById("speaker-test");
    box.hidden = false;
    document.querySelector("#c-speaker .result").textContent = texts.speakerAsk;
    document.getElementById("speaker-play").onclick = function () {
      var Ctx = window.AudioContext || window.webkitAudioContext, ctx = new Ctx();
      var osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.frequency.value = 660; gain.gain.value = 0.2;
      osc.connect(gain); gain.connect(ctx.destination);
      osc.start(); osc.stop(ctx.currentTime + 1.2);
      osc.onended = function () { ctx.close(); };
    };
    return new Promise(function (done) {
      document.getElementById("speaker-yes").onclick = function () { show("speaker", "ok"); done(); };
      document.getElementById("speaker-no").onclick = function () { show("speaker", "not_heard"); done(); };
    });
  }

  function gathered(conn) {
    if (conn.iceGatheringState === "complete") return Promise.resolve();
    return new Promise(function (done) {
      conn.addEventListener("icegatheringstatechange", function () {
        if (conn.iceGatheringState === "complete") done();
      });
      setTimeout(done, 5000);
    });
  }

  function connected(conn, ms) {
    return new Promise(function (done) {
      var t = setTimeout(function () { done(false); }, ms);
      function check() {
        if (conn.connectionState === "connected") { clearTimeout(t); done(true); }
        else if (conn.connectionState === "failed") { clearTimeout(t); done(false); }
      }
      conn.addEventListener("connectionstatechange", check);
      check();
    });
  }

  // One attempt: offer (all candidates in it), the worker's answer, then wait for ICE.
  async function attempt(iceServers, relayOnly) {
    if (pc) pc.close();
    pc = new RTCPeerConnection({bundlePolicy: "max-bundle", iceServers: iceServers,
                                iceTransportPolicy: relayOnly ? "relay" : "all"});
    if (stream && stream.getTracks().length) stream.getTracks().forEach(function (t) { pc.addTrack(t, stream); });
    else pc.addTransceiver("audio", {direction: "sendrecv"});
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    var answer = await post("connect", {id: checkId, sdp: pc.localDescription.sdp});
    if (answer.status === 503) return "unavailable";
    if (!answer.sdp) return "failed";
    await pc.setRemoteDescription({type: "answer", sdp: answer.sdp});
    return await connected(pc, 15000) ? "connected" : "failed";
  }

  // Round trip and loss over a few seconds, and the route ICE chose.
  async function measure() {
    await delay(3000);
    var out = {rtt: null, lost: 0, sent: 0, route: null}, local = {};
    (await pc.getStats()).forEach(function (s) { local[s.id] = s; });
    Object.keys(local).forEach(function (id) {
      var s = local[id];
      if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") {
        if (typeof s.currentRoundTripTime === "number") out.rtt = s.currentRoundTripTime * 1000;
        var cand = local[s.localCandidateId];
        if (cand) out.route = cand.candidateType + "/" + (cand.relayProtocol || cand.protocol);
      } else if (s.type === "remote-inbound-rtp") {
        out.lost += Math.max(0, s.packetsLost || 0);
        if (typeof s.roundTripTime === "number" && out.rtt === null) out.rtt = s.roundTripTime * 1000;
      } else if (s.type === "outbound-rtp") {
        out.sent += s.packetsSent || 0;
      }
    });
    out.loss = out.sent ? 100 * out.lost / (out.lost + out.sent) : 0;
    return out;
  }

  async function network() {
    show("network", "running");
    var started = await post("start", {});
    checkId = started.id;
    var servers = started.iceServers || [];
    var outcome = await attempt(servers, false);
    var relayed = false;
    var hasTurn = servers.some(function (s) { return [].concat(s.urls).some(function (u) { return /^turns?:/.test(u); }); });
    if (outcome === "failed" && hasTurn) { outcome = await attempt(servers, true); relayed = true; }
    if (outcome !== "connected") { show("network", outcome); return; }
    var m = await measure();
    results.rtt_ms = m.rtt === null ? undefined : Math.round(m.rtt * 10) / 10;
    results.loss_pct = Math.round(m.loss * 10) / 10;
    if (m.route) results.route = m.route;
    var extra = texts.measured.replace("{rtt}", m.rtt === null ? "?" : Math.round(m.rtt)).replace("{loss}", results.loss_pct);
    if ((m.rtt || 0) > 400 || m.loss > 5) extra += " " + texts.slow;
    show("network", relayed || (m.route || "").indexOf("relay") === 0 ? "relay" : "ok", extra);
  }

  async function run() {
    start.disabled = true;
    results = {};
    try {
      if (!browserCheck()) { results.network = "unavailable"; }
      else {
        await devices();
        await Promise.all([speaker(), network()]);
      }
    } catch (err) {
      document.querySelector("#c-network .result").textContent = texts.failedStep;
      if (!results.network || results.network === "running") results.network = "failed";
    }
    if (pc) { pc.close(); pc = null; }
    if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
    var done = await post("finish", {id: checkId, results: results});
    document.getElementById("support-code").textContent = done.code || "";
    var box = document.getElementById("check-done");
    box.hidden = false; box.focus();
    start.disabled = false;
  }

  start.addEventListener("click", run);
})();
