"""The exercise checks (book/tools/coursekit/checks.py): right answers pass, typical
wrong answers get the hint meant for them, a blank answer says what to do, and no
message ever shows the expected answer. The right answers are computed here the way a
student would, with celib, so the checks' NumPy formulas are checked against celib.

The checks speak both editions' languages: every message has a Chinese version, the
Chinese verdicts are the English ones in other words, and the language follows the
edition the notebook runs from (or COURSEKIT_LANG)."""

from __future__ import annotations

import json
import math
import re
import string

import numpy as np
import pytest
from conftest import ROOT

import celib
from coursekit import check, verdict
from coursekit.checks import EXERCISES, LANGS, PHRASES, language


@pytest.fixture(autouse=True)
def _english_by_default(monkeypatch):
    """The tests run from the repository, without COURSEKIT_LANG: English unless a test says otherwise."""
    monkeypatch.delenv("COURSEKIT_LANG", raising=False)
    monkeypatch.chdir(ROOT)

LOGITS3 = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 3.0, 0.0], [0.5, 0.5, 2.5]])
TARGET3 = np.array([0, 2, 1, 0])
Z = np.array([-10.0, -2.0, 0.0, 2.0, 10.0])
FIRST, SECOND = np.log([0.6, 0.1, 0.1, 0.1, 0.1]), np.log([0.6, 0.4, 1e-9, 1e-9, 1e-9])


def _jacobian_by_loops(p):
    n = len(p)
    return np.array([[p[i] * ((i == k) - p[k]) for k in range(n)] for i in range(n)])


def _avg_grad_answer():
    padded = np.array([0, 2, -100, 0])
    g = celib.cross_entropy_grad(LOGITS3, padded)
    zero = int(np.flatnonzero(~g.any(axis=1))[0])
    p_minus_y = celib.softmax(LOGITS3, axis=1) - celib.one_hot(np.where(padded < 0, 0, padded), 3)
    return zero, int(round(p_minus_y[0, 0] / g[0, 0]))


RIGHT = {
    "ex-bce-table": lambda: celib.binary_cross_entropy([0.2, 0.2], [1.0, 0.0], reduction="none"),
    "ex-bce-grad": lambda: celib.binary_cross_entropy_with_logits_grad(Z, np.ones(5), reduction="none"),
    "ex-mc-cat": lambda: celib.cross_entropy(np.array([1.0, 2.0, 3.5]), 0),
    "ex-avg-weights": lambda: [celib.cross_entropy(LOGITS3, TARGET3, weight=np.array(w))
                               for w in ([1.0, 1.0, 1.0], [3.0, 3.0, 3.0], [0.0, 1.0, 1.0])],
    "ex-avg-pad-class": lambda: celib.cross_entropy(np.hstack([LOGITS3, np.full((4, 1), 3.0)]), TARGET3),
    "ex-avg-grad": _avg_grad_answer,
    "ex-true-grad": lambda: np.stack([celib.cross_entropy_grad(FIRST, 0), celib.cross_entropy_grad(SECOND, 0)]),
    "ex-mse-circ": lambda: [celib.mse_loss([0.4, 0.2, 0.4], [1.0, 0.0, 0.0], reduction="sum"),
                            celib.categorical_cross_entropy([0.4, 0.2, 0.4], [1.0, 0.0, 0.0])],
    "ex-mse-jac": lambda: _jacobian_by_loops,
    "ex-dfl-hand": lambda: celib.distribution_focal_loss(np.array([0.0, 1.0, 3.0, 2.0, 0.0]), 2.3),
    "ex-sum-which": lambda: {"a": celib.cross_entropy, "b": celib.binary_cross_entropy_with_logits,
                             "c": celib.binary_cross_entropy_with_logits, "d": celib.categorical_cross_entropy},
}

