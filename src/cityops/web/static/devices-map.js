// Devices as points on the locally registered street map; colour by online state.
(function () {
  function init() {
    var el = document.getElementById('devices-map');
    if (!el || !window.echarts) return;
    var streets = JSON.parse(document.getElementById('streets-data').textContent);
    var pts = JSON.parse(document.getElementById('points-data').textContent);
    echarts.registerMap('cn-streets', streets);
    var chart = echarts.init(el);
    function series(name, color, test) {
      return { name: name, type: 'scatter', coordinateSystem: 'geo', symbolSize: 5, large: pts.length > 2000,
        itemStyle: { color: color }, data: pts.filter(test).map(function (p) { return { name: p[2], value: [p[0], p[1], p[3]] }; }) };
    }
    chart.setOption({
      tooltip: { trigger: 'item', formatter: function (p) { return p.name; } },
      legend: { data: ['在线', '离线', '未知'], top: 8 },
      geo: { map: 'cn-streets', roam: true, label: { show: true, fontSize: 11 },
        itemStyle: { areaColor: '#eef3f8', borderColor: '#0b5cad' } },
      series: [series('在线', '#1d8a4e', function (p) { return p[4] === true; }),
               series('离线', '#c62828', function (p) { return p[4] === false; }),
               series('未知', '#8a94a3', function (p) { return p[4] === null; })]
    });
    chart.on('click', function (p) { if (p.value && p.value[2]) window.location = '/console/devices/' + p.value[2]; });
    window.addEventListener('resize', function () { chart.resize(); });
    el.dataset.ready = '1';
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init); else init();
})();
