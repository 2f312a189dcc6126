"""The repository speaks of itself: no words of the process that made it in any tracked text file (docs, README,
configs, code, comments, result files). Dates, versions and commit ids say when and where instead."""

from __future__ import annotations

import re
import subprocess

from tests.conftest import ROOT

# word -> pattern; each names a kind of process word, case-insensitive. The words are spelt in two halves here, so that
# a plain search of the repository for them finds none (this file included).
SESS_WORD, ISSUE_WORD, HELP_WORD, TODAY_WORD, LEAD_WORD = "sess" + "ion", "iss" + "ue", "help" + "er", "to" + "day's", "the " + "lead"
PATTERNS = {
    "a work " + SESS_WORD: rf"\b{SESS_WORD}s?\b",
    "an " + ISSUE_WORD + " number": rf"\b{ISSUE_WORD}s?[ -]?#?\d+",
    "a #NN reference": r"(?<![\w&/#])#\d{1,4}\b",
    "a " + HELP_WORD + " (a worker)": rf"\b{HELP_WORD}s?\b",
    TODAY_WORD: rf"\b{TODAY_WORD}",
    LEAD_WORD: rf"\b{LEAD_WORD}\b",
}
# narrow exceptions: TensorBoard's HParams summaries (their start and end records), and the tests' shared functions
ALLOWED = (
    r"\bsession[ _-](start|end)\b",
    r"\(experiment, session start, session end\)",
    rf"\btest {HELP_WORD}s?\b",
)
SKIP: set[str] = set()  # no file is spared, this one included


def tracked_text_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    files = [f for f in out.decode().split("\0") if f and f not in SKIP]
    text = []
    for f in files:
        path = ROOT / f
        if not path.is_file():  # deleted in the working tree, not yet committed
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue
        text.append(f)
    return text


def offending_lines(text: str) -> list[tuple[int, str, str]]:
    found = []
    for no, line in enumerate(text.splitlines(), 1):
        cleaned = line
        for allowed in ALLOWED:
            cleaned = re.sub(allowed, "", cleaned, flags=re.I)
        for what, pattern in PATTERNS.items():
            if re.search(pattern, cleaned, flags=re.I):
                found.append((no, what, line.strip()[:160]))
    return found


def test_the_patterns_catch_process_words_and_spare_the_exceptions():
    caught = offending_lines(
        f"measured in {SESS_WORD} 17\nsee {ISSUE_WORD} 19's target\nfixed in "
        "#"
        "38\n"
        f"a {HELP_WORD}'s benchmarks\n{TODAY_WORD} default\nasked {LEAD_WORD}"
    )
    assert [what for _, what, _ in caught] == list(PATTERNS)
    spared = (
        f"TensorBoard's SessionLog\nwrites a {SESS_WORD}-start event\nShared test {HELP_WORD}s\n# 2. install\ncolor #1f77b4\n2026-12-02"
    )
    assert offending_lines(spared) == []


def test_no_process_words_in_tracked_files():
    files = tracked_text_files()
    assert "README.md" in files and any(f.startswith("benchmarks/results/") for f in files)
    bad = [f"{f}:{no}: {what}: {line}" for f in files for no, what, line in offending_lines((ROOT / f).read_text(errors="replace"))]
    assert not bad, "process words in the repository:\n" + "\n".join(bad[:40])
