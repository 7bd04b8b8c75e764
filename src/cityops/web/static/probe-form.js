// 自动巡检 form (OPS-1): show only the chosen kind's options and target hint. Without JS every
// kind's options are shown and the server reads only those of the chosen kind.
(function () {
  function init() {
    var kind = document.getElementById('p-kind');
    if (!kind) return;
    function show() {
      document.querySelectorAll('.kind-options, .kind-hint').forEach(function (el) {
        el.hidden = el.dataset.kind !== kind.value;
      });
    }
    kind.addEventListener('change', show);
    show();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init); else init();
})();
