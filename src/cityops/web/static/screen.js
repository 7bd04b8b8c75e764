// The big screen (SYS-SCREEN): scales the 1920×1080 canvas to the wall, draws every panel from
// its snapshot and keeps it live — SSE /screen/stream, reconnect with backoff, polling
// /screen/data every 10 s when SSE keeps failing. Charts are updated with setOption, never rebuilt.
(function () {
  'use strict';
  var W = 1920, H = 1080;
  var cfg = JSON.parse(document.getElementById('screen-config').textContent);
  var qs = cfg.street ? '?street=' + encodeURIComponent(cfg.street) : '';
  var state = window.cityopsScreen = { updates: {}, lastUpdate: null, connected: false, mode: 'connecting',
    transport: 'sse', failures: 0, errors: [] };
  state.streetCodes = {};
  cfg.streets.forEach(function (s) { state.streetCodes[s.name] = s.code; });
  var data = {};       // panel → last data drawn
  var versions = {};   // panel → last version drawn
  var charts = {};     // element id → echarts instance
  var scale = 1, dpr = 1;

  var SEV_ORDER = ['critical', 'major', 'warning', 'info'];
  var SEV_LABEL = { critical: '紧急', major: '重要', warning: '警告', info: '提示' };
  var SEV_COLOR = { critical: '#ff4d4f', major: '#ff9c3a', warning: '#ffd84a', info: '#4fc3ff' };
  var TXT = '#9cc3f5', LINE = 'rgba(64,140,240,.18)';

  // -- helpers --------------------------------------------------------------------------------
  function $(id) { return document.getElementById(id); }
  function text(id, v) { var el = $(id); if (el) el.textContent = v; }
  function num(n) { return n == null ? '--' : Number(n).toLocaleString('zh-CN'); }
  function pct(r, digits) { return r == null ? '--' : (r * 100).toFixed(digits == null ? 1 : digits); }
  function esc(s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  var hhmm = new Intl.DateTimeFormat('zh-CN', { timeZone: 'Asia/Shanghai', hour: '2-digit', minute: '2-digit', hour12: false });
  var hhmmss = new Intl.DateTimeFormat('zh-CN', { timeZone: 'Asia/Shanghai', hour: '2-digit', minute: '2-digit',
    second: '2-digit', hour12: false });
  var ymd = new Intl.DateTimeFormat('zh-CN', { timeZone: 'Asia/Shanghai', year: 'numeric', month: 'long', day: 'numeric',
    weekday: 'long' });
  function timeOf(iso) { if (!iso) return ''; var d = new Date(iso); return isNaN(d) ? '' : hhmm.format(d); }
  function shortStreet(name) { return String(name || '').replace(/街道$/, ''); }
  function pctText(r) { return r == null ? '--' : (r >= 1 ? '100' : pct(r)) + '%'; }
  function streetScreen(code) { if (code && !cfg.street) window.location.href = '/screen/street/' + encodeURIComponent(code); }

  // "暂无数据" inside a box (chart or list) when it has nothing to show
  function subEmpty(el, empty) {
    if (!el) return;
    var note = el.querySelector(':scope > .sub-empty');
    if (empty && !note) {
      note = document.createElement('div');
      note.className = 'sub-empty';
      note.textContent = '暂无数据';
      el.appendChild(note);
    } else if (!empty && note) {
      note.remove();
    }
  }
  // the whole panel: 加载中 until its first snapshot, 暂无数据 when it has nothing at all
  function overlay(panelId, label) {
    var p = $(panelId);
    if (!p) return;
    var o = p.querySelector(':scope > .state-overlay');
    if (label && !o) {
      o = document.createElement('div');
      o.className = 'state-overlay';
      p.appendChild(o);
    }
    if (label) o.textContent = label; else if (o) o.remove();
  }

  // -- scaling --------------------------------------------------------------------------------
  function fit() {
    var vw = window.innerWidth, vh = window.innerHeight;
    scale = Math.min(vw / W, vh / H);
    var x = (vw - W * scale) / 2, y = (vh - H * scale) / 2;
    $('stage').style.transform = 'translate(' + x + 'px,' + y + 'px) scale(' + scale + ')';
    var want = Math.max(1, (window.devicePixelRatio || 1) * scale);
    if (Math.abs(want - dpr) > 0.05) {  // sharp charts on a 4K wall: render at the scaled resolution
      dpr = want;
      Object.keys(charts).forEach(function (id) { charts[id].dispose(); delete charts[id]; });
      mapReady = false;
      Object.keys(data).forEach(function (name) { draw(name, data[name]); });
    }
  }

  function chart(id) {
    if (!window.echarts) return null;
    if (!charts[id]) charts[id] = echarts.init($(id), null, { devicePixelRatio: dpr, renderer: 'canvas' });
    return charts[id];
  }
  function axis(extra) {
    return Object.assign({ axisLabel: { color: TXT, fontSize: 16 }, axisLine: { lineStyle: { color: LINE } },
      axisTick: { show: false }, splitLine: { lineStyle: { color: LINE } } }, extra || {});
  }
  var TOOLTIP = { backgroundColor: 'rgba(6,18,43,.92)', borderColor: '#3a86e8', textStyle: { color: '#eaf4ff', fontSize: 16 } };

  // columns per street (or per type on a street's screen); labels turn when they would touch
  function barsByStreet(id, rows, series, clickable, showY) {
    var el = $(id), c = chart(id);
    subEmpty(el, !rows.length);
    if (!c) return;
    var turn = rows.length > 6 ? 32 : 0;
    c.setOption({
      animationDuration: 600, tooltip: Object.assign({ trigger: 'axis' }, TOOLTIP),
      grid: { left: 8, right: 8, top: 26, bottom: 4, containLabel: true },
      legend: { show: series.length > 1, top: 0, right: 4, itemHeight: 10, textStyle: { color: TXT, fontSize: 16 } },
      xAxis: axis({ type: 'category', data: rows.map(function (r) { return r.label || shortStreet(r.name); }),
        axisLabel: { color: TXT, fontSize: 16, interval: 0, rotate: turn, margin: 8 }, splitLine: { show: false } }),
      yAxis: axis({ type: 'value', show: !!showY, minInterval: 1, splitNumber: 3, axisLabel: { color: TXT, fontSize: 16 } }),
      series: series
    }, { replaceMerge: ['series'] });
    if (clickable && !c.__streetClick) {
      c.__streetClick = true;
      c.on('click', function (p) { var r = (c.__rows || [])[p.dataIndex]; if (r) streetScreen(r.code); });
    }
    c.__rows = rows;
  }

  function hbars(id, rows, opts) {
    var el = $(id), c = chart(id);
    subEmpty(el, !rows.length);
    if (!c) return;
    c.setOption({
      animationDuration: 600, tooltip: Object.assign({ trigger: 'axis', axisPointer: { type: 'shadow' } }, TOOLTIP),
      grid: { left: opts.left || 100, right: opts.right || 58, top: 6, bottom: 4 },
      xAxis: { type: 'value', show: false, max: opts.max },
      yAxis: axis({ type: 'category', inverse: true, show: rows.length > 0, data: rows.map(function (r) { return r.label; }),
        axisLabel: { color: '#cfe2ff', fontSize: 16, width: (opts.left || 100) - 10, overflow: 'truncate' } }),
      series: [{ type: 'bar', barWidth: '55%', barMaxWidth: 22, data: rows.map(function (r) { return r.value; }),
        showBackground: true, backgroundStyle: { color: 'rgba(64,140,240,.12)' },
        itemStyle: { borderRadius: 3, color: new echarts.graphic.LinearGradient(0, 0, 1, 0,
          [{ offset: 0, color: opts.from || '#1e6fd9' }, { offset: 1, color: opts.to || '#4fe3ff' }]) },
        label: { show: true, position: 'right', color: '#eaf4ff', fontSize: 16, formatter: opts.fmt || '{c}' } }]
    }, { replaceMerge: ['series'] });
  }

  // -- panels ---------------------------------------------------------------------------------
  var render = {};

  render.devices = function (d) {
    overlay('panel-devices', d.total ? '' : '暂无数据');
    text('dev-rate', d.rate != null && d.rate >= 1 ? '100' : pct(d.rate));
    text('dev-online', num(d.online));
    text('dev-total', num(d.total));
    text('kpi-rate', pctText(d.rate));
    var types = (d.by_type || []).slice().sort(function (a, b) { return b.total - a.total; }).slice(0, 5);
    hbars('chart-dev-type', types.map(function (t) { return { label: t.label || t.type, value: t.rate == null ? 0 : +(t.rate * 100).toFixed(1) }; }),
      { left: 110, max: 100, fmt: '{c}%', from: '#0f8f6c', to: '#37e39b' });
    // a street's screen has one street: its columns are the device types instead
    var streets = cfg.street ? (d.by_type || []).map(function (t) { return { label: t.label || t.type, total: t.total, online: t.online }; })
      : (d.by_street || []);
    barsByStreet('chart-dev-street', streets, [
      { name: '在线', type: 'bar', stack: 'd', barWidth: '52%', itemStyle: { color: '#2fd3a7' },
        data: streets.map(function (s) { return s.online; }) },
      { name: '离线', type: 'bar', stack: 'd', itemStyle: { color: 'rgba(150,170,200,.45)', borderRadius: [3, 3, 0, 0] },
        data: streets.map(function (s) { return s.total - s.online; }) }
    ], !cfg.street, true);
    var hist = d.history || [];
    var known = hist.filter(function (h) { return h.rate != null; });
    overlay('panel-devices-history', d.total || known.length ? '' : '暂无数据');
    var el = $('chart-dev-history'), c = chart('chart-dev-history');
    subEmpty(el, !known.length);
    if (!c) return;
    var lo = known.length ? Math.floor(Math.min.apply(null, known.map(function (h) { return h.rate * 100; })) - 2) : 0;
    c.setOption({
      animationDuration: 600, tooltip: Object.assign({ trigger: 'axis', valueFormatter: function (v) { return v == null ? '--' : v + '%'; } }, TOOLTIP),
      grid: { left: 52, right: 64, top: 12, bottom: 28 },
      xAxis: axis({ type: 'category', boundaryGap: false, data: hist.map(function (h) { return h.day.slice(5); }),
        splitLine: { show: false } }),
      yAxis: axis({ type: 'value', min: Math.max(0, Math.min(lo, 90)), max: 100,
        axisLabel: { color: TXT, fontSize: 16, formatter: '{value}%' } }),
      series: [{ type: 'line', smooth: true, connectNulls: true, showSymbol: known.length < 3, symbolSize: 8,
        endLabel: { show: true, color: '#eaf4ff', fontSize: 16, formatter: function (p) { return p.value == null ? '' : p.value + '%'; } },
        lineStyle: { color: '#4fe3ff', width: 3 }, itemStyle: { color: '#4fe3ff' },
        areaStyle: { color: new echarts.graphic.LinearGradient(0, 0, 0, 1, [{ offset: 0, color: 'rgba(79,227,255,.45)' },
          { offset: 1, color: 'rgba(79,227,255,0)' }]) },
        data: hist.map(function (h) { return h.rate == null ? null : +(h.rate * 100).toFixed(2); }) }]
    });
  };

  var seenAlarms = null;  // the ids of the ticker's previous draw: a new critical/major one flashes
  render.alarms = function (d) {
    overlay('panel-alarms', '');
    text('alarm-active', num(d.active));
    text('alarm-today', num(d.today));
    text('kpi-alarms', num(d.active));
    var sev = d.by_severity || {};
    var keys = SEV_ORDER.filter(function (k) { return k in sev; });
    $('sev-row').innerHTML = keys.map(function (k) {
      return '<div class="sev sev-' + k + '"><b id="sev-' + k + '">' + num(sev[k]) + '</b><span>' + SEV_LABEL[k] + '</span></div>';
    }).join('');
    var list = $('ticker-list'), latest = d.latest || [];
    var first = seenAlarms === null, fresh = false;
    seenAlarms = seenAlarms || {};
    var now = {};
    list.innerHTML = latest.map(function (a) {
      var isNew = !first && !seenAlarms[a.id] && (a.severity === 'critical' || a.severity === 'major');
      fresh = fresh || isNew;
      var where = [a.device, a.street].filter(Boolean).join(' · ');
      return '<li class="s-' + esc(a.severity) + (isNew ? ' flash' : '') + '" data-alarm-id="' + esc(a.id) + '" title="点击查看告警详情">' +
        '<span class="tk-sev">' + esc(a.severity_label || SEV_LABEL[a.severity] || a.severity) + '</span>' +
        '<span class="tk-msg">' + esc(a.message || a.type) + (where ? '<small>' + esc(where) + '</small>' : '') + '</span>' +
        '<span class="tk-at">' + timeOf(a.at) + '</span></li>';
    }).join('');
    latest.forEach(function (a) { now[a.id] = true; });
    seenAlarms = now;  // bounded: a wall runs for months
    if (fresh) { $('ticker').scrollTop = 0; state.flashes = (state.flashes || 0) + 1; }
    subEmpty($('ticker'), !latest.length);
  };
  $('ticker-list').addEventListener('click', function (e) {
    var li = e.target.closest('li[data-alarm-id]');
    if (li) window.open('/console/alarms/' + encodeURIComponent(li.dataset.alarmId), '_blank', 'noopener');
  });
  setInterval(function () {  // the ticker scrolls one row at a time when the list is longer than the box
    var t = $('ticker');
    if (!t || t.scrollHeight <= t.clientHeight + 2) return;
    var next = t.scrollTop + 46;
    t.scrollTo({ top: next + t.clientHeight > t.scrollHeight + 23 ? 0 : next, behavior: 'smooth' });
  }, 3500);

  render.events = function (d) {
    overlay('panel-events', '');
    var ot = d.on_time || {};
    text('ev-today', num(d.today));
    text('ev-closed', num(d.closed_today));
    text('ev-ontime', ot.rate == null ? '--' : (ot.rate >= 1 ? '100' : pct(ot.rate, 0)) + '%');
    text('kpi-events', num(d.today));
    text('kpi-ontime', ot.rate == null ? '--' : (ot.rate >= 1 ? '100' : pct(ot.rate, 0)) + '%');
    var cats = (d.by_category || []).slice().sort(function (a, b) { return b.count - a.count; }).slice(0, 4);
    hbars('chart-ev-category', cats.map(function (c) { return { label: c.name, value: c.count }; }),
      { left: 96, right: 40, from: '#5b3cc4', to: '#b48cff' });
    var src = d.by_source || [], el = $('chart-ev-source'), c = chart('chart-ev-source');
    subEmpty(el, !src.length);
    if (c) {
      c.setOption({
        tooltip: Object.assign({ trigger: 'item', formatter: '{b}：{c}（{d}%）' }, TOOLTIP),
        color: ['#4fc3ff', '#37e39b', '#ffb13a', '#b48cff', '#ff6b9a', '#6fe3ff'],
        legend: { orient: 'vertical', right: 0, top: 'middle', itemWidth: 12, itemHeight: 12, itemGap: 8,
          textStyle: { color: '#cfe2ff', fontSize: 16 }, formatter: function (name) {
            var hit = src.find(function (s) { return (s.label || s.source) === name; });
            return name + ' ' + (hit ? hit.count : '');
          } },
        series: [{ type: 'pie', radius: ['42%', '72%'], center: ['26%', '50%'], label: { show: false }, showEmptyCircle: false,
          data: src.map(function (s) { return { name: s.label || s.source, value: s.count }; }) }]
      }, { replaceMerge: ['series'] });
    }
    if (cfg.street) { latestEvents(d.latest || []); return; }
    var streets = d.by_street || [];
    barsByStreet('chart-ev-street', streets, [{ name: '事件', type: 'bar', barWidth: '46%',
      itemStyle: { borderRadius: [3, 3, 0, 0], color: new echarts.graphic.LinearGradient(0, 0, 0, 1,
        [{ offset: 0, color: '#b48cff' }, { offset: 1, color: 'rgba(91,60,196,.4)' }]) },
      label: { show: true, position: 'top', color: '#eaf4ff', fontSize: 16 },
      data: streets.map(function (s) { return s.count; }) }], true);
  };

  // a street's screen lists its latest events where the district shows events by street
  function latestEvents(rows) {
    var el = $('chart-ev-street');
    el.classList.add('ev-latest');
    el.innerHTML = '<ul>' + rows.slice(0, 4).map(function (e) {
      return '<li data-event-id="' + esc(e.id) + '" title="点击查看事件详情"><span class="ev-state">' + esc(e.state_label || e.state) +
        '</span><span class="ev-title">' + esc(e.title) + '</span><span class="ev-at">' + timeOf(e.at) + '</span></li>';
    }).join('') + '</ul>';
    subEmpty(el, !rows.length);
  }
  $('chart-ev-street').addEventListener('click', function (e) {
    var li = e.target.closest('li[data-event-id]');
    if (li) window.open('/console/events/' + encodeURIComponent(li.dataset.eventId), '_blank', 'noopener');
  });

  render.dispatch = function (d) {
    text('dsp-open', num(d.open));
    text('dsp-overdue', num(d.overdue));
    text('dsp-dispatched', num(d.dispatched_today));
    text('dsp-closed', num(d.closed_today));
    text('dsp-returned', num(d.returned_today));
    text('dsp-failed', num(d.failed_outbox));
    text('kpi-open', num(d.open));
    var any = ['open', 'overdue', 'dispatched_today', 'closed_today', 'returned_today', 'failed_outbox']
      .some(function (k) { return d[k]; });
    overlay('panel-dispatch', any ? '' : '暂无数据');
  };

  render.callout = function (d) {
    overlay('panel-callout', '');
    text('co-today', num(d.today));
    text('co-answered', num(d.answered));
    text('co-rate', d.rate == null ? '--' : pct(d.rate, 0) + '%');
    var rows = d.by_scenario || [], el = $('chart-callout'), c = chart('chart-callout');
    subEmpty(el, !rows.length);
    if (!c) return;
    c.setOption({
      tooltip: Object.assign({ trigger: 'axis', axisPointer: { type: 'shadow' } }, TOOLTIP),
      legend: { show: rows.length > 0, top: 0, right: 4, itemHeight: 10, textStyle: { color: TXT, fontSize: 16 } },
      grid: { left: 110, right: 40, top: 26, bottom: 2 },
      xAxis: { type: 'value', show: false },
      yAxis: axis({ type: 'category', inverse: true, show: rows.length > 0, data: rows.map(function (r) { return r.label || r.scenario; }),
        axisLabel: { color: '#cfe2ff', fontSize: 16, width: 100, overflow: 'truncate' } }),
      series: [
        { name: '呼出', type: 'bar', barGap: '10%', itemStyle: { color: '#2f7fe0', borderRadius: 2 },
          label: { show: true, position: 'right', color: '#eaf4ff', fontSize: 16 }, data: rows.map(function (r) { return r.total; }) },
        { name: '接通', type: 'bar', itemStyle: { color: '#37e39b', borderRadius: 2 },
          label: { show: true, position: 'right', color: '#eaf4ff', fontSize: 16 }, data: rows.map(function (r) { return r.answered; }) }
      ]
    }, { replaceMerge: ['series'] });
  };

  render.systems = function (d) {
    overlay('panel-systems', '');
    var counts = d.counts || {};
    text('sys-green', num(counts.green));
    text('sys-amber', num(counts.amber));
    text('sys-red', num(counts.red));
    var rank = { red: 0, amber: 1, green: 2 };
    var rows = (d.systems || []).slice().sort(function (a, b) { return (rank[a.status] - rank[b.status]) || (a.id - b.id); });
    var box = $('sys-tiles');
    box.innerHTML = rows.map(function (s) {
      return '<div class="sys-tile ' + esc(s.status) + '" data-code="' + esc(s.code) + '" title="' + esc(s.reason || '运行正常') + '">' +
        '<i class="st st-' + esc(s.status) + '"></i><span>' + esc(s.name) + '</span></div>';
    }).join('');
    box.style.gridTemplateColumns = 'repeat(' + (rows.length > 12 ? 3 : 2) + ', 1fr)';
    subEmpty(box.parentNode, !rows.length);
  };

  render.duty = function (d) {
    overlay('panel-duty', '');
    var rows = d.on_duty || [];
    $('duty-list').style.gridTemplateColumns = rows.length > 3 ? '1fr 1fr' : '1fr';
    $('duty-list').innerHTML = rows.slice(0, 6).map(function (p) {
      return '<li><span class="d-role">' + esc(p.role_label || p.team_name || p.role) + '</span><span class="d-name">' + esc(p.name) +
        '</span>' + (p.until ? '<span class="d-until">至 ' + timeOf(p.until) + '</span>' : '') + '</li>';
    }).join('');
    subEmpty($('duty-list').parentNode, !rows.length || d.nobody);
  };

  // -- the map --------------------------------------------------------------------------------
  var geo = null, mapReady = false, bounds = null, hasGrids = false;
  var layers = { devices: true, alarms: true, events: true, grids: true };

  function loadGeo() {
    return fetch('/screen/geo' + qs, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) { if (!r.ok) throw new Error('geo ' + r.status); return r.json(); })
      .then(function (doc) {
        var streets = doc.type === 'FeatureCollection' ? doc : (doc.streets || { type: 'FeatureCollection', features: [] });
        var grids = doc.grids || { type: 'FeatureCollection', features: [] };
        if (cfg.street) {  // a street's screen shows its own outline and grids
          streets = { type: 'FeatureCollection', features: streets.features.filter(function (f) { return f.properties.code === cfg.street; }) };
          grids = { type: 'FeatureCollection', features: grids.features.filter(function (f) {
            return !f.properties.street_code || f.properties.street_code === cfg.street; }) };
        }
        var xs = [], ys = [];
        streets.features.concat(grids.features).forEach(function (f) {
          JSON.stringify(f.geometry.coordinates).replace(/\[(-?[\d.]+),(-?[\d.]+)\]/g, function (_, x, y) {
            xs.push(+x); ys.push(+y); return '';
          });
        });
        if (!xs.length) throw new Error('geo: no features');
        bounds = [[Math.min.apply(null, xs), Math.max.apply(null, ys)], [Math.max.apply(null, xs), Math.min.apply(null, ys)]];
        echarts.registerMap('screen-streets', streets);
        hasGrids = grids.features.length > 0;
        if (hasGrids) echarts.registerMap('screen-grids', grids);
        geo = { streets: streets, grids: grids, labels: streets.features.map(function (f) {
          return { name: f.properties.name, code: f.properties.code, value: centroid(f.geometry) };
        }) };
        state.mapStreets = streets.features.map(function (f) { return f.properties.name; });
        if (data.map) draw('map', data.map); else overlay('panel-map', '加载中…');
      })
      .catch(function (e) { note(String(e)); overlay('panel-map', '暂无数据'); });
  }

  // where a street's name goes: the area centroid of its largest ring (names ride above the
  // markers in their own series, so an alarm never hides a street's name)
  function centroid(g) {
    var polys = g.type === 'MultiPolygon' ? g.coordinates : [g.coordinates], best = null;
    polys.forEach(function (poly) {
      var ring = poly[0], a = 0, cx = 0, cy = 0;
      for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        var f = ring[j][0] * ring[i][1] - ring[i][0] * ring[j][1];
        a += f; cx += (ring[j][0] + ring[i][0]) * f; cy += (ring[j][1] + ring[i][1]) * f;
      }
      if (a && (!best || Math.abs(a) > Math.abs(best.a))) best = { a: a, x: cx / (3 * a), y: cy / (3 * a) };
    });
    return best ? [best.x, best.y] : [0, 0];
  }

  function streetStats(name) {
    var rows = (data.map && data.map.streets) || [];
    for (var i = 0; i < rows.length; i++) if (rows[i].name === name) return rows[i];
    return null;
  }

  function mapOption(d) {
    var common = { boundingCoords: bounds, left: 24, right: 24, top: 20, bottom: 52, roam: false };
    var geos = [Object.assign({
      map: 'screen-streets', z: 1, selectedMode: false,
      label: { show: false },
      itemStyle: { areaColor: { type: 'radial', x: 0.5, y: 0.5, r: 0.8, colorStops: [{ offset: 0, color: '#123a7a' },
        { offset: 1, color: '#0a2352' }] }, borderColor: '#4fb4ff', borderWidth: 2.2,
        shadowColor: 'rgba(40,150,255,.6)', shadowBlur: 12 },
      emphasis: { itemStyle: { areaColor: '#1d5bb0' }, label: { show: false } },
      tooltip: { show: true }
    }, common)];
    if (hasGrids) {
      geos.push(Object.assign({ map: 'screen-grids', z: 2, silent: true, show: layers.grids, label: { show: false },
        itemStyle: { areaColor: 'rgba(0,0,0,0)', borderColor: 'rgba(120,190,255,.35)', borderWidth: 0.7, borderType: 'dashed' },
        emphasis: { disabled: true } }, common));
    }
    return {
      tooltip: Object.assign({ trigger: 'item', formatter: function (p) {
        if (p.componentType === 'geo' || p.seriesName === '街道') {
          var s = streetStats(p.name);
          return esc(p.name) + (s ? '<br>设备 ' + num(s.devices) + '（在线 ' + num(s.online) + '）<br>活跃告警 ' + num(s.alarms) +
            '<br>在办事件 ' + num(s.events) : '') + (cfg.street ? '' : '<br><i>点击进入街道大屏</i>');
        }
        var v = p.data || {};
        if (p.seriesName === '设备') return '设备 ' + num(v.value[2]) + ' 台，在线 ' + num(v.value[3]);
        return esc(v.title || '') + '<br>' + timeOf(v.at);
      } }, TOOLTIP),
      geo: geos,
      series: mapSeries(d)
    };
  }

  function mapSeries(d) {
    var clusters = layers.devices ? (d.device_clusters || []) : [];
    var alarms = layers.alarms ? (d.alarms || []) : [];
    var events = layers.events ? (d.events || []) : [];
    return [
      { name: '街道', type: 'scatter', coordinateSystem: 'geo', geoIndex: 0, z: 10, symbolSize: 1,
        itemStyle: { color: 'rgba(0,0,0,0)' }, cursor: cfg.street ? 'default' : 'pointer',
        label: { show: true, position: 'inside', color: '#eaf4ff', fontSize: cfg.street ? 26 : 18, fontWeight: 700,
          textBorderColor: '#03102a', textBorderWidth: 4, formatter: function (p) { return cfg.street ? p.name : shortStreet(p.name); } },
        emphasis: { scale: false, label: { color: '#6fe3ff' } },
        data: geo.labels },
      { name: '设备', type: 'scatter', coordinateSystem: 'geo', geoIndex: 0, z: 3,
        symbolSize: function (v) { return Math.max(5, Math.min(26, 3 + Math.sqrt(v[2]) * 2.2)); },
        itemStyle: { color: function (p) { var v = p.value; return v[2] && v[3] / v[2] < 0.8 ? 'rgba(255,177,58,.8)' : 'rgba(47,211,167,.7)'; },
          borderColor: 'rgba(255,255,255,.35)', borderWidth: 0.5 },
        data: clusters.map(function (c) { return { value: [c.lon, c.lat, c.count, c.online] }; }) },
      { name: '事件', type: 'scatter', coordinateSystem: 'geo', geoIndex: 0, z: 4, symbol: 'diamond', symbolSize: 15,
        itemStyle: { color: '#b48cff', borderColor: '#fff', borderWidth: 1 },
        data: events.map(function (e) { return { value: [e.lon, e.lat], id: e.id, title: (e.number ? e.number + ' ' : '') + e.title, at: e.at }; }) },
      { name: '告警', type: 'effectScatter', coordinateSystem: 'geo', geoIndex: 0, z: 5, showEffectOn: 'render',
        rippleEffect: { scale: 4, brushType: 'stroke', period: 3 },
        symbolSize: function (v, p) { return { critical: 16, major: 13 }[p.data.severity] || 10; },
        itemStyle: { color: function (p) { return SEV_COLOR[p.data.severity] || '#4fc3ff'; } },
        data: alarms.map(function (a) { return { value: [a.lon, a.lat], id: a.id, severity: a.severity, title: a.title, at: a.at }; }) }
    ];
  }

  render.map = function (d) {
    if (!geo || !window.echarts) return;  // drawn when the outlines arrive
    overlay('panel-map', '');
    var c = chart('chart-map');
    if (!mapReady) {
      c.setOption(mapOption(d), true);
      c.on('click', function (p) {
        if (p.componentType === 'geo') {
          var f = geo.streets.features.find(function (x) { return x.properties.name === p.name; });
          if (f) streetScreen(f.properties.code);
        } else if (p.seriesName === '街道' && p.data) {
          streetScreen(p.data.code);
        } else if (p.seriesName === '告警' && p.data) {
          window.open('/console/alarms/' + encodeURIComponent(p.data.id), '_blank', 'noopener');
        } else if (p.seriesName === '事件' && p.data) {
          window.open('/console/events/' + encodeURIComponent(p.data.id), '_blank', 'noopener');
        }
      });
      mapReady = true;
    } else {
      c.setOption({ series: mapSeries(d) });
    }
    var empty = !(d.device_clusters || []).length && !(d.alarms || []).length && !(d.events || []).length;
    subEmpty($('chart-map'), empty);
  };

  Array.prototype.forEach.call(document.querySelectorAll('#map-layers input'), function (box) {
    box.addEventListener('change', function () {
      layers[box.dataset.layer] = box.checked;
      var c = charts['chart-map'];
      if (!c || !data.map) return;
      if (box.dataset.layer === 'grids') { if (hasGrids) c.setOption({ geo: [{}, { show: box.checked }] }); }
      else c.setOption({ series: mapSeries(data.map) });
    });
  });

  // -- snapshots ------------------------------------------------------------------------------
  function note(msg) { state.errors.push(msg); if (state.errors.length > 50) state.errors.shift(); }

  function draw(name, d) {
    if (!render[name]) return;
    try {
      render[name](d);
    } catch (e) {
      note(name + ': ' + e);
      console.error('screen panel ' + name, e);
    }
  }

  function snapshot(snap) {
    if (!snap || !snap.name) return;
    state.lastUpdate = new Date().toISOString();
    showTime();
    if (versions[snap.name] === snap.version && data[snap.name]) return;
    versions[snap.name] = snap.version;
    data[snap.name] = snap.data || {};
    draw(snap.name, data[snap.name]);
    state.updates[snap.name] = (state.updates[snap.name] || 0) + 1;
  }

  // -- connection: SSE, backoff, polling fallback ----------------------------------------------
  var es = null, retryTimer = null, pollTimer = null;
  var MODES = { live: ['conn-live', '实时'], retry: ['conn-retry', '重连中'], down: ['conn-down', '已断开'],
    connecting: ['conn-connecting', '连接中'] };

  function setConn(mode) {
    state.mode = mode;
    state.connected = mode === 'live';
    var m = MODES[mode];
    $('conn').className = 'conn ' + m[0];
    text('conn-state', m[1] + (mode === 'down' && pollTimer ? '（轮询中）' : ''));
    showTime();
  }
  function showTime() {
    text('conn-time', state.lastUpdate ? '更新于 ' + hhmmss.format(new Date(state.lastUpdate)) : '');
  }

  function connect() {
    retryTimer = null;
    if (!window.EventSource) { startPolling(); return; }
    es = new EventSource('/screen/stream' + qs);
    es.addEventListener('panel', function (e) {
      if (state.failures || state.mode !== 'live') { state.failures = 0; stopPolling(); state.transport = 'sse'; setConn('live'); }
      try { snapshot(JSON.parse(e.data)); } catch (err) { note('bad snapshot: ' + err); }
    });
    es.onopen = function () { state.failures = 0; stopPolling(); state.transport = 'sse'; setConn('live'); };
    es.onerror = function () {
      if (es) es.close();
      es = null;
      state.failures += 1;
      if (state.failures >= 4) {  // the stream keeps failing (a proxy that buffers, a dropped link): poll
        startPolling();
        setConn('down');
        retryTimer = setTimeout(connect, 60000);
      } else {
        setConn('retry');
        retryTimer = setTimeout(connect, Math.min(30000, 1000 * Math.pow(2, state.failures)));
      }
    };
  }

  function poll() {
    fetch('/screen/data' + qs, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) { if (!r.ok) throw new Error('data ' + r.status); return r.json(); })
      .then(function (body) {
        var panels = body.panels || {};
        Object.keys(panels).forEach(function (k) { snapshot(panels[k]); });
        state.polls = (state.polls || 0) + 1;
        setConn(state.mode === 'live' ? 'live' : 'down');
      })
      .catch(function (e) { note(String(e)); });
  }
  function startPolling() {
    if (pollTimer) return;
    state.transport = 'poll';
    pollTimer = setInterval(poll, 10000);
    poll();
  }
  function stopPolling() { if (pollTimer) { clearInterval(pollTimer); pollTimer = null; } }

  // -- clock and start ------------------------------------------------------------------------
  function tick() {
    var now = new Date();
    text('clock', hhmmss.format(now));
    text('clock-date', ymd.format(now) + ' · 北京时间');
  }

  // the mouse pointer hides on an idle wall
  var idle = null;
  function wake() {
    document.body.classList.remove('idle');
    clearTimeout(idle);
    idle = setTimeout(function () { document.body.classList.add('idle'); }, 5000);
  }

  function start() {
    fit();
    wake();
    document.addEventListener('mousemove', wake);
    window.addEventListener('resize', function () {
      fit();
      Object.keys(charts).forEach(function (id) { charts[id].resize(); });
    });
    tick();
    setInterval(tick, 1000);
    cfg.panels.forEach(function (p) { overlay('panel-' + p, '加载中…'); });
    overlay('panel-devices-history', '加载中…');
    setConn('connecting');
    if (window.echarts) loadGeo(); else overlay('panel-map', '暂无数据');
    connect();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();
})();