# (exercise, a typical wrong answer, the reason its hint is for)
WRONG = [
    ("ex-bce-table", lambda: [-math.log(0.8), -math.log(0.2)], "swapped"),
    ("ex-bce-table", lambda: [0.2, 0.8], "probabilities"),
    ("ex-bce-table", lambda: [-math.log2(0.2), -math.log2(0.8)], "log2"),
    ("ex-bce-table", lambda: [math.log(0.2), math.log(0.8)], "sign"),
    ("ex-bce-table", lambda: [1.6, 0.22], "rounding"),
    ("ex-bce-table", lambda: [-math.log(0.2)], "shape"),
    ("ex-bce-table", lambda: "1.61, 0.22", "type"),
    ("ex-bce-table", lambda: [float("nan"), 0.22], "not-finite"),
    ("ex-bce-grad", lambda: celib.binary_cross_entropy_with_logits_grad(Z, np.ones(5)), "mean"),
    ("ex-bce-grad", lambda: 1 - celib.sigmoid(Z), "sign"),
    ("ex-bce-grad", lambda: celib.binary_cross_entropy_with_logits_grad(Z, np.zeros(5), reduction="none"), "negative-label"),
    ("ex-mc-cat", lambda: celib.softmax(np.array([1.0, 2.0, 3.5]))[0], "probability"),
    ("ex-mc-cat", lambda: celib.cross_entropy(np.array([1.0, 2.0, 3.5]), 2), "cow"),
    ("ex-mc-cat", lambda: celib.cross_entropy(np.array([1.0, 2.0, 3.5]), 1), "dog"),
    ("ex-mc-cat", lambda: celib.cross_entropy(np.array([1.0, 2.0, 3.5]), 0) / math.log(10), "log10"),
    ("ex-avg-weights", lambda: [RIGHT["ex-avg-weights"]()[0], 3 * RIGHT["ex-avg-weights"]()[0], RIGHT["ex-avg-weights"]()[2]], "scaled"),
    ("ex-avg-weights", lambda: [*RIGHT["ex-avg-weights"]()[:2],
                                celib.cross_entropy(LOGITS3, TARGET3, reduction="none")[[1, 2]].sum() / 4], "divided-by-M"),
    ("ex-avg-weights", lambda: [*RIGHT["ex-avg-weights"]()[:2],
                                celib.cross_entropy(LOGITS3[[0, 3]], TARGET3[[0, 3]])], "wrong-samples"),
    ("ex-avg-weights", lambda: [*RIGHT["ex-avg-weights"]()[:2], celib.cross_entropy(LOGITS3, TARGET3)], "unweighted"),
    ("ex-avg-pad-class", lambda: celib.cross_entropy(LOGITS3, TARGET3), "unchanged"),
    ("ex-avg-pad-class", lambda: celib.cross_entropy(np.hstack([LOGITS3, np.full((4, 1), 3.0)]), TARGET3, reduction="sum"), "sum"),
    ("ex-avg-grad", lambda: (2, 4), "divided-by-M"),
    ("ex-avg-grad", lambda: (3, 3), "counted-from-1"),
    ("ex-true-grad", lambda: np.stack([celib.categorical_cross_entropy_grad(celib.softmax(v)[None], np.array([0]))[0]
                                       for v in (FIRST, SECOND)]), "probability-gradient"),
    ("ex-true-grad", lambda: np.stack([celib.softmax(FIRST), celib.softmax(SECOND)]), "forgot-target"),
    ("ex-true-grad", lambda: -RIGHT["ex-true-grad"](), "sign"),
    ("ex-mse-circ", lambda: [RIGHT["ex-mse-circ"]()[1], RIGHT["ex-mse-circ"]()[0]], "swapped"),
    ("ex-mse-circ", lambda: [celib.mse_loss([0.4, 0.2, 0.4], [1.0, 0.0, 0.0]), RIGHT["ex-mse-circ"]()[1]], "mean-over-classes"),
    ("ex-mse-circ", lambda: [0.54, RIGHT["ex-mse-circ"]()[1]], "notes-number"),
    ("ex-mse-circ", lambda: [RIGHT["ex-mse-circ"]()[0], -math.log(0.2)], "wrong-class"),
    ("ex-mse-jac", lambda: (lambda p: -np.outer(p, p)), "no-diagonal"),
    ("ex-mse-jac", lambda: (lambda p: np.diag(p)), "diagonal-only"),
    ("ex-mse-jac", lambda: (lambda p: np.outer(p, p) - np.diag(p)), "sign"),
    ("ex-mse-jac", lambda: (lambda p: np.diag(p)[:, :1]), "shape"),
    ("ex-mse-jac", lambda: (lambda p: np.linalg.inv(np.zeros((2, 3)))), "raised"),
    ("ex-mse-jac", lambda: _jacobian_by_loops(np.array([0.5, 0.5])), "type"),  # called, not passed
    ("ex-dfl-hand", lambda: -(0.3 * celib.log_softmax(np.array([0.0, 1.0, 3.0, 2.0, 0.0]))[2]
                              + 0.7 * celib.log_softmax(np.array([0.0, 1.0, 3.0, 2.0, 0.0]))[3]), "swapped-weights"),
    ("ex-dfl-hand", lambda: celib.cross_entropy(np.array([0.0, 1.0, 3.0, 2.0, 0.0]), 2), "one-bin"),
    ("ex-dfl-hand", lambda: -RIGHT["ex-dfl-hand"](), "sign"),
    ("ex-sum-which", lambda: {**RIGHT["ex-sum-which"](), "b": celib.binary_cross_entropy}, "b:binary_cross_entropy"),
    ("ex-sum-which", lambda: {**RIGHT["ex-sum-which"](), "a": celib.categorical_cross_entropy}, "a:categorical_cross_entropy"),
    ("ex-sum-which", lambda: {**RIGHT["ex-sum-which"](), "c": "cross_entropy"}, "c:cross_entropy"),
    ("ex-sum-which", lambda: {**RIGHT["ex-sum-which"](), "d": celib.cross_entropy}, "d:cross_entropy"),
    ("ex-sum-which", lambda: {"a": celib.cross_entropy}, "shape"),
]


