// Emergency/holiday monitoring (EMRG-4).
// Wall view (/screen/mode/{code}): scales the 1920×1080 canvas to the window, polls
// /screen/mode/{code}/live every refresh_s seconds and redraws the tiles (value, level colour,
// last hour with the warn/danger lines) and the change log without reloading the page.
// Console (/console/screen/modes): checks the indicator JSON as it is typed; the server
// checks the meaning and answers in the same place.
(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };

  // ---- console: JSON syntax while typing ---------------------------------------------------
  function jsonCheck(textareaId, errorId) {
    var ta = $(textareaId), box = $(errorId);
    if (!ta || !box) return;
    var serverMessage = box.hidden ? '' : box.textContent;
    function check() {
      try {
        var v = JSON.parse(ta.value);
        if (!Array.isArray(v)) throw new Error('指标定义必须是 JSON 数组 […]');
        ta.classList.remove('mc-invalid');
        if (!serverMessage) box.hidden = true;
        return true;
      } catch (e) {
        serverMessage = '';
        box.textContent = 'JSON 格式有误：' + (e.message || e);
        box.hidden = false;
        ta.classList.add('mc-invalid');
        return false;
      }
    }
    ta.addEventListener('input', function () { serverMessage = ''; check(); });
    ta.form.addEventListener('submit', function (ev) { if (!check()) { ev.preventDefault(); ta.focus(); } });
  }
  jsonCheck('e-indicators', 'indicators-error');
  jsonCheck('n-indicators', 'new-error');

  // ---- wall view ----------------------------------------------------------------------------
  var cfgEl = $('mode-config');
  if (!cfgEl) return;
  var cfg = JSON.parse(cfgEl.textContent);
  var W = 1920, H = 1080, LEVEL = { normal: '正常', warn: '预警', danger: '告急', unknown: '无数据' };
  var COLOR = { normal: '#37e39b', warn: '#ffc24a', danger: '#ff4d4f', unknown: '#7f9cc6' };
  var charts = {}, seen = {}, first = true, timer = null;
  var state = window.cityopsModeWall = { refreshes: 0, errors: 0, levels: {}, logIds: [] };

  function fit() {
    var s = Math.min(window.innerWidth / W, window.innerHeight / H);
    var x = (window.innerWidth - W * s) / 2, y = (window.innerHeight - H * s) / 2;
    $('sm-stage').style.transform = 'translate(' + x + 'px,' + y + 'px) scale(' + s + ')';
  }
  function pad(n) { return (n < 10 ? '0' : '') + n; }
  function shanghai(d) { return new Date(d.getTime() + (d.getTimezoneOffset() + 480) * 60000); }
  function tick() {
    var t = shanghai(new Date());
    $('sm-clock').textContent = pad(t.getHours()) + ':' + pad(t.getMinutes()) + ':' + pad(t.getSeconds());
    $('sm-date').textContent = t.getFullYear() + '-' + pad(t.getMonth() + 1) + '-' + pad(t.getDate());
  }
  function fmt(v) {
    if (v === null || v === undefined) return '--';
    return Math.abs(v - Math.round(v)) < 1e-9 ? String(Math.round(v)) : v.toFixed(1);
  }
  function hhmm(iso) { return iso ? iso.slice(11, 16) : ''; }
  function hms(iso) { return iso ? iso.slice(5, 10) + ' ' + iso.slice(11, 19) : ''; }

  function chartOf(key, el) {
    if (!charts[key] && window.echarts) charts[key] = window.echarts.init(el, null, { renderer: 'canvas' });
    return charts[key];
  }

  function hm(ms) { var t = shanghai(new Date(ms)); return pad(t.getHours()) + ':' + pad(t.getMinutes()); }

  function markLine(value, name, color, outward) {
    return { yAxis: value, name: name, lineStyle: { color: color, type: 'dashed', width: 2 },
      label: { formatter: name + ' ' + fmt(value), color: color, fontSize: 14,
        position: outward === 'up' ? 'insideEndTop' : 'insideEndBottom' } };
  }

  function drawChart(ind, el) {
    var chart = chartOf(ind.key, el);
    if (!chart) return;
    var t = ind.thresholds || {}, lines = [], below = ind.direction === 'below';
    // labels point away from each other: above the higher line, below the lower one
    if (t.warn !== null && t.warn !== undefined) lines.push(markLine(t.warn, '预警', COLOR.warn, below ? 'up' : 'down'));
    if (t.danger !== null && t.danger !== undefined) lines.push(markLine(t.danger, '告急', COLOR.danger, below ? 'down' : 'up'));
    var limits = lines.map(function (l) { return l.yAxis; });
    var data = ind.series.map(function (p) { return [Date.parse(p[0]), p[1]]; });
    function span(v) {
      var lo = Math.min.apply(null, [v.min].concat(limits)), hi = Math.max.apply(null, [v.max].concat(limits));
      return { lo: lo, hi: hi, pad: Math.max((hi - lo) * 0.15, 1) };
    }
    chart.setOption({
      animation: false,
      grid: { left: 52, right: 16, top: 14, bottom: 26 },
      xAxis: { type: 'time', splitNumber: 4, axisLine: { lineStyle: { color: '#2d5a99' } }, splitLine: { show: false },
        axisLabel: { color: '#8fb4e6', fontSize: 14, hideOverlap: true, formatter: hm } },
      yAxis: { type: 'value', splitNumber: 4, axisLabel: { color: '#8fb4e6', fontSize: 14 },
        splitLine: { lineStyle: { color: 'rgba(64,140,240,.15)' } },
        // counts and depths start at 0; a rate near its thresholds (90–100 %) gets a narrow axis
        min: function (v) { var s = span(v); return s.lo > 0 && s.hi - s.lo < s.lo ? Math.floor(s.lo - s.pad) : Math.min(0, s.lo); },
        max: function (v) { var s = span(v); return Math.ceil(s.hi + s.pad); } },
      tooltip: { trigger: 'axis', formatter: function (ps) {
        var p = ps[0];
        return hm(p.value[0]) + '<br>' + ind.label + '：' + fmt(p.value[1]) + ' ' + (ind.unit || '');
      } },
      series: [{ type: 'line', showSymbol: false, data: data, connectNulls: false,
        lineStyle: { color: COLOR[ind.level], width: 3 }, itemStyle: { color: COLOR[ind.level] },
        areaStyle: { color: COLOR[ind.level], opacity: 0.12 },
        markLine: { symbol: 'none', silent: true, data: lines } }]
    }, true);
  }

  function drawTile(ind) {
    var tile = $('tile-' + ind.key);
    if (!tile) return;
    tile.className = 'sm-tile lv-' + ind.level;
    tile.setAttribute('data-level', ind.level);
    tile.querySelector('[data-role=value]').textContent = fmt(ind.value);
    tile.querySelector('[data-role=level]').textContent = LEVEL[ind.level] || ind.level;
    var t = ind.thresholds || {}, parts = [];
    var cmp = ind.direction === 'below' ? '低于 ' : '≥ ';
    if (t.warn !== null && t.warn !== undefined) parts.push('<span class="w">预警 ' + cmp + fmt(t.warn) + '</span>');
    if (t.danger !== null && t.danger !== undefined) parts.push('<span class="d">告急 ' + cmp + fmt(t.danger) + '</span>');
    tile.querySelector('[data-role=lines]').innerHTML = parts.join(' · ');
    drawChart(ind, tile.querySelector('[data-role=chart]'));
    state.levels[ind.key] = ind.level;
  }

  function drawLog(rows) {
    var ul = $('sm-log-list');
    ul.textContent = '';
    rows.forEach(function (r) {
      var li = document.createElement('li');
      li.id = 'log-' + r.id;
      li.className = 'k-' + r.kind + (r.to_level ? ' to-' + r.to_level : '') + (!first && !seen[r.id] ? ' fresh' : '');
      var time = document.createElement('time');
      time.textContent = hms(r.at);
      li.appendChild(time);
      li.appendChild(document.createTextNode(r.message));
      ul.appendChild(li);
      seen[r.id] = true;
    });
    $('sm-log-empty').hidden = rows.length > 0;
    state.logIds = rows.map(function (r) { return r.id; });
  }

  function conn(cls, text) {
    $('sm-conn').className = 'sm-conn ' + cls;
    $('sm-conn-text').textContent = text;
  }

  function summary(indicators, m) {
    var n = { danger: 0, warn: 0, normal: 0, unknown: 0 };
    indicators.forEach(function (i) { n[i.level] = (n[i.level] || 0) + 1; });
    Object.keys(n).forEach(function (k) { var el = $('sum-' + k); if (el) el.textContent = n[k]; });
    var act = $('sm-activated');
    if (act) {
      act.textContent = m.active ? hms(m.activated_at).slice(0, 11) + ' · ' + m.activated_by : '未启用';
    }
  }

  function render(data) {
    data.indicators.forEach(drawTile);
    summary(data.indicators, data.mode);
    drawLog(data.log || []);
    var st = $('sm-state');
    st.className = 'sm-state ' + (data.mode.active ? 'on' : 'off');
    st.textContent = data.mode.active ? '监测中' : '未启用（预览）';
    $('sm-updated').textContent = '更新于 ' + hms(data.computed_at).slice(6);
    if (data.mode.refresh_s && data.mode.refresh_s !== cfg.refresh_s) cfg.refresh_s = data.mode.refresh_s;
    first = false;
  }

  var busy = false;
  function poll() {
    if (busy) return;
    busy = true;
    if (timer) clearTimeout(timer);
    fetch(cfg.live, { headers: { Accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) {
        if (r.status === 401) throw new Error('登录已过期');
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.json();
      })
      .then(function (data) {
        render(data);
        state.refreshes += 1;
        conn('live', '实时 · 每 ' + cfg.refresh_s + ' 秒');
      })
      .catch(function (e) {
        state.errors += 1;
        conn('down', '连接中断（' + (e.message || e) + '），重试中');
      })
      .then(function () { busy = false; timer = setTimeout(poll, Math.max(2, cfg.refresh_s) * 1000); });
  }

  function start() {
    fit();
    tick();
    setInterval(tick, 1000);
    window.addEventListener('resize', function () {
      fit();
      Object.keys(charts).forEach(function (k) { charts[k].resize(); });
    });
    poll();
  }
  state.refreshNow = poll;
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();
})();
