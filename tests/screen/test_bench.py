"""`cityops bench screen` at a small scale (SYS-SCREEN, issue #8 point 4): the seed loads what
it says, every panel is served and computed cold, the connected screens really received
panel events over SSE, and the CLI's last line is the one JSON object."""

import json

from click.testing import CliRunner

from cityops.cli.main import cli
from cityops.screen.panels import PANELS

KEYS = {"bench", "devices", "events", "calls", "screens", "requests", "counts", "seed_s", "seed_parts_s", "panels",
        "panel_p95_ms", "worst_panel", "cold_p95_ms", "sse_events", "sse_events_min_per_screen", "screens_live",
        "errors", "target_ms", "ok", "machine"}


def test_bench_screen_small(request):
    request.getfixturevalue("pg_template")  # PostgreSQL only: fails in CI when missing, skips elsewhere
    res = CliRunner().invoke(cli, ["bench", "screen", "--devices", "2000", "--events", "5000", "--calls", "20000",
                                   "--screens", "2", "--requests", "5"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    assert KEYS <= set(out)
    assert out["bench"] == "screen" and out["target_ms"] == 200.0 and isinstance(out["ok"], bool)
    assert (out["devices"], out["events"], out["calls"], out["screens"]) == (2000, 5000, 20000, 2)
    counts = out["counts"]
    assert counts["events"] == 5000 and counts["calls"] == counts["call_rollup_calls"] == 20000
    assert counts["alarms_active"] > 0 and counts["work_orders"] > 0 and counts["event_transitions"] > 5000
    assert counts["kpi_rows"] > 0 and out["seed_s"] > 0

    assert set(out["panels"]) == set(PANELS)
    for name, p in out["panels"].items():
        assert p["requests"] == 5 and p["errors"] == 0, name
        assert 0 < p["p50_ms"] <= p["p95_ms"] <= p["max_ms"], name
        assert 0 < p["cold_p50_ms"] <= p["cold_p95_ms"], name
    assert out["panel_p95_ms"] == max(p["p95_ms"] for p in out["panels"].values())
    assert out["panel_p95_ms"] == out["panels"][out["worst_panel"]]["p95_ms"]
    assert out["errors"] == 0

    # Both screens were live: each got at least the first snapshot of every panel over SSE.
    assert out["screens_live"] is True and out["screen_errors"] == []
    assert out["sse_events_min_per_screen"] >= len(PANELS)
    assert out["sse_events"] >= 2 * len(PANELS)
