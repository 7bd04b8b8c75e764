// Alarm board (IOT-5): a WebAudio beep when a NEW critical/major alarm appears, a mute switch
// and a night/big-screen mode remembered in localStorage, and an htmx refresh that waits
// while someone is typing and keeps opened comment panels open.
// Browsers only start audio after a user gesture: "开启声音" (or any first click) unlocks it.
(function () {
  var KEY_MUTED = 'cityops.alarmBoard.muted', KEY_NIGHT = 'cityops.alarmBoard.night';
  var LOUD = { critical: 2, major: 1 };
  var ctx = null, seen = null, openNotes = [];
  // Read by people debugging a silent board, and by the browser test.
  var st = window.cityopsAlarmBoard = { audioCreated: false, audioState: 'none', beeps: 0, lastBeep: '',
                                        refreshes: 0, held: 0 };

  function store(key, value) { try { localStorage.setItem(key, value); } catch (e) { /* private mode */ } }
  function stored(key) { try { return localStorage.getItem(key); } catch (e) { return null; } }
  function muted() { return stored(KEY_MUTED) === '1'; }
  function $(id) { return document.getElementById(id); }

  function showState() {
    var el = $('sound-state'), mute = $('sound-mute'), enable = $('sound-enable');
    if (!el) return;
    var on = ctx && ctx.state === 'running';
    if (mute) { mute.setAttribute('aria-pressed', muted() ? 'true' : 'false'); mute.textContent = muted() ? '已静音' : '静音'; }
    if (enable) enable.hidden = !!on;  // last in the bar: hiding it moves no other button under the pointer
    el.textContent = !(window.AudioContext || window.webkitAudioContext) ? '此浏览器不支持声音提示，请留意颜色'
      : muted() ? '已静音：新告警只以颜色提示' : on ? '声音已开启：新的紧急/重要告警会响铃'
      : '声音未开启：浏览器需要先点击一次“开启声音”';
    el.className = on && !muted() ? 'sound-on' : 'muted';
  }

  function unlock() {
    var AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) { showState(); return; }
    if (!ctx) { ctx = new AC(); st.audioCreated = true; }
    var done = function () { st.audioState = ctx.state; showState(); };
    var p = ctx.state === 'suspended' && ctx.resume ? ctx.resume() : null;
    if (p && p.then) p.then(done, done); else done();
  }

  function tone(freq, at, dur, type) {
    var osc = ctx.createOscillator(), gain = ctx.createGain();
    osc.type = type;
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.35, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + dur);
    osc.connect(gain);
    gain.connect(ctx.destination);
    osc.start(at);
    osc.stop(at + dur + 0.05);
  }

  // critical: three urgent two-tone pulses; major: two soft beeps.
  function beep(severity, force) {
    if ((!force && muted()) || !ctx || ctx.state !== 'running') return false;
    var t = ctx.currentTime + 0.02, i;
    if (severity === 'critical') {
      for (i = 0; i < 3; i++) { tone(988, t + i * 0.5, 0.18, 'square'); tone(784, t + i * 0.5 + 0.22, 0.18, 'square'); }
    } else {
      tone(660, t, 0.25, 'sine'); tone(660, t + 0.35, 0.25, 'sine');
    }
    st.beeps += 1;
    st.lastBeep = severity;
    return true;
  }

  // Alarms worth a sound: active critical/major rows, id → severity.
  function loudAlarms() {
    var out = {};
    document.querySelectorAll('#alarm-board tr.alarm-row[data-state="active"]').forEach(function (tr) {
      if (LOUD[tr.dataset.severity]) out[tr.dataset.alarmId] = tr.dataset.severity;
    });
    return out;
  }

  // New loud alarms ring, and so does one escalated above anything it had (not a de-escalation).
  function scan() {
    var now = loudAlarms(), worst = '', id;
    if (seen !== null) {
      for (id in now) {
        if ((seen[id] || 0) >= LOUD[now[id]]) continue;
        if (!worst || LOUD[now[id]] > LOUD[worst]) worst = now[id];
        var tr = document.getElementById('alarm-' + id);
        if (tr) tr.classList.add('alarm-new');  // seen at a glance even when muted
      }
      if (worst) beep(worst);
    }
    seen = seen || {};
    for (id in now) seen[id] = Math.max(seen[id] || 0, LOUD[now[id]]);
  }

  // Someone is writing a comment, an ack note or a clear reason: do not swap the board under them.
  function editing() {
    var board = $('alarm-board');
    if (!board) return false;
    var a = document.activeElement;
    if (a && board.contains(a) && /^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName) && a.type !== 'hidden') return true;
    return Array.prototype.some.call(board.querySelectorAll('textarea, input:not([type=hidden])'),
                                     function (el) { return el.value.trim() !== ''; });
  }

  function setNight(on) {
    document.body.classList.toggle('night', on);
    var b = $('night-toggle');
    if (b) b.setAttribute('aria-pressed', on ? 'true' : 'false');
  }

  function init() {
    if (!$('alarm-board')) return;
    setNight(stored(KEY_NIGHT) === '1');
    $('sound-enable').addEventListener('click', unlock);
    $('sound-mute').addEventListener('click', function () {
      store(KEY_MUTED, muted() ? '0' : '1');
      showState();
    });
    $('sound-test').addEventListener('click', function () { unlock(); setTimeout(function () { beep('critical', true); }, 50); });
    $('night-toggle').addEventListener('click', function () {
      var on = !document.body.classList.contains('night');
      store(KEY_NIGHT, on ? '1' : '0');
      setNight(on);
    });
    // Any first click on the page is a gesture too: unlock then, unless muted.
    document.addEventListener('pointerdown', function first() {
      document.removeEventListener('pointerdown', first, true);
      if (!muted()) unlock();
    }, true);
    document.body.addEventListener('htmx:beforeRequest', function (evt) {
      if (evt.detail.elt && evt.detail.elt.id === 'alarm-board' && editing()) { evt.preventDefault(); st.held += 1; }
    });
    document.body.addEventListener('htmx:beforeSwap', function (evt) {
      if (evt.detail.target && evt.detail.target.id === 'alarm-board') {
        openNotes = Array.prototype.map.call(document.querySelectorAll('#alarm-board details.alarm-notes[open]'),
                                             function (d) { return d.id; });
      }
    });
    // A failed action (expired form, lost connection) must not fail silently on a wall screen.
    function failed(msg) { var e = $('board-error'); if (e) { e.textContent = msg; e.hidden = false; } }
    document.body.addEventListener('htmx:responseError', function (evt) {
      var code = evt.detail.xhr ? evt.detail.xhr.status : 0;
      failed(code === 403 ? '操作失败：表单已过期或无权限，请刷新页面后重试' : '操作失败（HTTP ' + code + '），请稍后重试');
    });
    document.body.addEventListener('htmx:sendError', function () { failed('与服务器的连接中断，告警台暂未更新'); });
    document.body.addEventListener('htmx:afterSettle', function () {
      var e = $('board-error');
      if (e) e.hidden = true;
      openNotes.forEach(function (id) { var d = $(id); if (d) d.open = true; });
      openNotes = [];
      st.refreshes += 1;
      scan();
    });
    showState();
    scan();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init); else init();
})();
