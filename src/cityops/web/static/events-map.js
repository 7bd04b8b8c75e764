// City events on the district map (IOT-6): street boundaries registered locally from the shipped
// GeoJSON (no tile server, no internet), the district outline drawn as a polyline on the same
// geo component so it follows zoom and pan, one scatter series per severity. A click opens a
// popup linking to the event's page.
(function () {
  var SEVERITIES = [['critical', '紧急', '#c62828'], ['major', '重要', '#ef6c00'],
                    ['warning', '一般', '#f2b600'], ['info', '提示', '#1e6fd9']];

  function data(id) { return JSON.parse(document.getElementById(id).textContent); }

  function esc(s) {
    return String(s === null || s === undefined ? '' : s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  function rings(geometry) {
    if (!geometry) return [];
    if (geometry.type === 'Polygon') return geometry.coordinates;
    if (geometry.type === 'MultiPolygon') return [].concat.apply([], geometry.coordinates);
    return [];
  }

  function popupHtml(p) {
    return '<div style="display:flex;justify-content:space-between;gap:8px"><b>' + esc(p.number) + '</b>' +
      '<button type="button" class="btn-link" id="event-popup-close" aria-label="关闭">✕</button></div>' +
      '<div>' + esc(p.title) + '</div>' +
      '<table class="table kv"><tr><th>状态</th><td>' + esc(p.state_label) + '</td></tr>' +
      '<tr><th>级别</th><td><span class="badge sev-' + esc(p.severity) + '">' + esc(p.severity_label) + '</span></td></tr>' +
      '<tr><th>分类</th><td>' + esc(p.category) + '</td></tr>' +
      '<tr><th>街镇</th><td>' + esc(p.street || '—') + '</td></tr>' +
      '<tr><th>上报时间</th><td>' + esc(p.reported_at.slice(0, 16).replace('T', ' ')) + '</td></tr></table>' +
      '<a class="btn" id="event-popup-link" href="/console/events/' + encodeURIComponent(p.id) + '">查看事件详情</a>';
  }

  function init() {
    var el = document.getElementById('events-map');
    if (!el || !window.echarts) return;
    var events = data('events-data'), streets = data('streets-data'), outline = data('outline-data');
    echarts.registerMap('cn-event-streets', streets);
    var chart = echarts.init(el);
    var outlineLines = [];
    outline.features.forEach(function (f) { rings(f.geometry).forEach(function (r) { outlineLines.push({ coords: r }); }); });
    var bySeries = SEVERITIES.map(function (s) {
      return events.features.filter(function (f) { return f.properties.severity === s[0]; });
    });
    var series = SEVERITIES.map(function (s, i) {
      return {
        id: 'sev-' + s[0], name: s[1], type: 'scatter', coordinateSystem: 'geo', geoIndex: 0, z: 5,
        symbolSize: s[0] === 'critical' ? 10 : 7, large: events.features.length > 3000,
        itemStyle: { color: s[2], borderColor: '#fff', borderWidth: 0.6 },
        data: bySeries[i].map(function (f) {
          return { name: f.properties.number, value: f.geometry.coordinates.concat([f.properties.id]) };
        })
      };
    });
    series.push({ id: 'outline', name: '区界', type: 'lines', coordinateSystem: 'geo', geoIndex: 0, polyline: true,
      silent: true, z: 3, lineStyle: { color: '#0d2a4a', width: 2.5, opacity: 0.9 }, data: outlineLines });
    chart.setOption({
      animation: false,  // points are clickable at once, and thousands of them need no entry effect
      tooltip: { trigger: 'item', formatter: function (p) {
        if (p.seriesType !== 'scatter') return p.name;
        var f = bySeries[p.seriesIndex] && bySeries[p.seriesIndex][p.dataIndex];
        return f ? esc(f.properties.number) + '<br>' + esc(f.properties.title) + '<br>' + esc(f.properties.state_label) : '';
      } },
      legend: { top: 8, left: 8, data: SEVERITIES.map(function (s) { return s[1]; }) },
      geo: { map: 'cn-event-streets', roam: true, scaleLimit: { min: 0.8, max: 20 }, layoutCenter: ['50%', '50%'],
        layoutSize: '95%', label: { show: true, fontSize: 11, color: '#445' },
        itemStyle: { areaColor: '#eef3f8', borderColor: '#7aa3cf', borderWidth: 1 },
        emphasis: { itemStyle: { areaColor: '#dde9f6' }, label: { show: true } } },
      series: series
    });
    var popup = document.getElementById('event-popup');
    chart.on('click', function (p) {
      if (p.seriesType !== 'scatter') return;
      var f = bySeries[p.seriesIndex] && bySeries[p.seriesIndex][p.dataIndex];
      if (!f) return;
      popup.innerHTML = popupHtml(f.properties);
      popup.hidden = false;
      popup.dataset.eventId = f.properties.id;
      document.getElementById('event-popup-close').addEventListener('click', function () { popup.hidden = true; });
    });
    window.addEventListener('resize', function () { chart.resize(); });
    el.dataset.points = String(events.features.length);
    el.dataset.ready = '1';
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init); else init();
})();
