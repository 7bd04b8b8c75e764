// Streets and grids on a locally registered GeoJSON map (no tiles, no internet).
(function () {
  function data(id) { return JSON.parse(document.getElementById(id).textContent); }
  function init() {
    var el = document.getElementById('geo-map');
    if (!el || !window.echarts) return;
    var streets = data('streets-data'), grids = data('grids-data');
    echarts.registerMap('cn-streets', streets);
    echarts.registerMap('cn-grids', grids);
    var chart = echarts.init(el);
    var all = streets.features.concat(grids.features);
    var xs = [], ys = [];
    all.forEach(function (f) {
      JSON.stringify(f.geometry.coordinates).replace(/\[(-?[\d.]+),(-?[\d.]+)\]/g, function (_, x, y) {
        xs.push(+x); ys.push(+y); return '';
      });
    });
    var bounds = [[Math.min.apply(null, xs), Math.max.apply(null, ys)], [Math.max.apply(null, xs), Math.min.apply(null, ys)]];
    var common = { boundingCoords: bounds, layoutCenter: ['50%', '50%'], layoutSize: '95%', roam: false };
    function option(showGrids) {
      var geos = [Object.assign({ map: 'cn-streets', label: { show: true, fontSize: 12, color: '#233' },
        itemStyle: { areaColor: '#dbe8f6', borderColor: '#0b5cad', borderWidth: 1.6 },
        emphasis: { itemStyle: { areaColor: '#b9d4f0' }, label: { show: true } } }, common)];
      if (showGrids) {
        geos.push(Object.assign({ map: 'cn-grids', silent: true, label: { show: false },
          itemStyle: { areaColor: 'rgba(0,0,0,0)', borderColor: '#c77700', borderWidth: 0.6, borderType: 'dashed' } }, common));
      }
      return {
        tooltip: { trigger: 'item', formatter: function (p) {
          var f = streets.features.find(function (x) { return x.properties.name === p.name; });
          if (!f) return p.name;
          return f.properties.name + '<br>代码 ' + f.properties.code + '<br>面积 ' + f.properties.area_km2 + ' km²' +
            (f.properties.approximate ? '<br><b>近似边界</b>' : '');
        } },
        geo: geos,
        series: [{ type: 'scatter', coordinateSystem: 'geo', geoIndex: 0, symbolSize: 6, itemStyle: { color: '#c62828' },
          data: streets.features.map(function (f) { return { name: f.properties.name, value: f.properties.approx_point }; }) }]
      };
    }
    var toggle = document.getElementById('show-grids');
    chart.setOption(option(toggle.checked));
    toggle.addEventListener('change', function () { chart.setOption(option(toggle.checked), true); });
    chart.on('click', function (p) {
      var f = streets.features.find(function (x) { return x.properties.name === p.name; });
      if (f) { var row = document.getElementById('street-' + f.properties.code); if (row) row.scrollIntoView({ behavior: 'smooth' }); }
    });
    window.addEventListener('resize', function () { chart.resize(); });
    el.dataset.ready = '1';
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init); else init();
})();
