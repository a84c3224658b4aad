"""Attacks on the CLI's new edges: sql -p binding, and the terminal table's cuts and percentages."""

from __future__ import annotations

from .conftest import session, write_jsonl


def _log(tmp_path):
    return write_jsonl(tmp_path / "sessions.jsonl", [session("s-1")])


def test_sql_dollar_name_inside_a_string_or_comment_is_text(cli, tmp_path):
    log = _log(tmp_path)
    code, out, err = cli("sql", "select '$x' as a, 1 as \"$y\" -- $z", "-s", log, "-f", "csv")
    assert (code, out) == (0, "a,$y\n$x,1\n"), err
    # and a real $x beside one in a string is still the one to give
    code, out, err = cli("sql", "select $x as a, '$x' as b", "-p", "x=v", "-s", log, "-f", "csv")
    assert (code, out) == (0, "a,b\nv,$x\n"), err


def test_sql_positional_parameters_are_a_usage_error(cli, tmp_path):
    log = _log(tmp_path)
    for text in ("select $1 as a", "select ? as a"):
        code, _, err = cli("sql", text, "-s", log)
        assert code == 2 and "positional" in err, err


def test_sql_a_parameter_given_twice_is_a_usage_error(cli, tmp_path):
    code, _, err = cli("sql", "select $x as a", "-p", "x=1", "-p", "x=2", "-s", _log(tmp_path))
    assert code == 2 and "twice" in err, err


def test_a_cut_cell_never_splits_an_escape():
    from forensics.output import to_table

    out = to_table(["error"], [("a" * 22 + "\x1b[31m" + "x" * 40,)], width=24)
    cell = out.splitlines()[2]
    assert cell.rstrip() == "a" * 22 + "…"
    out = to_table(["error"], [("a" * 21 + "\u202e" + "x" * 40,)], width=24)
    assert out.splitlines()[2].rstrip() == "a" * 21 + "…"


def test_percentages_only_for_columns_of_proportions():
    from forensics.output import to_table

    out = to_table(["rate", "pct", "error_rate"], [(0.5, 45, 3.0), (1.0, 50.5, 0.25)])
    lines = out.splitlines()
    assert "50.0%" in lines[2] and "45" in lines[2] and "4500" not in out and "300.0%" not in out
