// Probe detail (OPS-1): latency over the recent runs; failed runs are red marks on the axis.
(function () {
  function init() {
    var el = document.getElementById('probe-chart');
    if (!el || !window.echarts) return;
    var d = JSON.parse(document.getElementById('probe-chart-data').textContent);
    var chart = echarts.init(el);
    chart.setOption({
      tooltip: { trigger: 'axis', valueFormatter: function (v) { return v === null || v === undefined ? '失败' : v + ' ms'; } },
      grid: { left: 56, right: 24, top: 24, bottom: 40 },
      xAxis: { type: 'category', data: d.at, axisLabel: { formatter: function (t) { return t.slice(6, 11); } } },
      yAxis: { type: 'value', name: 'ms', min: 0 },
      series: [
        { name: '耗时', type: 'line', data: d.latency, connectNulls: false, showSymbol: d.at.length <= 60, itemStyle: { color: '#0b5cad' } },
        { name: '失败', type: 'scatter', data: d.failed, symbol: 'triangle', symbolSize: 10, itemStyle: { color: '#c62828' } }
      ]
    });
    window.addEventListener('resize', function () { chart.resize(); });
    el.dataset.ready = '1';
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init); else init();
})();
