"""The package's copy of sparkcm-hook's exit codes is the Go program's own.

internal/exitcode/exitcode.go defines the codes (constants), cmd/sparkcm-hook/exit.go their meanings
(the EXIT CODES help text);
the package turns an exit code into a task failure and a message, so a code added or renumbered on
one side only would make the Airflow side say the wrong thing. Parsing the Go source needs no build.
"""

from __future__ import annotations

import re
from pathlib import Path

from conftest import REPO_ROOT

from sparkcm_airflow import cleanup

EXITCODE_GO = REPO_ROOT / "internal" / "exitcode" / "exitcode.go"
EXIT_GO = REPO_ROOT / "cmd" / "sparkcm-hook" / "exit.go"

# Go constant name -> the package's name for the same code.
NAMES = {
    "OK": "EXIT_OK",
    "Failed": "EXIT_FAILED",
    "Usage": "EXIT_USAGE",
    "Forbidden": "EXIT_FORBIDDEN",
    "Running": "EXIT_STILL_RUNNING",
    "Disagrees": "EXIT_DISAGREES",
    "Findings": "EXIT_FINDINGS",
}


def _go_constants() -> dict[str, int]:
    src = EXITCODE_GO.read_text()
    block = re.search(r"const \(\n(.*?)\n\)", src, re.S)
    assert block, f"no const block in {EXITCODE_GO}"
    return {m[1]: int(m[2]) for m in re.finditer(r"^\s*([A-Z]\w*)\s*=\s*(\d+)", block[1], re.M)}


RBAC_GO = REPO_ROOT / "cmd" / "sparkcm-hook" / "rbac.go"


def _help_lines(path: Path, const: str) -> dict[int, str]:
    src = path.read_text()
    text = re.search(const + r" = `EXIT CODES:\n(.*?)`", src, re.S)
    assert text, f"no {const} in {path}"
    out: dict[int, str] = {}
    for line in text[1].splitlines():
        m = re.match(r"^\s+(\d+)\s+(.*)$", line)
        if m:
            out[int(m[1])] = m[2]
    return out


def _go_help() -> dict[int, str]:
    # The commands' help lists the codes cleanup, sweep and watch end with;
    # the codes only rbac ends with are in rbac's help.
    out = _help_lines(RBAC_GO, "const rbacExitCodes")
    out.update(_help_lines(EXIT_GO, "const exitCodesHelp"))
    return out


def test_every_go_exit_code_has_the_same_number_in_the_package():
    go = _go_constants()
    assert set(go) == set(NAMES), f"exitcode.go constants changed: {sorted(go)}; update cleanup.py and NAMES"
    for go_name, py_name in NAMES.items():
        assert getattr(cleanup, py_name) == go[go_name], (go_name, py_name)


def test_every_documented_exit_code_has_a_meaning_that_starts_like_the_go_help():
    help_lines = _go_help()
    assert set(cleanup.EXIT_MEANING) == set(help_lines), (sorted(cleanup.EXIT_MEANING), sorted(help_lines))
    for code, line in help_lines.items():
        # The help line's first words (up to a colon or parenthesis) are the meaning's first words.
        head = re.split(r"[:(,]", line, maxsplit=1)[0].strip()
        assert cleanup.EXIT_MEANING[code].startswith(head), (code, cleanup.EXIT_MEANING[code], line)


def test_checks_own_exit_codes_are_named_in_the_shared_meaning():
    # check reuses 5 ("ran and found something to look at"); its meaning is
    # in the same entry as who-can's, after "check: ".
    check = _help_lines(EXIT_GO, "const checkExitCodes")
    head = re.split(r"[:(,]", check[5], maxsplit=1)[0].strip()
    assert "check: " + head in cleanup.EXIT_MEANING[5], (cleanup.EXIT_MEANING[5], check[5])
