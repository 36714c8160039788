"""One-line checks for the course's exercises.

Every exercise whose answer is a number, an array or a function has a check. Under the
exercise, the student writes the answer and runs::

    answer = [1.61, 0.22]
    check("ex-bce-table", answer)

``check`` prints one of three things, and never the expected answer:

- ``✔ ex-bce-table: right.``
- ``… ex-bce-table: no answer yet: ...`` while ``answer`` is still ``...``;
- ``✘ ex-bce-table: ...`` saying what is off (which value, the shape, the sign) and a
  hint aimed at the usual mistake (values swapped, log base 2, the mean's denominator).

The expected answers are computed here with NumPy from the exercise's data, not with
celib, so a check does not inherit a bug of the library it teaches. A student who reads
this file can find the answers: the checks are for learning, not for grading.

>>> verdict("ex-bce-table", ...).reason
'blank'
>>> verdict("ex-bce-table", [1.609, 0.223]).ok
True
>>> verdict("ex-bce-table", [0.223, 1.609]).reason
'swapped'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = ["check", "verdict", "Verdict", "EXERCISES", "RTOL"]

#: An answer is right when it agrees with the expected one to this relative tolerance
#: (three significant digits pass), or to ``ATOL`` for values near zero.
RTOL = 5e-3
ATOL = 1e-6


@dataclass(frozen=True)
class Verdict:
    """The result of a check: ``ok`` is True (right), False (wrong) or None (no answer yet)."""

    label: str
    ok: bool | None
    reason: str  # "right", "blank", or the mistake found: "swapped", "shape", "sign", ...
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Mistake:
    """A typical wrong answer: what it evaluates to, and the hint it deserves."""

    reason: str
    value: Callable[[], Any]
    hint: str
    part: int | None = None  # None: the whole answer; i: the i-th value of a multi-part answer


@dataclass(frozen=True)
class Exercise:
    label: str
    expects: str  # the form of the answer, shown when it has the wrong type or shape (never the value)
    hint: str  # the general hint, when no typical mistake matches
    expected: Callable[[], Any] = lambda: None
    kind: str = "numbers"  # "numbers", "function" or "choices"
    parts: tuple[str, ...] = ()
    mistakes: tuple[Mistake, ...] = ()
    nats: bool = False  # the answer is a loss in nats: try the log-base and sign mistakes
    probes: tuple = ()  # "function": the arguments it is called with
    choices: dict = field(default_factory=dict)  # "choices": case -> accepted function name
    choice_hints: dict = field(default_factory=dict)  # (case, given name) -> hint


# ---------------------------------------------------------------------------------------
# Small NumPy helpers (the exercises' reference computations)
# ---------------------------------------------------------------------------------------
def _log_softmax(x) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _softmax(x) -> np.ndarray:
    return np.exp(_log_softmax(x))


def _sigmoid(z) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))


# The data of the exercises, as the chapters define it.
_CH3_LOGITS = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 3.0, 0.0], [0.5, 0.5, 2.5]])
_CH3_TARGET = np.array([0, 2, 1, 0])
_CH2_LOGITS = np.array([1.0, 2.0, 3.5])  # cat, dog, cow
_CH1_Z = np.array([-10.0, -2.0, 0.0, 2.0, 10.0])
_CH4_FIRST = np.log([0.6, 0.1, 0.1, 0.1, 0.1])
_CH4_SECOND = np.log([0.6, 0.4, 1e-9, 1e-9, 1e-9])
_CH6_LOGITS = np.array([0.0, 1.0, 3.0, 2.0, 0.0])


def _ch3_losses(logits=_CH3_LOGITS) -> np.ndarray:
    return -_log_softmax(logits)[np.arange(len(_CH3_TARGET)), _CH3_TARGET]


def _one_hot(index: int, n: int) -> np.ndarray:
    return np.eye(n)[index]


def _softmax_jacobian(p) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return np.diag(p) - np.outer(p, p)


# ---------------------------------------------------------------------------------------
# The exercises
# ---------------------------------------------------------------------------------------
_EXERCISES = [
    # Chapter 1
    Exercise(
        "ex-bce-table",
        expects="a list of two losses: [loss if y = 1, loss if y = 0]",
        hint="the loss is -log of the probability the model gives to the true label: p1 if y = 1, p0 = 1 - p1 if y = 0.",
        expected=lambda: [-math.log(0.2), -math.log(0.8)],
        parts=("the loss if y = 1", "the loss if y = 0"),
        nats=True,
        mistakes=(
            Mistake("swapped", lambda: [-math.log(0.8), -math.log(0.2)],
                    "the two losses are in the wrong order: for y = 1 the loss comes from the p1 column."),
            Mistake("probabilities", lambda: [0.2, 0.8],
                    "those are the probabilities p1 and p0; the loss is -log of the true label's probability."),
        ),
    ),
    Exercise(
        "ex-bce-grad",
        expects="an array of five gradients, one for each logit z = -10, -2, 0, 2, 10",
        hint="the gradient of binary cross-entropy on its logit is sigma(z) - y, here with y = 1.",
        expected=lambda: _sigmoid(_CH1_Z) - 1.0,
        mistakes=(
            Mistake("mean", lambda: (_sigmoid(_CH1_Z) - 1.0) / 5,
                    "your gradients are 5 times too small: the default reduction='mean' divides by the number "
                    "of logits. Pass reduction='none' to get one gradient per logit."),
            Mistake("sign", lambda: 1.0 - _sigmoid(_CH1_Z),
                    "the sign is flipped: the gradient is sigma(z) - y, negative here, because raising z lowers the loss."),
            Mistake("negative-label", lambda: _sigmoid(_CH1_Z),
                    "that is sigma(z), the gradient for a negative sample (y = 0); the exercise has y = 1."),
        ),
    ),
    # Chapter 2
    Exercise(
        "ex-mc-cat",
        expects="one number: the loss if the picture is a cat",
        hint="the loss is -log of the softmax probability of the true class; cat is class 0.",
        expected=lambda: -_log_softmax(_CH2_LOGITS)[0],
        nats=True,
        mistakes=(
            Mistake("probability", lambda: _softmax(_CH2_LOGITS)[0],
                    "that is the probability of cat itself; the loss is -log of it."),
            Mistake("cow", lambda: -_log_softmax(_CH2_LOGITS)[2],
                    "that is the loss when the picture is a cow (class 2); the cat is class 0."),
            Mistake("dog", lambda: -_log_softmax(_CH2_LOGITS)[1],
                    "that is the loss for a dog (class 1); the classes are in the order cat, dog, cow."),
        ),
    ),
    # Chapter 3
    Exercise(
        "ex-avg-weights",
        expects="a list of three weighted means: [with weight [1, 1, 1], with [3, 3, 3], with [0, 1, 1]]",
        hint="the weighted mean is sum(w[target] * loss) / sum(w[target]): it divides by the weights actually used.",
        expected=lambda: [_ch3_losses().mean(), _ch3_losses().mean(), _ch3_losses()[[1, 2]].mean()],
        parts=("the mean with weights [1, 1, 1]", "the mean with weights [3, 3, 3]", "the mean with weights [0, 1, 1]"),
        nats=True,
        mistakes=(
            Mistake("scaled", lambda: 3 * _ch3_losses().mean(),
                    "multiplying every weight by 3 multiplies the numerator and the denominator: the mean does not change.",
                    part=1),
            Mistake("divided-by-M", lambda: _ch3_losses()[[1, 2]].sum() / 4,
                    "you divided by M = 4; the weighted mean divides by the sum of the weights used, and a "
                    "sample of weight 0 adds nothing to it.", part=2),
            Mistake("wrong-samples", lambda: _ch3_losses()[[0, 3]].mean(),
                    "weight 0 goes to class 0: it removes the samples whose target is class 0, and keeps the others.",
                    part=2),
            Mistake("unweighted", lambda: _ch3_losses().mean(),
                    "with a weight of 0 on class 0, some samples no longer count: the mean changes.", part=2),
        ),
    ),
    Exercise(
        "ex-avg-pad-class",
        expects="one number: the mean loss with the extra padding column",
        hint="build the logits with np.hstack([logits, np.full((4, 1), 3.0)]), keep target, and take the default mean.",
        expected=lambda: float(-(_log_softmax(np.hstack([_CH3_LOGITS, np.full((4, 1), 3.0)]))
                                 [np.arange(4), _CH3_TARGET]).mean()),
        nats=True,
        mistakes=(
            Mistake("unchanged", lambda: _ch3_losses().mean(),
                    "that is the mean without the padding column: add the column with np.hstack, then compute the loss."),
            Mistake("sum", lambda: float(-(_log_softmax(np.hstack([_CH3_LOGITS, np.full((4, 1), 3.0)]))
                                           [np.arange(4), _CH3_TARGET]).sum()),
                    "that is the sum over the four samples; the exercise asks for the mean (the default reduction)."),
        ),
    ),
    Exercise(
        "ex-avg-grad",
        expects="two integers: (the row that is zero, the number the other rows are divided by)",
        hint="look for the target equal to ignore_index in `padded`, and count the targets that still count.",
        expected=lambda: [2, 3],
        parts=("the zero row", "the divisor"),
        mistakes=(
            Mistake("divided-by-M", lambda: 4,
                    "an ignored target leaves the denominator too: divide by the number of targets that count.",
                    part=1),
            Mistake("counted-from-1", lambda: 3,
                    "rows are numbered from 0 in NumPy: the first row is row 0.", part=0),
        ),
    ),
    # Chapter 4
    Exercise(
        "ex-true-grad",
        expects="a 2 x 5 array: the gradient on the logits for the first vector, then for the second",
        hint="the gradient of cross-entropy on the logits is p - y, with p = softmax(logits) and y one-hot on class 0.",
        expected=lambda: np.stack([_softmax(_CH4_FIRST) - _one_hot(0, 5), _softmax(_CH4_SECOND) - _one_hot(0, 5)]),
        parts=("the gradient for the first vector", "the gradient for the second vector"),
        mistakes=(
            Mistake("probability-gradient", lambda: np.stack([-_one_hot(0, 5) / 0.6] * 2),
                    "that is the gradient with respect to the probabilities (-1/p at the true class, 0 elsewhere); "
                    "the exercise asks for the gradient on the logits."),
            Mistake("forgot-target", lambda: np.stack([_softmax(_CH4_FIRST), _softmax(_CH4_SECOND)]),
                    "those are the probabilities p; the gradient is p - y: subtract the one-hot target."),
            Mistake("sign", lambda: -np.stack([_softmax(_CH4_FIRST) - _one_hot(0, 5), _softmax(_CH4_SECOND) - _one_hot(0, 5)]),
                    "the sign is flipped: the gradient is p - y, so the true class's entry is negative."),
        ),
    ),
    # Chapter 5
    Exercise(
        "ex-mse-circ",
        expects="a list of two numbers: [squared error summed over classes, cross-entropy]",
        hint="the target is one-hot on cat, [1, 0, 0]; the cross-entropy is -log of the probability of cat.",
        expected=lambda: [(1 - 0.4) ** 2 + 0.2**2 + 0.4**2, -math.log(0.4)],
        parts=("the squared error", "the cross-entropy"),
        nats=True,
        mistakes=(
            Mistake("swapped", lambda: [-math.log(0.4), (1 - 0.4) ** 2 + 0.2**2 + 0.4**2],
                    "the two numbers are in the wrong order: first the squared error, then the cross-entropy."),
            Mistake("mean-over-classes", lambda: ((1 - 0.4) ** 2 + 0.2**2 + 0.4**2) / 3,
                    "you averaged over the three classes; here the squared error is summed over them.", part=0),
            Mistake("notes-number", lambda: 0.54,
                    "0.54 is the number the notes print, not what this row gives: compute the three squared differences.",
                    part=0),
            Mistake("wrong-class", lambda: -math.log(0.2),
                    "cross-entropy uses the probability of the true class, cat, which is the first entry.", part=1),
        ),
    ),
    Exercise(
        "ex-mse-jac",
        kind="function",
        expects="a function softmax_jacobian(p) that returns the C x C matrix J for a vector p of C probabilities",
        hint="J[i, k] = p_i (delta_ik - p_k), as in the exercise: compare your matrix with it entry by entry for a small p.",
        expected=lambda p: _softmax_jacobian(p),
        probes=(_softmax(_CH2_LOGITS), np.array([0.1, 0.2, 0.3, 0.4])),
        mistakes=(
            Mistake("no-diagonal", lambda p: -np.outer(p, p),
                    "the p_i * delta_ik term is missing: the diagonal needs p_i on top of -p_i p_k."),
            Mistake("diagonal-only", lambda p: np.diag(p),
                    "the -p_i p_k term is missing: every entry, off the diagonal too, has it."),
            Mistake("sign", lambda p: -_softmax_jacobian(p),
                    "the sign is flipped: the diagonal entries p_i (1 - p_i) are positive."),
        ),
    ),
    # Chapter 6
    Exercise(
        "ex-dfl-hand",
        expects="one number: the DFL for these logits and y = 2.3",
        hint="DFL weights the log-probabilities (log_softmax) of the two bins around y, each by its distance to the other bin.",
        expected=lambda: float(-(0.7 * _log_softmax(_CH6_LOGITS)[2] + 0.3 * _log_softmax(_CH6_LOGITS)[3])),
        nats=True,
        mistakes=(
            Mistake("swapped-weights", lambda: float(-(0.3 * _log_softmax(_CH6_LOGITS)[2] + 0.7 * _log_softmax(_CH6_LOGITS)[3])),
                    "the weights are swapped: the bin nearer to 2.3, bin 2, gets the larger weight, 3 - 2.3."),
            Mistake("one-bin", lambda: float(-_log_softmax(_CH6_LOGITS)[2]),
                    "that is the cross-entropy of bin 2 alone; DFL weights the two bins around the target."),
            Mistake("probabilities", lambda: float(-(0.7 * np.log(_CH6_LOGITS[2]) + 0.3 * np.log(_CH6_LOGITS[3]))),
                    "you took the log of the logits; take log_softmax(logits), the log-probabilities."),
        ),
    ),
    # Chapter 7
    Exercise(
        "ex-sum-which",
        kind="choices",
        expects='a dict of four celib functions, {"a": ..., "b": ..., "c": ..., "d": ...}',
        hint="ask: logits or probabilities? Classes that exclude each other, or independent yes/no tags?",
        choices={
            "a": "cross_entropy",
            "b": "binary_cross_entropy_with_logits",
            "c": "binary_cross_entropy_with_logits",
            "d": "categorical_cross_entropy",
        },
        choice_hints={
            ("a", "binary_cross_entropy_with_logits"): "10 logits per image and one integer label: the classes exclude each other, so this is multi-class.",
            ("a", "binary_cross_entropy"): "10 logits per image and one integer label: the classes exclude each other, so this is multi-class.",
            ("a", "categorical_cross_entropy"): "the network outputs logits, not probabilities: use the loss that applies the softmax itself.",
            ("a", "nll_loss"): "nll_loss expects log-probabilities; the network outputs logits.",
            ("b", "cross_entropy"): "one logit per image: a single logit goes with binary cross-entropy and a 0/1 target.",
            ("b", "binary_cross_entropy"): "the network outputs a logit, not a probability: use the form that applies the sigmoid itself.",
            ("c", "cross_entropy"): "the 80 tags do not exclude each other: each tag is its own yes/no problem.",
            ("c", "categorical_cross_entropy"): "the 80 tags do not exclude each other: each tag is its own yes/no problem.",
            ("c", "binary_cross_entropy"): "the network outputs logits, not probabilities: use the form that applies the sigmoid itself.",
            ("d", "cross_entropy"): "the model already outputs probabilities: cross_entropy would apply a second softmax.",
            ("d", "binary_cross_entropy"): "one-hot labels over several classes call for the multi-class loss on probabilities.",
        },
    ),
]

#: Every check, by exercise label.
EXERCISES: dict[str, Exercise] = {ex.label: ex for ex in _EXERCISES}


# ---------------------------------------------------------------------------------------
# Judging an answer
# ---------------------------------------------------------------------------------------
def _close(a, b) -> bool:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=RTOL, atol=ATOL))


def _roughly(a, b) -> bool:
    """Within 5%: right up to rounding that was too coarse."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=0.05, atol=1e-3))


