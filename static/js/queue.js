// Queue pages. Citizen: when the status fragment says it is the citizen's turn, play a short tone,
// move focus to the news and go into the call. Without JavaScript the page shows a link.
(function () {
  "use strict";
  function tone() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    var ctx = new Ctx(), osc = ctx.createOscillator(), gain = ctx.createGain();
    osc.frequency.value = 660;
    gain.gain.setValueAtTime(0.2, ctx.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + 1.2);
    osc.connect(gain).connect(ctx.destination);
    osc.start(); osc.stop(ctx.currentTime + 1.2);
  }
  function check() {
    var turn = document.querySelector("#queue-status[data-turn]");
    if (!turn || turn.dataset.done) return;
    turn.dataset.done = "1";
    try { tone(); } catch (e) { /* no sound is no reason to stay */ }
    var heading = turn.querySelector("h2");
    if (heading) heading.focus();
    setTimeout(function () { window.location.href = turn.dataset.turn; }, 1500);
  }
  // Staff page: no refresh while someone is typing a reason or an invitation in the live list.
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var live = document.getElementById("queue-live");
    if (live && evt.target === live && live.querySelector("details[open]")) evt.preventDefault();
  });
  document.addEventListener("htmx:afterSwap", check);
  document.addEventListener("DOMContentLoaded", check);
})();
