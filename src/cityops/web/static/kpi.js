// Online rate per street as a bar chart (IOT-5 KPI page).
(function () {
  function init() {
    var el = document.getElementById('kpi-street-chart');
    if (!el || !window.echarts) return;
    var rows = JSON.parse(document.getElementById('kpi-street-data').textContent);
    var names = JSON.parse(document.getElementById('kpi-street-names').textContent);
    var chart = echarts.init(el);
    chart.setOption({
      tooltip: { trigger: 'axis', valueFormatter: function (v) { return v + '%'; } },
      grid: { left: 48, right: 24, top: 24, bottom: 48 },
      xAxis: { type: 'category', data: rows.map(function (r) { return names[r.key] || r.key; }), axisLabel: { interval: 0, rotate: 20 } },
      yAxis: { type: 'value', max: 100, name: '%' },
      series: [{ type: 'bar', data: rows.map(function (r) { return r.rate === null ? 0 : Math.round(r.rate * 1000) / 10; }),
                 itemStyle: { color: '#1d8a4e' }, label: { show: true, position: 'top', formatter: '{c}%' } }]
    });
    window.addEventListener('resize', function () { chart.resize(); });
    el.dataset.ready = '1';
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init); else init();
})();
