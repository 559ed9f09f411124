"""Run the fault suite's crash and takeover cases many times in a row and summarise them: the soak behind the
docs/results.md's "N consecutive runs" claim.

Each run is a fresh ``pytest -m faults`` process (fresh topics, fresh workers) whose measurements go to its own JSON
file; the summary is rewritten after every run, so a soak stopped early still reports what it ran.

    export $(deploy/kafka/start)
    python -m tests.faults.soak --runs 30 --json results/fault_soak.json

It needs the broker that ``deploy/kafka/start`` runs, like ``make test-faults``, with ``KAFKA_BOOTSTRAP_SERVERS``
set to it; a run whose cases were skipped counts as failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: The cases issue 14's target counts: both kill -9 restarts, the segment/manifest crash and the takeover.
DEFAULT_CASES = "kill_9_mid_replay or segment_write or two_workers_one_killed"

#: Per-case counts that must stay 0 in every run.
DATA_KEYS = (
    "lost",
    "learned_twice",
    "resurrected",
    "item_count_differences",
    "item_sum_differences",
    "item_projection_differences",
    "redelivered_below_committed",
)

#: Per-case seconds from the kill (or crash) to the first list after it.
RESUME_KEYS = ("resume_after_kill_s", "resume_after_crash_s", "takeover_s")

#: Per-case counts of the restarted worker's safety nets (stalls and offset holes read again, stale messages
#: skipped); a healthy restart needs none, so their worst is reported.
RESTART_KEYS = ("stalls_read_again", "offset_holes_read_again", "stale_messages_skipped")


def summarise(runs: list[dict]) -> dict:
    """Aggregate the per-run records: passes, the longest run of consecutive passes, and per case the worst value
    of every data count and of the resume time."""
    streak = best_streak = 0
    for run in runs:
        streak = streak + 1 if run["passed"] else 0
        best_streak = max(best_streak, streak)
    cases: dict[str, dict] = {}
    for run in runs:
        for case, measured in run["report"].items():
            worst = cases.setdefault(case, {"runs": 0})
            worst["runs"] += 1
            for key in (
                DATA_KEYS
                + RESUME_KEYS
                + RESTART_KEYS
                + ("duplicate_list_entries", "uncommitted_at_kill", "uncommitted_at_crash")
            ):
                if key in measured:
                    worst[f"max_{key}"] = max(worst.get(f"max_{key}", measured[key]), measured[key])
    return {
        "runs": len(runs),
        "passed": sum(run["passed"] for run in runs),
        "longest_consecutive_passes": best_streak,
        "failed_runs": [run["run"] for run in runs if not run["passed"]],
        "cases": cases,
        "per_run": runs,
    }


def outcome(returncode: int, pytest_output: str, report: dict) -> str | None:
    """Why a run does not count as passed, or None when it does. A run passes only when pytest exited 0, ran at
    least one case, skipped none and the cases wrote their measurements: a soak of skipped cases proves nothing."""
    if returncode != 0:
        return f"pytest exited {returncode}"
    counts = {word: int(number) for number, word in re.findall(r"(\d+) (passed|skipped|deselected)", pytest_output)}
    if counts.get("skipped"):
        return f"{counts['skipped']} case(s) skipped"
    if not counts.get("passed"):
        return "no case ran"
    if not report:
        return "the cases wrote no measurements"
    return None


def run_once(number: int, cases: str, timeout_s: float, evidence: Path) -> dict:
    """One pytest process over ``cases``; returns whether it passed, how long it took and what it measured. A failed
    run's worker logs and pytest output stay in ``evidence/run-<number>``; a passed run's are deleted."""
    folder = evidence / f"run-{number}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    report_path = folder / "faults.json"
    # CI=true makes a case that cannot reach the broker fail instead of skipping.
    env = dict(os.environ, WNNREC_FAULTS_JSON=str(report_path), CI="true")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "faults", "tests/faults"]
    command += ["-k", cases, "--basetemp", str(folder / "tmp")]
    started = time.monotonic()
    try:
        completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s)
        returncode, output = completed.returncode, completed.stdout + completed.stderr
    except subprocess.TimeoutExpired as timeout:
        returncode, output = -1, f"timed out after {timeout_s:.0f} s\n{timeout.stdout or ''}{timeout.stderr or ''}"
    output = output if isinstance(output, str) else str(output)
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    failure = outcome(returncode, output, report)
    if failure is None:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        (folder / "pytest-output.txt").write_text(output)
    return {
        "run": number,
        "passed": failure is None,
        "returncode": returncode,
        "seconds": round(time.monotonic() - started, 1),
        "report": report,
        **({} if failure is None else {"failure": failure, "output_tail": output[-3000:], "evidence": str(folder)}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=30, help="how many runs in a row (default 30)")
    parser.add_argument("--json", type=Path, required=True, help="where the summary goes; rewritten after each run")
    parser.add_argument(
        "-k",
        dest="cases",
        default=DEFAULT_CASES,
        help=f"pytest -k expression choosing the cases (default: {DEFAULT_CASES!r})",
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds one run may take (default 900)")
    parser.add_argument("--keep-going", action="store_true", help="do not stop at the first failed run")
    parser.add_argument(
        "--evidence",
        type=Path,
        default=Path(tempfile.gettempdir()) / "wnnrec-soak",
        help="where a failed run's worker logs and pytest output are kept (default $TMPDIR/wnnrec-soak)",
    )
    args = parser.parse_args(argv)
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        parser.error("set KAFKA_BOOTSTRAP_SERVERS to the broker (deploy/kafka/start prints it)")
    runs: list[dict] = []
    for number in range(1, args.runs + 1):
        runs.append(run_once(number, args.cases, args.timeout, args.evidence))
        summary = summarise(runs)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
        last = runs[-1]
        print(
            f"run {number}/{args.runs}: {'passed' if last['passed'] else 'FAILED (' + last['failure'] + ')'} "
            f"in {last['seconds']} s "
            f"({summary['passed']}/{summary['runs']} passed)",
            flush=True,
        )
        if not last["passed"] and not args.keep_going:
            print(last["output_tail"], file=sys.stderr)
            return 1
    return 0 if all(run["passed"] for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