def _numbers_in(value) -> list[float]:
    if isinstance(value, dict) or callable(value):
        return []
    return [float(v) for v in np.ravel(np.asarray(value, dtype=float))]


def _revealed(message: str, expected) -> list[str]:
    """The expected values, written as a student might see them, that appear in a message."""
    shown = []
    for v in _numbers_in(expected):
        if abs(v) < 1e-3 or float(v).is_integer():
            continue  # 0, 1, 2, 3 appear in any sentence
        for digits in (2, 3, 4):
            text = f"{v:.{digits}f}"
            if text in message:
                shown.append(text)
    return shown


def test_every_exercise_has_a_right_answer_and_a_typical_mistake_here():
    assert set(RIGHT) == set(EXERCISES)
    assert {label for label, _, _ in WRONG} == set(EXERCISES)


@pytest.mark.parametrize("label", sorted(EXERCISES))
def test_right_answers_pass(label, capsys):
    v = verdict(label, RIGHT[label]())
    assert (v.ok, v.reason) == (True, "right"), v.message
    check(label, RIGHT[label]())
    assert capsys.readouterr().out == f"✔ {label}: right.\n"


def test_answers_rounded_to_three_significant_digits_pass():
    assert verdict("ex-bce-table", [1.61, 0.223]).ok
    assert verdict("ex-mc-cat", float(f"{RIGHT['ex-mc-cat']():.3g}")).ok
    assert verdict("ex-avg-grad", np.array([2.0, 3.0])).ok
    assert verdict("ex-sum-which", {"a": "celib.cross_entropy", "b": "binary_cross_entropy_with_logits",
                                    "c": "binary_cross_entropy_with_logits()", "d": "categorical_cross_entropy"}).ok


