"""The soak's summary (pure; runs in ``make test``)."""

from tests.faults.soak import outcome, summarise


def run(number, passed, lost=0, resume=5.0, stalls=0):
    return {
        "run": number,
        "passed": passed,
        "report": {"kill_9_state_lost": {"lost": lost, "resume_after_kill_s": resume, "stalls_read_again": stalls}},
    }


def test_the_longest_streak_restarts_after_a_failure_and_worst_values_are_kept():
    runs = [run(1, True), run(2, False, lost=3, resume=9.5), run(3, True, stalls=2), run(4, True), run(5, True)]
    summary = summarise(runs)
    assert (summary["runs"], summary["passed"], summary["longest_consecutive_passes"]) == (5, 4, 3)
    assert summary["failed_runs"] == [2]
    case = summary["cases"]["kill_9_state_lost"]
    assert (case["runs"], case["max_lost"], case["max_resume_after_kill_s"]) == (5, 3, 9.5)
    assert case["max_stalls_read_again"] == 2  # a restart's safety nets are reported, worst run first


def test_a_case_without_a_report_is_not_counted():
    summary = summarise([{"run": 1, "passed": False, "report": {}}])
    assert summary["cases"] == {} and summary["longest_consecutive_passes"] == 0


def test_a_run_passes_only_when_cases_ran_unskipped_and_measured():
    measured = {"kill_9_state_lost": {"lost": 0}}
    assert outcome(0, "2 passed, 7 deselected in 80.1s", measured) is None
    assert outcome(0, "ss\n2 skipped, 7 deselected in 1.0s", {}) == "2 case(s) skipped"
    assert outcome(0, "1 passed, 1 skipped in 40s", measured) == "1 case(s) skipped"
    assert outcome(5, "9 deselected in 0.5s", {}) == "pytest exited 5"
    assert outcome(0, "9 deselected in 0.5s", {}) == "no case ran"
    assert outcome(0, "2 passed in 80s", {}) == "the cases wrote no measurements"
