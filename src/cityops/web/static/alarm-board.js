// A short tone when the number of critical alarms rises (the board refreshes itself via htmx).
(function () {
  var last = null;
  function beep() {
    try {
      var ctx = new (window.AudioContext || window.webkitAudioContext)();
      var osc = ctx.createOscillator(); osc.frequency.value = 880; osc.connect(ctx.destination);
      osc.start(); setTimeout(function () { osc.stop(); ctx.close(); }, 400);
    } catch (e) { /* no audio device: the colour still tells */ }
  }
  function check() {
    var el = document.getElementById('alarm-board');
    if (!el) return;
    var n = parseInt(el.dataset.critical || '0', 10);
    if (last !== null && n > last) beep();
    last = n;
  }
  document.addEventListener('DOMContentLoaded', check);
  document.addEventListener('htmx:afterSwap', check);
})();
