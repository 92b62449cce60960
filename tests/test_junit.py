"""`--junit FILE` on diagnose and compare: JUnit XML that CI systems read, parsed back with xml.etree."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from gradscope.cli import app

runner = CliRunner()
SAMPLE = "linear_high_lr"  # 200 steps: weight growth and an exploding gradient, NaN at step 172, a divergence


def run(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture(scope="module")
def diagnosed(tmp_path_factory):
    """The sample diagnosed once as JSON: the symptoms the XML must show."""
    out = tmp_path_factory.mktemp("diag")
    result = run("diagnose", "--sample", SAMPLE, "--steps", "200", "--json", "--no-plots", "--out", str(out / "run"),
                 "--fail-on", "never", "--junit", str(out / "never.xml"))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), out


def failures(case: ET.Element) -> list[ET.Element]:
    return case.findall("failure")


@pytest.mark.parametrize("fail_on, code, levels", [("critical", 1, {"critical"}),
                                                   ("warning", 1, {"critical", "warning"})])
def test_diagnose_writes_a_failure_per_symptom_at_or_above_fail_on(diagnosed, tmp_path, fail_on, code, levels):
    doc, _ = diagnosed
    path = tmp_path / "reports" / "gradscope.xml"
    result = run("diagnose", "--sample", SAMPLE, "--steps", "200", "--no-plots", "--out", str(tmp_path / "run"),
                 "--fail-on", fail_on, "--junit", str(path))
    assert result.exit_code == code
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    (case,) = suite.findall("testcase")  # one test case per run
    expected = [s for s in doc["symptoms"] if s["severity"] in levels]
    assert len(failures(case)) == len(expected) == int(suite.get("failures")) == int(root.get("failures"))
    assert suite.get("tests") == "1" and suite.get("name") == "gradscope diagnose"
    for failure, symptom in zip(failures(case), expected, strict=True):
        assert failure.get("type") == symptom["kind"]
        assert f"{symptom['severity']} {symptom['kind']} at step {symptom['step']}" in failure.get("message")
        assert symptom["message"] in failure.get("message")


def test_fail_on_never_lists_the_symptoms_without_failing(diagnosed):
    doc, out = diagnosed
    case = ET.parse(out / "never.xml").getroot().find("testsuite/testcase")
    assert failures(case) == []
    text = case.find("system-out").text
    assert f"verdict: critical ({doc['steps_completed']} steps)" in text
    for symptom in doc["symptoms"]:
        assert f"{symptom['kind']} at step {symptom['step']}" in text
    assert f"run folder: {doc['run_dir']}" in text


def test_compare_writes_a_case_per_run_and_judges_the_clipped_ones(tmp_path):
    path = tmp_path / "compare.xml"
    result = run("compare", "--sample", SAMPLE, "--steps", "200", "--clip-norm", "1", "--clip-norm", "3000", "--json",
                 "--no-plots", "--out", str(tmp_path / "cmp"), "--fail-on", "warning", "--junit", str(path))
    doc = json.loads(result.stdout)
    suite = ET.parse(path).getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [r["label"] for r in doc["runs"]]
    baseline, fixed, loose = cases
    assert failures(baseline) == [] and "baseline" in baseline.find("system-out").text
    assert failures(fixed) == []  # clip-norm 1 fixes the run
    assert doc["runs"][2]["verdict"] != "healthy" and failures(loose)  # 3000 bites too late: its findings fail
    assert result.exit_code == 1  # as compare's exit code says
    assert all("at step" in f.get("message") for f in failures(loose))


def test_compare_of_recorded_run_folders_writes_junit_too(diagnosed, tmp_path):
    _, out = diagnosed
    path = tmp_path / "recorded.xml"
    result = run("compare", str(out / "run"), str(out / "run"), "--no-plots", "--out", str(tmp_path / "cmp"),
                 "--junit", str(path))
    assert result.exit_code == 1  # the second folder is as critical as the first
    cases = ET.parse(path).getroot().findall("testsuite/testcase")
    assert len(cases) == 2 and failures(cases[0]) == [] and failures(cases[1])