def _is_blank(answer) -> bool:
    if answer is ... or answer is None:
        return True
    if isinstance(answer, (list, tuple)):
        return any(_is_blank(a) for a in answer)
    return False


def _describe(value) -> str:
    name = type(value).__name__
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def _generic_hint(answer, expected, nats: bool) -> tuple[str, str] | None:
    """The mistakes any number can have: the sign, or the base of the logarithm."""
    e = np.asarray(expected, dtype=float)
    if np.any(np.abs(e) > ATOL) and _close(answer, -e):
        return "sign", "the sign is flipped." + (" A loss -log p is never negative." if nats else "")
    if nats:
        if _close(answer, e / math.log(2)):
            return "log2", "that looks like log base 2 (bits); the course uses the natural log, np.log (nats)."
        if _close(answer, e / math.log(10)):
            return "log10", "that looks like log base 10; the course uses the natural log, np.log (nats)."
    if _roughly(answer, e):
        return "rounding", (f"close, but not within {RTOL:.1%}: keep at least three significant digits, "
                            "or let the code compute the value.")
    return None


def _numbers(ex: Exercise, answer) -> Verdict:
    expected = np.asarray(ex.expected(), dtype=float)
    try:
        a = np.asarray(answer, dtype=float)
    except (TypeError, ValueError):
        return _wrong(ex, "type", f"expected {ex.expects}, got {_describe(answer)}.", ex.hint)
    if a.shape != expected.shape:
        if a.size != expected.size:
            return _wrong(ex, "shape", f"expected {ex.expects}: that is {expected.size} number(s), "
                                       f"your answer has {a.size}.", "check the shape of your answer.")
        a = a.reshape(expected.shape)
    if not np.all(np.isfinite(a)):
        return _wrong(ex, "not-finite", "your answer contains nan or inf.",
                      "a log of 0, or a division by 0, somewhere in your computation?")
    if _close(a, expected):
        return Verdict(ex.label, True, "right", f"✔ {ex.label}: right.")
    for m in ex.mistakes:
        if m.part is None and _close(a, m.value()):
            return _wrong(ex, m.reason, "not yet.", m.hint)
    if ex.parts:
        right = [_close(a[i], expected[i]) for i in range(len(ex.parts))]
        i = right.index(False)
        lead = f"{sum(right)} of {len(ex.parts)} right; {ex.parts[i]} is not."
        for m in ex.mistakes:
            if m.part == i and _close(a[i], m.value()):
                return _wrong(ex, m.reason, lead, m.hint)
        found = _generic_hint(a[i], expected[i], ex.nats)
        if found:
            return _wrong(ex, found[0], lead, found[1])
        return _wrong(ex, "wrong", lead, ex.hint)
    found = _generic_hint(a, expected, ex.nats)
    if found:
        return _wrong(ex, found[0], "not yet.", found[1])
    return _wrong(ex, "wrong", "not yet.", ex.hint)


