// Daily online rate as a line chart (IOT-5 KPI page): the overall figure plus the groups of the
// chosen dimension; the dimension/range selects reload the page (it also works without JS).
(function () {
  function init() {
    var form = document.getElementById('kpi-history-form');
    if (form) {
      ['kpi-dim', 'kpi-days'].forEach(function (id) {
        var el = document.getElementById(id);
        if (el) el.addEventListener('change', function () { form.submit(); });
      });
    }
    var el = document.getElementById('kpi-history-chart');
    if (!el || !window.echarts) return;
    var h = JSON.parse(document.getElementById('kpi-history-data').textContent);
    var chart = echarts.init(el);
    chart.setOption({
      tooltip: { trigger: 'axis', valueFormatter: function (v) { return v === null || v === undefined ? '—' : v + '%'; } },
      legend: { type: 'scroll', top: 0 },
      grid: { left: 48, right: 24, top: 40, bottom: 40 },
      xAxis: { type: 'category', data: h.days, axisLabel: { formatter: function (d) { return d.slice(5); } } },
      yAxis: { type: 'value', max: 100, name: '%', scale: true },
      series: h.series.map(function (s) {
        return { name: s.name, type: 'line', data: s.data, connectNulls: false, showSymbol: h.days.length <= 31,
                 lineStyle: { width: s.overall ? 4 : 1.5 }, z: s.overall ? 10 : 2,
                 itemStyle: s.overall ? { color: '#0b5cad' } : undefined };
      })
    });
    window.addEventListener('resize', function () { chart.resize(); });
    el.dataset.ready = '1';
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init); else init();
})();
