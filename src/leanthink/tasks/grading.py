r"""Answer grading: symbolic equivalence for math (math-verify), exact value for plain numbers.

Both graders take an answer that was already *extracted* from a model output (the content of the
last `\boxed{}`, see `base.extract_answer`) and the dataset's gold answer.

`grade_math` wraps both sides in `\boxed{}` and lets math-verify parse them: its normalisation strips
`\left`/`\right`, `\dfrac`, `\text{}`, units and `^\circ`, thousands separators and a leading `x =`,
and its comparison accepts numerically or symbolically equal forms (`\frac{1}{2}` == `0.5`,
`(3,\pi/2)` == `\left( 3, \frac{\pi}{2} \right)`). Anything it cannot parse falls back to a
whitespace-insensitive string comparison inside math-verify.

Timeouts. sympy can take unbounded time on hostile input (`9^{9^{9}}`), so parsing and comparing
run under math-verify's `signal.alarm` timeout. Signals can only be installed from the main thread;
in any other thread (a thread pool grading results) we pass `None`, which disables the timeout, and
instead refuse to evaluate the shapes known to explode (power towers, factorials of big numbers):
such a prediction is right only if it equals the gold answer as text. Predictions over
`MAX_ANSWER_CHARS` are treated the same way in every thread. The guard is a heuristic, so grade in
the main thread when a hang would be costly. The alarm replaces any SIGALRM timer the caller had
armed (pytest-timeout's "signal" method, for one).
"""

from __future__ import annotations

import logging
import re
import threading
from fractions import Fraction

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

#: seconds for each parse and each comparison (signal.alarm has one-second resolution)
TIMEOUT_SECONDS = 3
#: longer predictions are compared as strings only; real answers are short (MATH-500's longest gold
#: answer has 53 characters) and parse time grows with length
MAX_ANSWER_CHARS = 1000

# \boxed{} first: both sides arrive wrapped in one. Plain expressions ("1/2", "3*x") as a fallback.
_EXTRACTION = (LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig())

# math-verify logs a warning for every timeout and for disabling timeouts; a grader that returns
# False is enough signal for us.
logging.getLogger("math_verify").setLevel(logging.ERROR)


# a power inside an exponent (`9^{9^{9}}`, `2^3^4`) or a factorial of a group or a 4+ digit number
_EXPLOSIVE = re.compile(r"\^\s*\{[^{}]*\^|\^\s*\d+\s*\^|\*\*[^*]*\*\*|(?:\d{4,}|[)}\]])\s*!")


def _timeout() -> int | None:
    return TIMEOUT_SECONDS if threading.current_thread() is threading.main_thread() else None


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


_BOLD = re.compile(r"\\(?:textbf|mathbf|boldsymbol)\{([^{}]*)\}")
_FINAL_PERIOD = re.compile(r"(?<!\.)\.\s*$")


def _tidy(answer: str) -> str:
    r"""Undo what math-verify's own normalisation misses: a sentence's final period ("104.") and
    bold wrappers (AIME write-ups box `\textbf{(073)}`, which it would read as the text "073")."""
    return _FINAL_PERIOD.sub("", _BOLD.sub(r"\1", answer.strip())).strip()


def grade_math(predicted: str | None, gold: str) -> bool:
    r"""Whether `predicted` is mathematically equivalent to `gold` (LaTeX or plain text)."""
    if predicted is None or not predicted.strip():
        return False
    predicted, gold = _tidy(predicted), _tidy(gold)
    if _squash(predicted) == _squash(gold):
        return True
    if len(predicted) > MAX_ANSWER_CHARS:
        return False
    seconds = _timeout()
    if seconds is None and _EXPLOSIVE.search(predicted):
        return False  # no timeout available in this thread: do not let sympy evaluate it
    gold_parsed = parse(f"\\boxed{{{gold}}}", _EXTRACTION, parsing_timeout=seconds)
    pred_parsed = parse(f"\\boxed{{{predicted}}}", _EXTRACTION, parsing_timeout=seconds)
    # verify is asymmetric on purpose: gold first (it simplifies `x = 5` on the gold side only)
    return verify(gold_parsed, pred_parsed, timeout_seconds=seconds)


_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)")
# what may surround the one number of a plain numeric answer: currency, percent, unit words
_DECORATION = re.compile(r"^[\sA-Za-z$%.:'’]*$")


def parse_number(text: str) -> Fraction | None:
    r"""The exact value of a plain numeric answer ("$1,234.00", "18 dollars", "-3.5", "x = 7").

    None when the text is not one plain number (a fraction, an expression, two numbers), so the
    caller can fall back to `grade_math`.
    """
    s = text.strip().replace("−", "-")
    s = re.sub(r"\\text\{([^{}]*)\}", r"\1", s)
    s = s.replace("\\$", "$").replace("\\%", "%").replace("{,}", ",").replace("\\!", "")
    s = re.sub(r"(?<=\d),(?=\d{3}\b)", "", s)  # thousands separators only: "1,234" but not "1,2"
    s = s.rsplit("=", 1)[-1]
    numbers = _NUMBER.findall(s)
    if len(numbers) != 1 or not _DECORATION.match(_NUMBER.sub("", s, count=1)):
        return None
    return Fraction(numbers[0])


def grade_number(predicted: str | None, gold: str) -> bool:
    """Exact numeric equality when both sides are plain numbers, else `grade_math`."""
    if predicted is None:
        return False
    want, got = parse_number(gold), parse_number(predicted)
    if want is not None and got is not None:
        return want == got
    return grade_math(predicted, gold)