def _function(ex: Exercise, answer) -> Verdict:
    if answer is ... or answer is None:
        return _blank(ex)
    if not callable(answer):
        return _wrong(ex, "type", f"expected {ex.expects}, got {_describe(answer)}.",
                      "pass the function itself, without calling it: check(label, softmax_jacobian).")
    results = []
    for probe in ex.probes:
        try:
            results.append(answer(np.array(probe)))
        except Exception as err:  # the student's code: report, never raise
            return _wrong(ex, "raised", f"your function raised {type(err).__name__}: {err}", ex.hint)
    if any(r is None or r is ... for r in results):
        return _blank(ex, "your function returns None: replace the ... in its body with your code.")
    try:
        arrays = [np.asarray(r, dtype=float) for r in results]
    except (TypeError, ValueError):
        return _wrong(ex, "type", f"your function returns {_describe(results[0])}, not an array.", ex.hint)
    for probe, r in zip(ex.probes, arrays):
        want = np.asarray(ex.expected(probe))
        if r.shape != want.shape:
            return _wrong(ex, "shape", f"for {len(probe)} probabilities it returns shape {r.shape}; "
                                       f"expected {want.shape}.", "J has one row and one column per class.")
    if all(_close(r, ex.expected(p)) for p, r in zip(ex.probes, arrays)):
        return Verdict(ex.label, True, "right", f"✔ {ex.label}: right.")
    for m in ex.mistakes:
        if all(_close(r, m.value(p)) for p, r in zip(ex.probes, arrays)):
            return _wrong(ex, m.reason, "not yet.", m.hint)
    return _wrong(ex, "wrong", "not yet.", ex.hint)


