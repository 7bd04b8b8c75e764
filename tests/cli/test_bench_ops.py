"""The O&M benchmarks run end to end and print one JSON object as their last line (issue #7);
their figures live in docs/benchmarks.md, not in assertions on time."""

import json

from click.testing import CliRunner

from cityops.cli.main import cli


def _last_json(args):
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    return json.loads(r.output.strip().splitlines()[-1])


def test_roster_coverage_bench():
    out = _last_json(["bench", "roster-coverage", "--extra", "10"])
    assert out["hours"] == 8760 and out["gaps"] == 0 and out["shifts"] > 750 and out["p95_ms"] > 0


def test_sla_board_bench():
    out = _last_json(["bench", "sla-board", "--tickets", "20"])
    assert out["open_tickets"] == 20 and out["board_rows"] == 12 and out["p95_ms"] > 0


def test_documents_bench():
    out = _last_json(["bench", "documents", "--pages", "8"])
    assert out["pages"] >= 8 and out["pdf_mb"] > 0 and out["docx_mb"] > 0
