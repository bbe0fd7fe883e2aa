// Join page: camera and microphone preview with a sound meter, and plain messages when
// the browser cannot or may not use them. Joining works in every case.
(function () {
  "use strict";
  var script = document.currentScript;
  var status = document.getElementById("preview-status");
  var video = document.getElementById("preview-video");
  var level = document.getElementById("level");
  if (!status || !video) return;
  function say(key) { status.textContent = script.dataset[key]; }
  function choose(value) {
    var radio = document.querySelector('input[name=media][value="' + value + '"]');
    if (radio) radio.checked = true;
  }
  if (!window.RTCPeerConnection || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    say("msgUnsupported"); choose("listen"); video.hidden = true; return;
  }
  function meter(stream) {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx || !stream.getAudioTracks().length) return;
    var ctx = new Ctx(), analyser = ctx.createAnalyser(), data = new Uint8Array(256);
    analyser.fftSize = 512;
    ctx.createMediaStreamSource(stream).connect(analyser);
    (function tick() {
      analyser.getByteTimeDomainData(data);
      var peak = 0;
      for (var i = 0; i < data.length; i++) peak = Math.max(peak, Math.abs(data[i] - 128));
      level.style.width = Math.min(100, peak * 1.6) + "%";
      requestAnimationFrame(tick);
    })();
  }
  function stop(stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
  navigator.mediaDevices.getUserMedia({ audio: true, video: { width: { ideal: 640 }, height: { ideal: 360 }, facingMode: "user" } })
    .then(function (stream) {
      video.srcObject = stream; meter(stream); say("msgOk");
      document.addEventListener("submit", function () { stop(stream); });
      window.addEventListener("pagehide", function () { stop(stream); });
    })
    .catch(function (err) {
      video.hidden = true;
      if (err && (err.name === "NotFoundError" || err.name === "OverconstrainedError")) {
        say("msgNodevice"); choose("audio");
        navigator.mediaDevices.getUserMedia({ audio: true }).then(meter).catch(function () { choose("listen"); });
      } else { say("msgDenied"); choose("listen"); }
    });
})();