def _name_of(choice) -> str | None:
    if choice is ... or choice is None:
        return None
    if isinstance(choice, str):
        return choice.strip().rstrip("()").split(".")[-1]
    return getattr(choice, "__name__", None) or type(choice).__name__


def _choices(ex: Exercise, answer) -> Verdict:
    if answer is ... or answer is None:
        return _blank(ex)
    if not isinstance(answer, dict):
        return _wrong(ex, "type", f"expected {ex.expects}, got {_describe(answer)}.", ex.hint)
    missing = [case for case in ex.choices if case not in answer]
    if missing:
        return _wrong(ex, "shape", f"expected {ex.expects}; missing: {', '.join(missing)}.", ex.hint)
    names = {case: _name_of(answer[case]) for case in ex.choices}
    if all(n is None for n in names.values()):
        return _blank(ex)
    right = [case for case in ex.choices if names[case] == ex.choices[case]]
    if len(right) == len(ex.choices):
        return Verdict(ex.label, True, "right", f"✔ {ex.label}: right.")
    case = next(c for c in ex.choices if names[c] != ex.choices[c])
    lead = f"{len(right)} of {len(ex.choices)} right; ({case}) is not."
    if names[case] is None:
        return _blank(ex, f"{len(right)} of {len(ex.choices)} right; ({case}) has no answer yet.")
    hint = ex.choice_hints.get((case, names[case]), ex.hint)
    return _wrong(ex, f"{case}:{names[case]}", lead, hint)