@pytest.mark.parametrize("label,wrong,reason", WRONG, ids=[f"{lab}-{r}" for lab, _, r in WRONG])
def test_typical_mistakes_get_their_hint_and_never_the_answer(label, wrong, reason):
    v = verdict(label, wrong())
    assert (v.ok, v.reason) == (False, reason), v.message
    assert v.message.startswith(f"✘ {label}: ") and "\n  Hint: " in v.message
    assert _revealed(v.message, RIGHT[label]()) == []


def _blank(label):
    """The answer as the check cell gives it to students."""
    return {"ex-mse-jac": lambda p: None, "ex-sum-which": {"a": ..., "b": ..., "c": ..., "d": ...}}.get(label, ...)


@pytest.mark.parametrize("label", sorted(EXERCISES))
def test_a_blank_answer_says_what_to_do(label, capsys):
    blank = _blank(label)
    v = verdict(label, blank)
    assert (v.ok, v.reason) == (None, "blank")
    assert v.message.startswith(f"… {label}: no answer yet: ")
    check(label, blank)
    assert capsys.readouterr().out == v.message + "\n"


def test_partial_answers_are_blank_and_odd_answers_never_raise():
    assert verdict("ex-bce-table", [1.61, ...]).reason == "blank"
    assert verdict("ex-sum-which", {**RIGHT["ex-sum-which"](), "d": ...}).reason == "blank"
    for label in EXERCISES:
        for odd in (None, "text", {"x": 1}, [[1, 2], [3]], object(), np.full(7, np.inf), lambda: 1):
            v = verdict(label, odd)
            assert v.ok is not True and v.message.startswith(("✘", "…")), (label, odd, v.message)


def test_an_unknown_label_is_an_error_of_the_notebook_not_of_the_student():
    with pytest.raises(KeyError, match="no check for 'ex-nope'"):
        check("ex-nope", 1.0)


def _chapters():
    return sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))


def test_every_check_cell_in_the_chapters_has_an_exercise_and_every_check_a_cell():
    used = {}
    for nb_path in _chapters():
        cells = json.loads(nb_path.read_text())["cells"]
        markdown = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        labels = set(re.findall(r"^:label: (\S+)", markdown, re.M))
        for i, cell in enumerate(cells):
            source = "".join(cell["source"])
            for label in re.findall(r"""^check\("([^"]+)",""", source, re.M):
                assert label in labels, f"{nb_path.name}: check for {label}, which is not an exercise of the chapter"
                assert label not in used, f"{label} checked twice"
                used[label] = nb_path.name
                before = "".join(cells[i - 1]["source"])
                assert f":label: {label}" in before, f"{nb_path.name}: the check of {label} must come right under it"
                assert re.search(r"^(answer = \.\.\.|answer = \{.*\.\.\.|def \w+\(.*\):\n    \.\.\.)", source, re.M), (
                    f"{nb_path.name}: {label}'s cell must start blank, as students get it"
                )
                text = "".join("".join(o.get("text", "")) for o in cell["outputs"])
                assert text == verdict(label, _blank(label)).message + "\n", (
                    f"{nb_path.name}: the stored output of {label}'s check is the blank message (the site shows it)"
                )
    assert sorted(used) == sorted(EXERCISES), "every check is used by exactly one chapter exercise"


# ---------------------------------------------------------------------------------------
# The Chinese edition's checks
# ---------------------------------------------------------------------------------------
CJK = re.compile(r"[\u4e00-\u9fff]")
# Code and formulas a message quotes (identifiers, calls, keyword arguments, -log, p, p1, J),
# which the Chinese message keeps as they are.
CODE = re.compile(r"\w+='\w+'|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+|\b[A-Za-z]\w*_\w+\b|\b\w+\(\w*\)|-log\b|\b[pJ]\d?\b")
ODD = (None, "text", {"x": 1}, [[1, 2], [3]], object(), np.full(7, np.inf), lambda: 1, 12345.0, [1.0, 2.0, 3.0, 4.0])


