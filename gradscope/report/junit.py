"""JUnit XML for CI: gradscope's findings shown where CI systems show test results.

One `<testcase>` per run; one `<failure>` per symptom at or above `--fail-on` (its kind as the type; severity,
kind, step and where it shows in the message; the explanation and advice in the text); symptoms below the level
are listed in `<system-out>`. A run whose own code raised gets an `<error>`. For `compare`, the baseline is the
run the others are judged against: its symptoms are listed, not failed (compare's exit code ignores them too).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gradscope.diagnose.diagnosis import Diagnosis
    from gradscope.diagnose.symptoms import Symptom

LEVELS = {"never": None, "warning": 1, "critical": 2}  # --fail-on -> the lowest severity rank that fails


@dataclass(frozen=True)
class JUnitCase:
    """One run as a test case: `judged` False for a comparison's baseline; `error` when the user's code raised."""

    name: str
    diagnosis: Diagnosis
    judged: bool = True
    error: str | None = None


def symptom_line(symptom: Symptom) -> str:
    where = symptom.module or symptom.parameter
    return (f"{symptom.severity.value} {symptom.kind.value} at step {symptom.step}"
            + (f" in {where}" if where else "") + f": {symptom.message}")


def junit_document(command: str, cases: Sequence[JUnitCase], fail_on: str) -> str:
    """The XML text: a `<testsuites>` holding one `<testsuite>` named after the command."""
    threshold = LEVELS[fail_on]
    suite = ET.Element("testsuite", name=f"gradscope {command}")
    failures = errors = 0
    total_time = 0.0
    for case in cases:
        seconds = case.diagnosis.summary.seconds or 0.0
        seconds = float(seconds) if isinstance(seconds, int | float) and math.isfinite(seconds) else 0.0
        total_time += seconds
        element = ET.SubElement(suite, "testcase", classname=f"gradscope.{command}", name=case.name,
                                time=f"{seconds:.3f}")
        listed = []
        for symptom in case.diagnosis.symptoms:
            if case.judged and threshold is not None and symptom.severity.rank >= threshold:
                failure = ET.SubElement(element, "failure", type=symptom.kind.value, message=symptom_line(symptom))
                failure.text = "\n".join(filter(None, [symptom_line(symptom), symptom.advice and
                                                       f"try: {symptom.advice}"]))
                failures += 1
            else:
                listed.append(symptom_line(symptom))
        if case.error is not None:
            ET.SubElement(element, "error", type="user_code", message=case.error.splitlines()[0]).text = case.error
            errors += 1
        out = [f"verdict: {case.diagnosis.verdict} ({case.diagnosis.steps_completed} steps)",
               *(["baseline: the run the others are compared with"] if not case.judged else []),
               *listed, *([f"run folder: {case.diagnosis.run_dir}"] if case.diagnosis.run_dir else [])]
        ET.SubElement(element, "system-out").text = "\n".join(out)
    counts = {"tests": str(len(cases)), "failures": str(failures), "errors": str(errors), "skipped": "0",
              "time": f"{total_time:.3f}"}
    suite.attrib.update(counts)
    root = ET.Element("testsuites", name="gradscope", **{k: v for k, v in counts.items() if k != "skipped"})
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(path: Path, command: str, cases: Sequence[JUnitCase], fail_on: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_document(command, cases, fail_on), encoding="utf-8")
