/* MVC media glue: one RTCPeerConnection to the room's media worker.
 *
 * MVCMedia.start({send, container, selfVideo, mode, waiting, iceServers, onError, onState})
 *   send(obj)   delivers {type:"offer"|"answer"|"candidate", ...} to the server, which adds
 *               room and pid and relays to the worker (sending "join" before the first offer).
 *   mode        "av" (default), "audio" (microphone only) or "listen" (receive only).
 *   waiting     connect from the waiting room: no camera or microphone yet, and the worker
 *               forwards nothing either way; the senders wait without a track.
 *   container   element that receives one tile per remote publisher:
 *               <figure class="tile" data-pid="PID"><video autoplay playsinline></video><figcaption></figure>
 *               and dispatches "mvc:tiles" on document when tiles come or go.
 * MVCMedia.admit({container, selfVideo}) when let in: the camera and microphone start and
 *               take the waiting senders (no renegotiation, unless one of them is refused);
 *               container and selfVideo are the meeting view's elements.
 * MVCMedia.start() rejects when the browser cannot do WebRTC (no or a blocked RTCPeerConnection).
 * MVCMedia.handle(msg)  for worker messages relayed by the server:
 *               answer, offer (renegotiation), error, speaker, reconnect (worker replaced),
 *               downlink (video paused for a poor connection: shows #video-paused, and
 *               the container gets class "video-paused", which hides non-speakers' video).
 * MVCMedia.switchDevice(kind, deviceId), setLocal(kind, on), pip(pid), pc(), stop().
 * MVCMedia.share(on) -> Promise<bool>: start (getDisplayMedia) or stop sending the screen;
 *               false if the user cancelled the picker. opts.onShareEnded() is called when
 *               the user stops it from the browser's own UI.
 * The camera is sent in simulcast layers (LAYERS) where the browser can.
 * The msid stream id of every forwarded track is the publisher's pid ("<pid>~screen" for a
 * shared screen, whose tile gets class "screen" and goes first). The page's own screen is
 * sent with its msid stream id prefixed "screen-", which is how the worker tells it apart.
 */
