// The guided demonstration's presenter page (VISIT-2): steps, captions, keyboard/clicker
// navigation, full screen, and a scenario's live progress. No framework, no network but ours.
(function () {
  "use strict";

  var cfg = JSON.parse(document.getElementById("tour-config").textContent);
  var steps = cfg.steps;
  var $ = function (id) { return document.getElementById(id); };
  var frame = $("tour-frame");
  var current = cfg.start || 1;
  var run = null;       // the latest scenario run snapshot
  var polling = null;

  var STATE_LABEL = { pending: "等待", running: "进行中", done: "完成", failed: "失败" };

  function clamp(n) { return Math.min(Math.max(n, 1), steps.length); }

  function hhmmss(iso) {
    if (!iso) return "";
    var m = /T(\d\d:\d\d:\d\d)/.exec(iso);  // already Beijing time (+08:00)
    return m ? m[1] : iso;
  }

  function show(n, push) {
    current = clamp(n);
    var s = steps[current - 1];
    $("tour-title").textContent = s.title;
    $("tour-text").textContent = s.caption;
    $("tour-counter").textContent = current + " / " + steps.length;
    $("tour-progress-bar").style.width = (100 * current / steps.length) + "%";
    document.title = current + ". " + s.title + " · 导览演示";
    if (frame.getAttribute("src") !== s.url) {
      frame.setAttribute("src", s.url);
      // The old page had the focus after a click into it; the next page is still loading and
      // has no key listener yet, so the clicker's next key must land on the stage.
      if (document.activeElement === frame) frame.blur();
      window.focus();
    }
    var dots = document.querySelectorAll("#tour-dots button");
    for (var i = 0; i < dots.length; i++) {
      dots[i].classList.toggle("on", i + 1 === current);
      dots[i].classList.toggle("past", i + 1 < current);
    }
    $("tour-prev").disabled = current === 1;
    $("tour-next").disabled = current === steps.length;
    $("tour-notes-text").textContent = s.notes || "（本步没有讲解提示）";
    renderScenario();
    if (push !== false) {
      var url = new URL(window.location.href);
      url.searchParams.set("step", String(current));
      window.history.replaceState(null, "", url.pathname + url.search);
    }
  }

  function scenarioOf(name) {
    for (var i = 0; i < cfg.scenarios.length; i++) if (cfg.scenarios[i].name === name) return cfg.scenarios[i];
    return null;
  }

  function renderScenario() {
    var s = steps[current - 1];
    var box = $("tour-scenario");
    var sc = s.scenario ? scenarioOf(s.scenario) : null;
    // A running or just finished run stays visible on every step until the next one starts.
    if (!sc && !(run && run.state === "running")) { box.hidden = true; return; }
    if (!sc) sc = scenarioOf(run.name);
    if (!sc) { box.hidden = true; return; }  // a resumed run before its first snapshot arrived
    box.hidden = false;
    $("sc-title").textContent = "演示场景：" + sc.label;
    var btn = $("sc-start");
    var blocked = $("sc-blocked");
    if (!cfg.demo_mode) {
      blocked.hidden = false;
      blocked.textContent = cfg.not_demo + "：本实例不是演示环境，注入按钮已停用。";
      if (cfg.demo_url) {
        // The district's demo instance runs next to production: continue this step there.
        var a = document.createElement("a");
        a.id = "sc-demo-link";
        a.href = cfg.demo_url + "/screen/tour?step=" + current;
        a.target = "_blank";
        a.rel = "noopener";
        a.textContent = "在演示实例中打开本步骤 ↗";
        blocked.appendChild(a);
      } else {
        blocked.appendChild(document.createTextNode("请在演示实例（cityops demo）上进行导览演示。"));
      }
      btn.disabled = true;
    } else {
      blocked.hidden = true;
      btn.disabled = !!(run && run.state === "running");
    }
    var list = $("sc-steps");
    list.textContent = "";
    var rows = run && run.name === sc.name ? run.steps : sc.steps.map(function (x) {
      return { name: x.name, label: x.label, state: "pending", at: null, ref: "" };
    });
    rows.forEach(function (r) {
      var li = document.createElement("li");
      li.className = "sc-" + r.state;
      li.dataset.step = r.name;
      var t = document.createElement("span"); t.className = "sc-time"; t.textContent = hhmmss(r.at) || "--:--:--";
      var l = document.createElement("span"); l.className = "sc-label"; l.textContent = r.label;
      var ref = document.createElement("span"); ref.className = "sc-ref"; ref.textContent = r.ref || STATE_LABEL[r.state] || "";
      li.appendChild(t); li.appendChild(l); li.appendChild(ref);
      if (r.state === "failed" && r.detail) li.title = r.detail;
      list.appendChild(li);
    });
    var status = $("sc-status");
    status.className = "sc-status";
    if (!run || run.name !== sc.name) {
      status.textContent = cfg.demo_mode ? "准备就绪：点击“注入演示场景”开始，约一分钟完成闭环。" : "";
    } else if (run.state === "running") {
      status.textContent = "进行中 · 已用时 " + Math.round(run.elapsed_s) + " 秒 · " + run.marker;
    } else if (run.state === "closed") {
      status.className += " ok";
      status.textContent = "已结案 · 全程 " + Math.round(run.elapsed_s) + " 秒 · " + run.marker;
      btn.textContent = "再次注入";
    } else {
      status.className += " bad";
      status.textContent = "已中止：" + run.reason;
      btn.textContent = "重新注入";
    }
  }

  function poll() {
    if (!run) return;
    fetch("/screen/tour/scenarios/" + encodeURIComponent(run.id), { headers: { Accept: "application/json" },
                                                                   credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        run = data;
        renderScenario();
        if (run.state !== "running") stopPolling();
      })
      .catch(function () { /* keep trying: a blip on the network must not end the show */ });
  }

  function startPolling() {
    stopPolling();
    polling = window.setInterval(poll, 1000);
  }

  function stopPolling() {
    if (polling) window.clearInterval(polling);
    polling = null;
  }

  function inject() {
    var s = steps[current - 1];
    var name = s.scenario || (run && run.name);
    if (!name || !cfg.demo_mode) return;
    $("sc-start").disabled = true;
    fetch("/screen/tour/scenarios", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": cfg.csrf },
      body: JSON.stringify({ name: name })
    }).then(function (r) {
      return r.json().catch(function () { return { detail: "请求失败（" + r.status + "），请刷新页面后重试" }; })
        .then(function (body) { return { ok: r.ok, status: r.status, body: body }; });
    }).then(function (res) {
      if (res.ok) {
        run = res.body;
        renderScenario();
        startPolling();
      } else {
        var status = $("sc-status");
        status.className = "sc-status bad";
        status.textContent = "未能开始：" + (res.body.detail || res.status);
        $("sc-start").disabled = !cfg.demo_mode;
      }
    }).catch(function () {
      $("sc-status").textContent = "网络错误：未能开始演示场景";
      $("sc-start").disabled = false;
    });
  }

  function toggleCaption() {
    var cap = $("tour-caption");
    cap.hidden = !cap.hidden;
    $("tour-show").hidden = !cap.hidden;
  }

  function toggleFull() {
    var stage = document.documentElement;
    if (document.fullscreenElement) {
      document.exitFullscreen().catch(function () {});
    } else if (stage.requestFullscreen) {
      stage.requestFullscreen().catch(function () {});
    }
  }

  function onKey(e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    var t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    switch (e.key) {
      case "ArrowRight": case "PageDown": case " ": case "Spacebar":
        show(current + 1); break;
      case "ArrowLeft": case "PageUp":
        show(current - 1); break;
      case "Home": show(1); break;
      case "End": show(steps.length); break;
      case "Escape": toggleCaption(); break;
      case "f": case "F": toggleFull(); break;
      case "n": case "N": $("tour-notes").hidden = !$("tour-notes").hidden; break;
      default: return;
    }
    e.preventDefault();
  }

  document.addEventListener("keydown", onKey);
  // A click inside the frame gives it the focus; the clicker's keys must still reach the tour.
  frame.addEventListener("load", function () {
    try {
      frame.contentWindow.document.addEventListener("keydown", onKey);
    } catch (err) { /* not same-origin (never for our steps) */ }
  });

  $("tour-next").addEventListener("click", function () { show(current + 1); });
  $("tour-prev").addEventListener("click", function () { show(current - 1); });
  $("tour-full").addEventListener("click", toggleFull);
  $("tour-hide").addEventListener("click", toggleCaption);
  $("tour-show").addEventListener("click", toggleCaption);
  $("sc-start").addEventListener("click", inject);
  Array.prototype.forEach.call(document.querySelectorAll("#tour-dots button"), function (b) {
    b.addEventListener("click", function () { show(parseInt(b.dataset.step, 10)); });
  });

  show(current, false);
  if (cfg.current) {  // a run started from another window (or before a reload) is still going
    run = { id: cfg.current, name: "", steps: [], state: "running", elapsed_s: 0, marker: "" };
    poll();
    startPolling();
  }
})();
