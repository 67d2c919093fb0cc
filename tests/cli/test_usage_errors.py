"""Usage errors of the command line: one line on stderr and exit status 2."""

from __future__ import annotations

import pytest

from kneeviewer.cli.main import main


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["cohort", "stats", "--cohort", "c", "--models", "m", "--out", "o", "--groups", "truth"], "invalid choice: 'truth'"),
        (["cohort", "phantom", "--out", "o", "--patients", "3", "--risk-pattern", "bulge"], "invalid choice: 'bulge'"),
        (["run", "--out", "o"], "one of the arguments --labels --demo is required"),
    ],
)
def test_usage_error_is_one_line(arguments, expected, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(arguments)
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert expected in error
    assert "--help" in error