(function () {
  "use strict";
  var VIDEO = {width: {ideal: 640}, height: {ideal: 360},
               frameRate: {ideal: 20, max: 24}, facingMode: "user"};
  var AUDIO = {echoCancellation: true, noiseSuppression: true, autoGainControl: true};
  // The camera goes out in two simulcast layers, lowest first (the worker relies on the
  // order): each subscriber gets the one its connection carries (media/simulcast.py).
  var LAYERS = [{rid: "l", scaleResolutionDownBy: 2, maxBitrate: 200000},
                {rid: "h", scaleResolutionDownBy: 1, maxBitrate: 700000}];
  var opts = null, pc = null, local = null, restartTimer = null, stopped = true, waiting = false;
  var screen = null, screenTx = null, wantOffer = false, queue = Promise.resolve(), speaker = null;

  function markSpeaker() {
    opts.container.querySelectorAll(".tile").forEach(function (el) {
      el.classList.toggle("speaking", el.dataset.pid === speaker);
    });
  }

  function videoPaused(on) {
    var note = document.getElementById("video-paused");
    if (note) note.hidden = !on;
    opts.container.classList.toggle("video-paused", on);
  }

  // The page learns of new and removed tiles by "mvc:tiles" (names, host and hand marks, layout).
  function tilesChanged() { document.dispatchEvent(new CustomEvent("mvc:tiles")); }

  function tile(pid) {
    var el = opts.container.querySelector('.tile[data-pid="' + CSS.escape(pid) + '"]:not(.self)');
    if (!el) {
      el = document.createElement("figure");
      el.className = "tile";
      el.dataset.pid = pid;
      var video = document.createElement("video");
      video.autoplay = true;
      video.playsInline = true;
      el.appendChild(video);
      el.appendChild(document.createElement("figcaption"));
      if (/~screen$/.test(pid)) {
        el.classList.add("screen");
        opts.container.insertBefore(el, opts.container.firstChild);
      } else {
        opts.container.appendChild(el);
      }
      el.classList.toggle("speaking", pid === speaker);
      tilesChanged();
    }
    return el;
  }

  function onTrack(event) {
    var stream = event.streams[0];
    if (!stream) return;
    var el = tile(stream.id);
    var video = el.querySelector("video");
    if (video.srcObject !== stream) video.srcObject = stream;
    stream.onremovetrack = function () {
      if (stream.getTracks().length === 0 && video.srcObject === stream) { el.remove(); tilesChanged(); }
    };
  }

  async function getMedia(mode) {
    if (mode === "listen" || !navigator.mediaDevices) return null;
    try {
      return await navigator.mediaDevices.getUserMedia(
        mode === "audio" ? {audio: AUDIO} : {audio: AUDIO, video: VIDEO});
    } catch (e) {
      step(mode === "audio" ? "microphone" : "camera", e);
      try { return await navigator.mediaDevices.getUserMedia({audio: AUDIO}); }
      catch (e2) { step("microphone", e2); return null; }  // listen-only
    }
  }

  async function connect() {
    pc = new RTCPeerConnection({bundlePolicy: "max-bundle", iceServers: opts.iceServers || []});
    pc.ontrack = onTrack;
    pc.onicecandidate = function (e) {
      if (e.candidate) opts.send({type: "candidate", candidate: e.candidate.toJSON()});
    };
    pc.onconnectionstatechange = function () {
      if (opts.onState) opts.onState(pc.connectionState);
      if (pc.connectionState === "failed") restart(0);
      else if (pc.connectionState === "disconnected") restart(3000);
      else if (pc.connectionState === "connected") clearTimeout(restartTimer);
    };
    if (waiting && opts.mode !== "listen") {  // senders without a track until admit()
      var placeholder = new MediaStream();
      pc.addTransceiver("audio", {direction: "sendrecv", streams: [placeholder]});
      if (opts.mode !== "audio") addVideo("video", placeholder);
    } else if (local && local.getTracks().length) {
      local.getTracks().forEach(function (t) {
        if (t.kind === "video") addVideo(t, local);
        else pc.addTrack(t, local);
      });
    } else {
      pc.addTransceiver("audio", {direction: "recvonly"});
    }
    screenTx = null;
    if (screen) addScreen();
    wantOffer = false;
    await offer();
  }

  function addVideo(track, stream) {
    try {
      pc.addTransceiver(track, {direction: "sendrecv", streams: [stream], sendEncodings: LAYERS});
    } catch (e) {  // a browser without simulcast: one stream
      pc.addTransceiver(track, {direction: "sendrecv", streams: [stream]});
    }
  }

  // Let in from the waiting room: the local tracks take the senders that waited for them.
  async function admit(elements) {
    if (stopped || !waiting) return;
    waiting = false;
    opts.container = elements.container;
    opts.selfVideo = elements.selfVideo;
    local = await getMedia(opts.mode);
    if (stopped) { if (local) local.getTracks().forEach(function (t) { t.stop(); }); return; }
    showSelf();
    if (!pc || opts.mode === "listen") return;
    var renegotiate = false;
    pc.getTransceivers().forEach(function (tx) {
      if (tx === screenTx || tx.direction !== "sendrecv" || tx.sender.track) return;
      var kind = tx.receiver.track.kind;
      var track = local && local.getTracks().find(function (t) { return t.kind === kind; });
      if (track) {
        if (tx.sender.setStreams) tx.sender.setStreams(local);
        tx.sender.replaceTrack(track).catch(report);
      } else {  // refused or missing: stop offering to send it
        tx.direction = "recvonly";
        renegotiate = true;
      }
    });
    if (renegotiate) await serial(offer);
  }

  function showSelf() {
    if (opts.selfVideo && local) {
      opts.selfVideo.muted = true;
      opts.selfVideo.srcObject = local;
    }
  }

  // Offers go out only from "stable": the worker sends offers too (see handle).
  async function offer() {
    if (!pc || pc.signalingState !== "stable") { wantOffer = true; return; }
    wantOffer = false;
    await pc.setLocalDescription(await pc.createOffer());
    opts.send({type: "offer", sdp: markScreen(pc.localDescription.sdp)});
  }

  function markScreen(sdp) {
    var mid = screenTx && screenTx.mid;
    if (!mid) return sdp;
    return sdp.split(/(?=\r\nm=)/).map(function (section) {
      return section.indexOf("\r\na=mid:" + mid + "\r\n") < 0 ? section
        : section.replace(/\r\na=msid:(?!screen-)/, "\r\na=msid:screen-");
    }).join("");
  }

  // A transceiver of its own (addTrack could take over one that receives a publisher).
  function addScreen() {
    var track = screen.getVideoTracks()[0];
    if (screenTx) {
      screenTx.sender.replaceTrack(track);
      screenTx.direction = "sendonly";
    } else {
      screenTx = pc.addTransceiver(track, {direction: "sendonly", streams: [screen]});
    }
  }

  async function share(on) {
    if (!on) {
      if (screen) screen.getTracks().forEach(function (t) { t.onended = null; t.stop(); });
      screen = null;
      if (pc && screenTx) {
        await screenTx.sender.replaceTrack(null);
        screenTx.direction = "inactive";
        await serial(offer);
      }
      return true;
    }
    if (screen) return true;
    try {
      screen = await navigator.mediaDevices.getDisplayMedia({video: true});
    } catch (e) {
      return false;  // cancelled or refused
    }
    screen.getVideoTracks()[0].onended = function () {
      share(false).catch(report);
      if (opts.onShareEnded) opts.onShareEnded();
    };
    if (pc) { addScreen(); await serial(offer); }
    return true;
  }

  // The worker (aiortc) has no ICE restart: reconnecting is a fresh offer on a new connection.
  function restart(delay) {
    clearTimeout(restartTimer);
    restartTimer = setTimeout(function () {
      if (stopped) return;
      if (pc) pc.close();
      opts.container.querySelectorAll(".tile:not(.self)").forEach(function (el) { el.remove(); });
      tilesChanged();
      connect().catch(report);
    }, delay);
  }

  // Tell the page's owner (for the support timeline) that a step failed; the meeting goes on without it.
  function step(what, err) {
    if (opts && opts.onStep) opts.onStep(what, String(err && (err.name || err.message) || err));
  }

  function report(err) {
    step("media", err && err.message || err);
    if (opts && opts.onError) opts.onError(String(err && err.message || err));
    else console.warn("media:", err);
  }

  // One message at a time, in order: an offer may follow an answer at once.
  function handle(msg) { return serial(function () { return process(msg); }); }
  function serial(fn) { return (queue = queue.then(fn).catch(report)); }

  async function process(msg) {
    if (!pc || stopped || !msg) return;
    try {
      if (msg.type === "answer") {
        await pc.setRemoteDescription({type: "answer", sdp: msg.sdp});
        if (wantOffer) await offer();
      } else if (msg.type === "offer") {
        if (pc.signalingState === "have-local-offer") {
          // Glare: the worker refuses our offer; take back ours, answer, offer again.
          await pc.setLocalDescription({type: "rollback"});
          wantOffer = true;
        }
        await pc.setRemoteDescription({type: "offer", sdp: msg.sdp});
        await pc.setLocalDescription(await pc.createAnswer());
        opts.send({type: "answer", sdp: pc.localDescription.sdp});
        if (wantOffer) await offer();
      } else if (msg.type === "speaker") {
        speaker = msg.pid;
        markSpeaker();
      } else if (msg.type === "downlink") {
        videoPaused(msg.message === "video_paused");
      } else if (msg.type === "reconnect") {
        restart(0);
      } else if (msg.type === "error" && !/^offer failed: glare/.test(msg.message || "")) {
        report(msg.message);
      }
    } catch (e) { report(e); }
  }

  async function start(options) {
    if (!stopped) stop();  // a new websocket starts afresh: the server has let the old peer go
    opts = options;
    stopped = false;
    waiting = !!opts.waiting;
    opts.container = opts.container || document.createElement("div");  // the waiting room has no tiles
    opts.selfVideo = opts.selfVideo || opts.localVideo;
    if (typeof window.RTCPeerConnection !== "function") throw new Error("no WebRTC");
    local = waiting ? null : await getMedia(opts.mode);
    showSelf();
    try {
      await connect();
    } catch (e) {  // RTCPeerConnection blocked or broken: nothing can flow
      stop();
      throw e;
    }
  }

  async function switchDevice(kind, deviceId) {
    if (!pc || !local) return;
    var c = {};
    c[kind] = Object.assign({}, kind === "video" ? VIDEO : AUDIO, {deviceId: {exact: deviceId}});
    if (kind === "video") delete c.video.facingMode;
    var stream = await navigator.mediaDevices.getUserMedia(c);
    var track = stream.getTracks()[0];
    var sender = pc.getSenders().find(function (s) { return s.track && s.track.kind === kind; });
    if (sender) await sender.replaceTrack(track);
    local.getTracks().filter(function (t) { return t.kind === kind; }).forEach(function (t) {
      t.stop(); local.removeTrack(t);
    });
    local.addTrack(track);
  }

  function setLocal(kind, on) {
    if (local) local.getTracks().forEach(function (t) { if (t.kind === kind) t.enabled = on; });
  }

  function pip(pid) {
    var video = pid ? tile(pid).querySelector("video") : opts.selfVideo;
    if (document.pictureInPictureElement === video) return document.exitPictureInPicture();
    if (video && video.requestPictureInPicture) return video.requestPictureInPicture();
  }

  function stop() {
    stopped = true;
    clearTimeout(restartTimer);
    if (pc) pc.close();
    pc = null;
    if (local) local.getTracks().forEach(function (t) { t.stop(); });
    if (screen) screen.getTracks().forEach(function (t) { t.onended = null; t.stop(); });
    local = screen = screenTx = null;
  }

  window.MVCMedia = {start: start, admit: admit, handle: handle, stop: stop,
                     switchDevice: switchDevice, setLocal: setLocal, pip: pip, share: share,
                     sharing: function () { return !!screen; },
                     pc: function () { return pc; }};
})();
