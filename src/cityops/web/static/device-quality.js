// Device metadata quality pages (IOT-1): select-all on the findings table and the
// per-street / per-vendor score charts.
(function () {
  function selectAll() {
    var all = document.getElementById('select-all');
    if (!all) return;
    all.addEventListener('change', function () {
      var boxes = document.querySelectorAll('#findings-table input[name="ids"]');
      for (var i = 0; i < boxes.length; i++) boxes[i].checked = all.checked;
    });
  }
  function bar(el, rows, title) {
    if (!el || !window.echarts) return;
    var chart = echarts.init(el);
    chart.setOption({
      tooltip: { trigger: 'axis', formatter: function (p) { var r = rows[p[0].dataIndex]; return r.name + '<br>评分 ' + r.score + '（' + r.devices + ' 台）'; } },
      grid: { left: 48, right: 24, top: 30, bottom: 64 },
      xAxis: { type: 'category', data: rows.map(function (r) { return r.name; }), axisLabel: { interval: 0, rotate: 25 } },
      yAxis: { type: 'value', name: title, min: 0, max: 100 },
      series: [{ type: 'bar', data: rows.map(function (r) {
        var color = r.score >= 90 ? '#1d8a4e' : (r.score >= 70 ? '#c77700' : '#c62828');
        return { value: r.score, itemStyle: { color: color } };
      }), label: { show: true, position: 'top' } }]
    });
    window.addEventListener('resize', function () { chart.resize(); });
    el.dataset.ready = '1';
  }
  function charts() {
    var data = document.getElementById('quality-scores-data');
    if (!data) return;
    var rows = JSON.parse(data.textContent);
    bar(document.getElementById('street-score-chart'), rows.streets, '评分');
    bar(document.getElementById('vendor-score-chart'), rows.vendors, '评分');
  }
  function init() { selectAll(); charts(); }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init); else init();
})();