def _blank(ex: Exercise, detail: str | None = None) -> Verdict:
    text = detail or "replace the ... with your answer, then run this cell again."
    return Verdict(ex.label, None, "blank", f"… {ex.label}: no answer yet: {text}")


def _wrong(ex: Exercise, reason: str, what: str, hint: str) -> Verdict:
    return Verdict(ex.label, False, reason, f"✘ {ex.label}: {what}\n  Hint: {hint}")


def verdict(label: str, answer: Any) -> Verdict:
    """Judge ``answer`` to exercise ``label`` without printing (the tests use this)."""
    try:
        ex = EXERCISES[label]
    except KeyError:
        raise KeyError(f"no check for {label!r}; the checks are: {', '.join(EXERCISES)}") from None
    if ex.kind == "function":
        return _function(ex, answer)
    if ex.kind == "choices":
        return _choices(ex, answer)
    if _is_blank(answer):
        return _blank(ex)
    return _numbers(ex, answer)


def check(label: str, answer: Any) -> None:
    """Print whether ``answer`` to exercise ``label`` is right; if not, what is off, and a hint.

    It never prints the expected answer, and never raises because of the answer: a
    blank answer (``...``) says what to write.

    >>> check("ex-mc-cat", 2.766)
    ✔ ex-mc-cat: right.
    """
    print(verdict(label, answer).message)
