// Overview chart: area (km²) and responsibility grids per street.
(function () {
  function init() {
    var el = document.getElementById('street-chart');
    if (!el || !window.echarts) return;
    var rows = JSON.parse(document.getElementById('street-stats').textContent);
    var chart = echarts.init(el);
    chart.setOption({
      tooltip: { trigger: 'axis' },
      legend: { data: ['面积（km²）', '网格数'] },
      grid: { left: 48, right: 48, top: 36, bottom: 48 },
      xAxis: { type: 'category', data: rows.map(function (r) { return r.name; }), axisLabel: { interval: 0, rotate: 20 } },
      yAxis: [{ type: 'value', name: 'km²' }, { type: 'value', name: '网格', minInterval: 1 }],
      series: [
        { name: '面积（km²）', type: 'bar', data: rows.map(function (r) { return r.area_km2; }), itemStyle: { color: '#5b8ff9' } },
        { name: '网格数', type: 'line', yAxisIndex: 1, data: rows.map(function (r) { return r.grids; }), itemStyle: { color: '#c77700' } }
      ]
    });
    window.addEventListener('resize', function () { chart.resize(); });
    el.dataset.ready = '1';
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init); else init();
})();
