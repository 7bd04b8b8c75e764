"""`cityops bench callout-stats` with a small N (CALL-5): the JSON carries the figures the
benchmark page needs and the rollups account for every seeded record."""

import json

import pytest
from click.testing import CliRunner

from cityops.bench import callout_stats
from cityops.cli.main import cli

KEYS = {"records", "records_counted", "rollup_calls", "seed_s", "rebuild_s", "year_query_p95_ms",
        "month_query_p95_ms", "day_query_p95_ms", "database", "machine"}


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_bench_small(database, request):
    if database == "postgresql":
        request.getfixturevalue("pg_template")  # skips (outside CI) when PostgreSQL is not there
    out = callout_stats.run(database=database, records=2000, queries=5)
    assert KEYS <= set(out)
    assert out["database"] == database and out["records"] == out["records_counted"] == out["rollup_calls"] == 2000
    assert out["rebuild"]["calls"] == 2000 and out["rollup_rows"] > 0
    assert out["sample_year"]["calls"] > 0 and 0.6 < out["sample_year"]["answered_rate"] < 0.76
    for k in ("year_query_p95_ms", "month_query_p95_ms", "day_query_p95_ms"):
        assert 0 < out[k] < callout_stats.TARGET_P95_MS
    assert out["ok"] is True


def test_cli_prints_one_json_object():
    res = CliRunner().invoke(cli, ["bench", "callout-stats", "--records", "500", "--queries", "3"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    assert out["records"] == out["rollup_calls"] == 500 and out["bench"] == "callout-stats"