def _code_in(text: str) -> set[str]:
    return set(CODE.findall(text)) - {"number(s)"}  # an English plural, not code


def _fields(text: str) -> list[str]:
    return sorted(name for _, name, _, _ in string.Formatter().parse(text) if name)


def test_every_phrase_is_in_both_languages():
    assert set(PHRASES) == set(LANGS) == {"en", "zh"}
    assert PHRASES["zh"].keys() == PHRASES["en"].keys()
    for key, en in PHRASES["en"].items():
        zh = PHRASES["zh"][key]
        assert _fields(zh) == _fields(en), f"{key}: the Chinese phrase must fill the same fields"
        assert _code_in(en) <= _code_in(zh), f"{key}: the Chinese phrase must quote the same code"
        if key != "list-separator":
            assert CJK.search(zh), f"{key}: the Chinese phrase is not in Chinese: {zh!r}"
        assert not CJK.search(en), f"{key}: Chinese in the English phrase: {en!r}"


@pytest.mark.parametrize("label", sorted(EXERCISES))
def test_every_text_of_every_exercise_is_in_both_languages(label):
    ex = EXERCISES[label]
    texts = ex.texts()
    assert len(texts) == 2 + len(ex.parts) + len(ex.mistakes) + len(ex.choice_hints)
    for text in texts:
        assert text.en.strip() and not CJK.search(text.en), text
        assert CJK.search(text.zh), f"{label}: no Chinese in {text.zh!r} (for {text.en!r})"
        assert _code_in(text.en) <= _code_in(text.zh), (
            f"{label}: the Chinese text must quote the English one's code {sorted(_code_in(text.en) - _code_in(text.zh))}: {text.zh!r}")
        assert text["en"] == text.en and text["zh"] == text.zh


def _all_answers():
    """(label, answer) for the right answers, the blank ones, every typical mistake and odd answers."""
    cases = [(label, f()) for label, f in RIGHT.items()]
    cases += [(label, _blank(label)) for label in EXERCISES]
    cases += [(label, f()) for label, f, _ in WRONG]
    cases += [(label, odd) for label in EXERCISES for odd in ODD]
    cases += [("ex-bce-table", [1.61, ...]), ("ex-sum-which", {**RIGHT["ex-sum-which"](), "d": ...}),
              ("ex-sum-which", {**RIGHT["ex-sum-which"](), "a": "nll_loss"}), ("ex-mse-jac", lambda p: "x")]
    return cases


ALL = _all_answers()


@pytest.mark.parametrize("label,answer", ALL, ids=[f"{lab}-{i}" for i, (lab, _) in enumerate(ALL)])
def test_the_chinese_verdict_is_the_english_one_in_chinese(label, answer):
    en, zh = verdict(label, answer, lang="en"), verdict(label, answer, lang="zh")
    assert (zh.ok, zh.reason) == (en.ok, en.reason)
    assert (en.lang, zh.lang) == ("en", "zh")
    assert CJK.search(zh.message), zh.message
    assert not CJK.search(en.message), en.message
    assert zh.message.count("\n") == en.message.count("\n")
    if zh.ok:
        assert zh.message == f"✔ {label}：正确。"
    elif zh.ok is None:
        assert zh.message.startswith(f"… {label}：尚未作答。")
    else:
        assert zh.message.startswith(f"✘ {label}：") and "\n  提示：" in zh.message
    if label in RIGHT:
        assert _revealed(zh.message, RIGHT[label]()) == []


@pytest.mark.parametrize("label,wrong,reason", WRONG, ids=[f"{lab}-{r}" for lab, _, r in WRONG])
def test_typical_mistakes_get_their_chinese_hint_and_never_the_answer(label, wrong, reason):
    v = verdict(label, wrong(), lang="zh")
    assert (v.ok, v.reason) == (False, reason), v.message
    assert v.message.startswith(f"✘ {label}：") and "\n  提示：" in v.message
    assert _revealed(v.message, RIGHT[label]()) == []
    hint = v.message.split("\n  提示：", 1)[1]
    assert CJK.search(hint), v.message


