r"""Graders accept equivalent forms, reject different answers, and never hang."""

from __future__ import annotations

import threading
import time

import pytest

from leanthink.tasks import grading
from leanthink.tasks.base import extract_answer, last_boxed
from leanthink.tasks.grading import grade_math, grade_number, parse_number

EQUIVALENT = [  # (predicted, gold)
    ("0.5", r"\frac{1}{2}"),
    (r"\dfrac{1}{2}", r"\frac12"),
    (r"(3,\pi/2)", r"\left( 3, \frac{\pi}{2} \right)"),
    (r"\left(3, \dfrac{\pi}{2}\right)", r"(3,\frac{\pi}{2})"),
    ("30", r"30^\circ"),
    (r"30^{\circ}", "30"),
    (r"10 \text{ cm}", "10"),
    (r"\text{(C)}", r"\text{(C)}"),
    ("x = 5", "5"),
    ("5", "x=5"),
    ("1,000", "1000"),
    ("1000", "1,000"),
    (r"\sqrt{2}/2", r"\frac{\sqrt2}{2}"),
    ("x^2+2x", "x(x+2)"),
    ("[1,2)", r"[1, 2)"),
    ("104.", "104"),  # a sentence's final period
    (r"\textbf{(073)}", "073"),  # AIME write-ups box bold, zero-padded answers
    ("25", "025"),
    ("50\\%", "50"),
]

DIFFERENT = [
    ("6", "5"),
    (r"(3,\pi)", r"\left( 3, \frac{\pi}{2} \right)"),
    ("(1,2]", "[1,2)"),
    ("q-p", "p - q"),
    ("1.4142", r"\sqrt{2}"),
    (r"\frac{1}{3}", "0.3"),
    ("Bob", r"\text{Evelyn}"),
    ("", "5"),
    (None, "5"),
]


@pytest.mark.parametrize("predicted, gold", EQUIVALENT)
def test_grade_math_accepts_equivalent_forms(predicted, gold):
    assert grade_math(predicted, gold)


@pytest.mark.parametrize("predicted, gold", DIFFERENT)
def test_grade_math_rejects_different_answers(predicted, gold):
    assert not grade_math(predicted, gold)


@pytest.mark.parametrize("text, value", [
    ("$1,234.00", 1234), (r"\$1,234", 1234), ("18 dollars", 18), ("-3.5", -3.5), ("x = 7", 7),
    ("50%", 50), ("18.", 18), ("1,000,000", 1_000_000), (r"5 \text{ eggs}", 5),
])
def test_parse_number_reads_plain_numbers(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["1,2", "3/4", r"\frac{1}{2}", "2 and 3", "10^3", "abc"])
def test_parse_number_refuses_anything_else(text):
    assert parse_number(text) is None


def test_grade_number():
    assert grade_number("$1,234.00", "1234")
    assert grade_number("1234", "1,234")
    assert not grade_number("1235", "1234")
    assert not grade_number("12.34", "1234")
    assert not grade_number(None, "1234")
    assert grade_number(r"\frac{3}{4}", "0.75")  # not a plain number: falls back to grade_math


def test_last_boxed_balances_nested_braces():
    out = r"so $\boxed{1}$ is wrong; in fact $\boxed{\frac{\sqrt{3}}{2} + \left\{ x \right\}}$."
    assert last_boxed(out) == r"\frac{\sqrt{3}}{2} + \left\{ x \right\}"
    assert last_boxed(r"\boxed{\left\{ 1 \right.}") == r"\left\{ 1 \right."  # escaped braces don't count
    assert last_boxed(r"\fbox{3} then \framebox{204}") == "204"
    assert last_boxed(r"\boxed 5$ and {x}") == "5"
    assert last_boxed(r"\boxed{unclosed") is None
    assert last_boxed("no box here") is None


def test_extract_answer_fallbacks():
    assert extract_answer("work...\nAnswer: 42.") == "42"
    assert extract_answer("work...\n#### 1,234") == "1,234"
    assert extract_answer(r"So the answer is $\frac{1}{2}$.") == r"\frac{1}{2}"
    assert extract_answer(r"Answer: 3, so \boxed{4}") == "4"
    assert extract_answer("nothing to see") is None


def test_pathological_expression_times_out(monkeypatch):
    monkeypatch.setattr(grading, "TIMEOUT_SECONDS", 1)
    start = time.perf_counter()
    assert not grade_math(r"9^{9^{9}}", "5")
    assert time.perf_counter() - start < 10


def test_grading_works_outside_the_main_thread():
    """Signals are main-thread only: a worker thread grades without a timeout, never raises, and
    refuses to evaluate a power tower it could not interrupt."""
    results = {}

    def work():
        start = time.perf_counter()
        results["equal"] = grade_math("0.5", r"\frac{1}{2}")
        results["different"] = grade_math("0.6", r"\frac{1}{2}")
        results["tower"] = grade_math(r"9^{9^{9}}", "5")
        results["seconds"] = time.perf_counter() - start

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert results["equal"] and not results["different"] and not results["tower"]
    assert results["seconds"] < 10
