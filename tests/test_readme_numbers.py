"""The README's result tables are the committed result files' tables, word for word."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _table_rows(markdown: str) -> list[str]:
    return [line.strip() for line in markdown.splitlines() if line.startswith("| (") or
            line.startswith("| reset-") or line.startswith("| isolated-")]


@pytest.mark.parametrize("result", ["experiments/results/e1/e1.md", "experiments/results/demo/summary.md"])
def test_readme_quotes_the_committed_tables(result):
    readme = (ROOT / "README.md").read_text()
    rows = _table_rows((ROOT / result).read_text())
    assert len(rows) >= 6, result
    missing = [row for row in rows if row not in readme]
    assert not missing, f"README does not quote {result}: {missing}"