def test_an_unknown_language_is_an_error():
    with pytest.raises(ValueError, match="no messages in 'fr'"):
        verdict("ex-mc-cat", 1.0, lang="fr")


def _folder(tmp_path, *parts):
    folder = tmp_path.joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.parametrize("where,lang", [
    (("repo", "book", "zh"), "zh"),  # nbval and the site build: the chapter's folder
    (("repo", "book", "zh", "student"), "zh"),  # JupyterLab, Binder: the notebook's folder
    (("repo", "book", "zh", "appendix"), "zh"),
    (("repo", "book"), "en"),
    (("repo", "book", "student"), "en"),
    (("repo", "zh"), "en"),  # a zh folder outside book/ is not the edition
    (("repo", "book", "zhx"), "en"),
    (("content",), "en"),  # Colab
])
def test_the_language_follows_the_edition_the_notebook_runs_from(tmp_path, monkeypatch, where, lang):
    monkeypatch.chdir(_folder(tmp_path, *where))
    assert language() == lang
    assert verdict("ex-mc-cat", ...).lang == lang


@pytest.mark.parametrize("value,in_en,in_zh", [
    ("zh", "zh", "zh"),
    ("en", "en", "en"),
    ("ZH", "zh", "zh"),
    ("zh-CN", "zh", "zh"),
    ("zh_CN.UTF-8", "zh", "zh"),
    (" en ", "en", "en"),
    ("fr", "en", "zh"),  # not a language of the checks: ignored
    ("", "en", "zh"),
])
def test_coursekit_lang_overrides_the_folder(tmp_path, monkeypatch, value, in_en, in_zh):
    monkeypatch.setenv("COURSEKIT_LANG", value)
    monkeypatch.chdir(_folder(tmp_path, "content"))
    assert language() == in_en
    monkeypatch.chdir(_folder(tmp_path, "repo", "book", "zh"))
    assert language() == in_zh


def test_check_prints_chinese_in_the_chinese_edition(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(_folder(tmp_path, "book", "zh"))
    check("ex-mc-cat", RIGHT["ex-mc-cat"]())
    check("ex-mc-cat", ...)
    check("ex-mc-cat", celib.softmax(np.array([1.0, 2.0, 3.5]))[0])
    out = capsys.readouterr().out
    assert out == (
        "✔ ex-mc-cat：正确。\n"
        + verdict("ex-mc-cat", ..., lang="zh").message + "\n"
        + verdict("ex-mc-cat", celib.softmax(np.array([1.0, 2.0, 3.5]))[0], lang="zh").message + "\n"
    )
    monkeypatch.setenv("COURSEKIT_LANG", "en")  # read at every check: takes effect at once
    check("ex-mc-cat", RIGHT["ex-mc-cat"]())
    assert capsys.readouterr().out == "✔ ex-mc-cat: right.\n"


def _chinese_chapters():
    return sorted((ROOT / "book" / "zh").glob("[0-9][0-9]_*.ipynb"))


def test_the_chinese_chapters_store_the_chinese_blank_messages():
    """The Chinese chapters run from book/zh/, so nbval (and the site) expect the Chinese message."""
    seen = set()
    for nb_path in _chinese_chapters():
        for cell in json.loads(nb_path.read_text(encoding="utf-8"))["cells"]:
            source = "".join(cell["source"])
            for label in re.findall(r"""^check\("([^"]+)",""", source, re.M):
                seen.add(label)
                text = "".join("".join(o.get("text", "")) for o in cell["outputs"])
                assert text == verdict(label, _blank(label), lang="zh").message + "\n", (
                    f"book/zh/{nb_path.name}: the stored output of {label}'s check must be the Chinese blank message")
    assert seen == set(EXERCISES)
