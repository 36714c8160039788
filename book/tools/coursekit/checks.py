"""One-line checks for the course's exercises, in the reader's language.

Every exercise whose answer is a number, an array or a function has a check. Under the
exercise, the student writes the answer and runs::

    answer = [1.61, 0.22]
    check("ex-bce-table", answer)

``check`` prints one of three things, and never the expected answer:

- ``✔ ex-bce-table: right.``
- ``… ex-bce-table: no answer yet: ...`` while ``answer`` is still ``...``;
- ``✘ ex-bce-table: ...`` saying what is off (which value, the shape, the sign) and a
  hint aimed at the usual mistake (values swapped, log base 2, the mean's denominator).

It speaks the language of the edition the notebook runs from (see ``language()``): the
two editions run the same code cells, so the call is the same and only the words differ
(``✔ ex-bce-table：正确。`` in the Chinese edition). Every message is written here in
both languages, side by side: a ``Text`` for each exercise's texts, and the table
``PHRASES`` for the sentences all exercises share. Labels, code and formulas are the same
in both.

The expected answers are computed here with NumPy from the exercise's data, not with
celib, so a check does not inherit a bug of the library it teaches. A student who reads
this file can find the answers: the checks are for learning, not for grading.

>>> verdict("ex-bce-table", ..., lang="en").reason
'blank'
>>> verdict("ex-bce-table", [1.609, 0.223], lang="en").ok
True
>>> verdict("ex-bce-table", [0.223, 1.609], lang="en").reason
'swapped'
>>> print(verdict("ex-bce-table", [0.223, 1.609], lang="zh"))
✘ ex-bce-table：还不对。
  提示：两个损失的顺序反了：y = 1 时的损失来自 p1 那一列。
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = ["check", "verdict", "language", "Verdict", "Text", "EXERCISES", "PHRASES", "LANGS", "RTOL"]

#: An answer is right when it agrees with the expected one to this relative tolerance
#: (three significant digits pass), or to ``ATOL`` for values near zero.
RTOL = 5e-3
ATOL = 1e-6

#: The languages of the checks: those of the two editions.
LANGS = ("en", "zh")

#: The environment variable that chooses the language, overriding the edition's folder
#: (for Colab, where a notebook runs outside the repository): ``COURSEKIT_LANG=zh``, or in
#: a cell ``%env COURSEKIT_LANG=zh``.
LANG_VARIABLE = "COURSEKIT_LANG"


def language() -> str:
    """The language of the checks' messages: ``"zh"`` or ``"en"``.

    ``COURSEKIT_LANG`` decides when it is set to ``zh`` or ``en`` (``zh-CN``, ``zh_CN.UTF-8``
    count as ``zh``; other values are ignored). Otherwise it is ``"zh"`` when the notebook
    runs from the Chinese edition, that is when the kernel's working directory is inside
    ``book/zh/`` (``coursekit.setup.chinese_edition``): nbval, the site build, JupyterLab
    and Binder start a notebook's kernel in the notebook's folder. Anywhere else, ``"en"``.
    It is read at every check, so setting the variable in a running notebook takes effect
    at the next check.
    """
    wanted = re.split(r"[-_.]", os.environ.get(LANG_VARIABLE, "").strip().lower())[0]  # zh_CN.UTF-8 -> zh
    if wanted in LANGS:
        return wanted
    try:
        from .setup import chinese_edition
    except ImportError:  # coursekit.setup needs myst-nb and matplotlib; without them, English
        return "en"
    return "zh" if chinese_edition() else "en"


@dataclass(frozen=True)
class Text:
    """One message in both languages: ``text["en"]``, ``text["zh"]`` (Simplified Chinese)."""

    en: str
    zh: str

    def __getitem__(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


#: The sentences every check shares, by language (``str.format`` fields in braces).
PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "right": "✔ {label}: right.",
        "blank": "… {label}: no answer yet: {text}",
        "wrong": "✘ {label}: {what}\n  Hint: {hint}",
        "replace": "replace the ... with your answer, then run this cell again.",
        "not-yet": "not yet.",
        "a": "a {name}",
        "an": "an {name}",
        "type": "expected {expects}, got {got}.",
        "size": "expected {expects}: that is {size} number(s), your answer has {got}.",
        "size-hint": "check the shape of your answer.",
        "not-finite": "your answer contains nan or inf.",
        "not-finite-hint": "a log of 0, or a division by 0, somewhere in your computation?",
        "parts-wrong": "{right} of {total} right; {part} is not.",
        "sign": "the sign is flipped.",
        "sign-loss": "the sign is flipped. A loss -log p is never negative.",
        "log2": "that looks like log base 2 (bits); the course uses the natural log, np.log (nats).",
        "log10": "that looks like log base 10; the course uses the natural log, np.log (nats).",
        "rounding": "close, but not within {rtol}: keep at least three significant digits, "
                    "or let the code compute the value.",
        "pass-function": "pass the function itself, without calling it: check(label, softmax_jacobian).",
        "raised": "your function raised {error}: {detail}",
        "returns-none": "your function returns None: replace the ... in its body with your code.",
        "returns-type": "your function returns {got}, not an array.",
        "function-shape": "for {n} probabilities it returns shape {got}; expected {want}.",
        "function-shape-hint": "J has one row and one column per class.",
        "missing": "expected {expects}; missing: {missing}.",
        "list-separator": ", ",
        "cases-wrong": "{right} of {total} right; ({case}) is not.",
        "case-blank": "{right} of {total} right; ({case}) has no answer yet.",
    },
    "zh": {
        "right": "✔ {label}：正确。",
        "blank": "… {label}：尚未作答。{text}",
        "wrong": "✘ {label}：{what}\n  提示：{hint}",
        "replace": "把 ... 换成你的答案，然后重新运行这个单元格。",
        "not-yet": "还不对。",
        "a": "一个 {name} 对象",
        "an": "一个 {name} 对象",
        "type": "答案应为{expects}，你给出的却是{got}。",
        "size": "答案应为{expects}，即 {size} 个数，而你的答案有 {got} 个。",
        "size-hint": "检查一下答案的形状。",
        "not-finite": "你的答案中含有 nan 或 inf。",
        "not-finite-hint": "计算中是不是对 0 取了对数，或者除以了 0？",
        "parts-wrong": "{total} 个值中对了 {right} 个；{part}不对。",
        "sign": "符号反了。",
        "sign-loss": "符号反了。损失 -log p 不可能为负。",
        "log2": "这看起来用的是以 2 为底的对数（比特）；本课程用自然对数 np.log（奈特）。",
        "log10": "这看起来用的是以 10 为底的对数；本课程用自然对数 np.log（奈特）。",
        "rounding": "很接近，但相差超过了 {rtol}：至少保留三位有效数字，或者直接让代码算出这个值。",
        "pass-function": "传入函数本身，不要调用它：check(label, softmax_jacobian)。",
        "raised": "你的函数抛出了 {error}：{detail}",
        "returns-none": "你的函数返回 None：把函数体中的 ... 换成你的代码。",
        "returns-type": "你的函数返回的是{got}，而不是数组。",
        "function-shape": "对 {n} 个概率，它返回的形状是 {got}；应为 {want}。",
        "function-shape-hint": "J 的行数和列数都等于类别数。",
        "missing": "答案应为{expects}；缺少：{missing}。",
        "list-separator": "、",
        "cases-wrong": "{total} 种情况中对了 {right} 种；（{case}）不对。",
        "case-blank": "{total} 种情况中对了 {right} 种；（{case}）还没有答案。",
    },
}


def _say(lang: str, key: str, **fields) -> str:
    return PHRASES[lang][key].format(**fields)


@dataclass(frozen=True)
class Verdict:
    """The result of a check: ``ok`` is True (right), False (wrong) or None (no answer yet)."""

    label: str
    ok: bool | None
    reason: str  # "right", "blank", or the mistake found: "swapped", "shape", "sign", ...
    message: str
    lang: str = "en"

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Mistake:
    """A typical wrong answer: what it evaluates to, and the hint it deserves."""

    reason: str
    value: Callable[[], Any]
    hint: Text
    part: int | None = None  # None: the whole answer; i: the i-th value of a multi-part answer


@dataclass(frozen=True)
class Exercise:
    label: str
    expects: Text  # the form of the answer, shown when it has the wrong type or shape (never the value)
    hint: Text  # the general hint, when no typical mistake matches
    expected: Callable[[], Any] = lambda: None
    kind: str = "numbers"  # "numbers", "function" or "choices"
    parts: tuple[Text, ...] = ()
    mistakes: tuple[Mistake, ...] = ()
    nats: bool = False  # the answer is a loss in nats: try the log-base and sign mistakes
    probes: tuple = ()  # "function": the arguments it is called with
    choices: dict = field(default_factory=dict)  # "choices": case -> accepted function name
    choice_hints: dict = field(default_factory=dict)  # (case, given name) -> Text

    def texts(self) -> list[Text]:
        """Every text of the exercise (the tests check that each has both languages)."""
        return [self.expects, self.hint, *self.parts, *(m.hint for m in self.mistakes), *self.choice_hints.values()]


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
# Hints that two wrong choices of ex-sum-which share.
_MULTI_CLASS = Text("10 logits per image and one integer label: the classes exclude each other, so this is multi-class.",
                    "每张图像 10 个 logit、一个整数标签：各类别相互排斥，所以这是多分类。")
_INDEPENDENT_TAGS = Text("the 80 tags do not exclude each other: each tag is its own yes/no problem.",
                         "这 80 个标签并不相互排斥：每个标签都是一个独立的是/否问题。")

_EXERCISES = [
    # Chapter 1
    Exercise(
        "ex-bce-table",
        expects=Text("a list of two losses: [loss if y = 1, loss if y = 0]",
                     "由两个损失组成的列表：[标签为 1 时的损失, 标签为 0 时的损失]"),
        hint=Text("the loss is -log of the probability the model gives to the true label: p1 if y = 1, p0 = 1 - p1 if y = 0.",
                  "损失是模型给真实标签的概率取 -log：y = 1 时用 p1，y = 0 时用 p0 = 1 - p1。"),
        expected=lambda: [-math.log(0.2), -math.log(0.8)],
        parts=(Text("the loss if y = 1", "y = 1 时的损失"), Text("the loss if y = 0", "y = 0 时的损失")),
        nats=True,
        mistakes=(
            Mistake("swapped", lambda: [-math.log(0.8), -math.log(0.2)],
                    Text("the two losses are in the wrong order: for y = 1 the loss comes from the p1 column.",
                         "两个损失的顺序反了：y = 1 时的损失来自 p1 那一列。")),
            Mistake("probabilities", lambda: [0.2, 0.8],
                    Text("those are the probabilities p1 and p0; the loss is -log of the true label's probability.",
                         "这是概率 p1 和 p0 本身；损失是真实标签的概率取 -log。")),
        ),
    ),
    Exercise(
        "ex-bce-grad",
        expects=Text("an array of five gradients, one for each logit z = -10, -2, 0, 2, 10",
                     "由五个梯度组成的数组，依次对应 logit z = -10, -2, 0, 2, 10"),
        hint=Text("the gradient of binary cross-entropy on its logit is sigma(z) - y, here with y = 1.",
                  "二元交叉熵对其 logit 的梯度是 sigma(z) - y，这里 y = 1。"),
        expected=lambda: _sigmoid(_CH1_Z) - 1.0,
        mistakes=(
            Mistake("mean", lambda: (_sigmoid(_CH1_Z) - 1.0) / 5,
                    Text("your gradients are 5 times too small: the default reduction='mean' divides by the number "
                         "of logits. Pass reduction='none' to get one gradient per logit.",
                         "你的梯度只有应有大小的五分之一：默认的 reduction='mean' 会除以 logit 的个数。"
                         "传入 reduction='none'，就能为每个 logit 得到一个梯度。")),
            Mistake("sign", lambda: 1.0 - _sigmoid(_CH1_Z),
                    Text("the sign is flipped: the gradient is sigma(z) - y, negative here, because raising z lowers the loss.",
                         "符号反了：梯度是 sigma(z) - y，在这里为负，因为增大 z 会降低损失。")),
            Mistake("negative-label", lambda: _sigmoid(_CH1_Z),
                    Text("that is sigma(z), the gradient for a negative sample (y = 0); the exercise has y = 1.",
                         "这是 sigma(z)，即负样本（y = 0）的梯度；本练习中 y = 1。")),
        ),
    ),
    # Chapter 2
    Exercise(
        "ex-mc-cat",
        expects=Text("one number: the loss if the picture is a cat", "一个数：图片是猫时的损失"),
        hint=Text("the loss is -log of the softmax probability of the true class; cat is class 0.",
                  "损失是真实类别的 softmax 概率取 -log；猫是类别 0。"),
        expected=lambda: -_log_softmax(_CH2_LOGITS)[0],
        nats=True,
        mistakes=(
            Mistake("probability", lambda: _softmax(_CH2_LOGITS)[0],
                    Text("that is the probability of cat itself; the loss is -log of it.",
                         "这是猫的概率本身；损失是它的 -log。")),
            Mistake("cow", lambda: -_log_softmax(_CH2_LOGITS)[2],
                    Text("that is the loss when the picture is a cow (class 2); the cat is class 0.",
                         "这是图片为牛（类别 2）时的损失；猫是类别 0。")),
            Mistake("dog", lambda: -_log_softmax(_CH2_LOGITS)[1],
                    Text("that is the loss for a dog (class 1); the classes are in the order cat, dog, cow.",
                         "这是狗（类别 1）的损失；类别的顺序是猫、狗、牛。")),
        ),
    ),
    # Chapter 3
    Exercise(
        "ex-avg-weights",
        expects=Text("a list of three weighted means: [with weight [1, 1, 1], with [3, 3, 3], with [0, 1, 1]]",
                     "由三个加权平均值组成的列表：[权重为 [1, 1, 1] 时, 为 [3, 3, 3] 时, 为 [0, 1, 1] 时]"),
        hint=Text("the weighted mean is sum(w[target] * loss) / sum(w[target]): it divides by the weights actually used.",
                  "加权平均是 sum(w[target] * loss) / sum(w[target])：分母是实际用到的权重之和。"),
        expected=lambda: [_ch3_losses().mean(), _ch3_losses().mean(), _ch3_losses()[[1, 2]].mean()],
        parts=(Text("the mean with weights [1, 1, 1]", "权重为 [1, 1, 1] 时的平均值"),
               Text("the mean with weights [3, 3, 3]", "权重为 [3, 3, 3] 时的平均值"),
               Text("the mean with weights [0, 1, 1]", "权重为 [0, 1, 1] 时的平均值")),
        nats=True,
        mistakes=(
            Mistake("scaled", lambda: 3 * _ch3_losses().mean(),
                    Text("multiplying every weight by 3 multiplies the numerator and the denominator: the mean does not change.",
                         "把每个权重都乘以 3，分子和分母也同时乘以 3：平均值不变。"),
                    part=1),
            Mistake("divided-by-M", lambda: _ch3_losses()[[1, 2]].sum() / 4,
                    Text("you divided by M = 4; the weighted mean divides by the sum of the weights used, and a "
                         "sample of weight 0 adds nothing to it.",
                         "你除以了 M = 4；加权平均除以的是实际用到的权重之和，权重为 0 的样本对它没有贡献。"),
                    part=2),
            Mistake("wrong-samples", lambda: _ch3_losses()[[0, 3]].mean(),
                    Text("weight 0 goes to class 0: it removes the samples whose target is class 0, and keeps the others.",
                         "权重 0 属于类别 0：它去掉的是目标为类别 0 的样本，其余样本保留。"),
                    part=2),
            Mistake("unweighted", lambda: _ch3_losses().mean(),
                    Text("with a weight of 0 on class 0, some samples no longer count: the mean changes.",
                         "类别 0 的权重为 0 时，有些样本不再计入：平均值会变。"),
                    part=2),
        ),
    ),
    Exercise(
        "ex-avg-pad-class",
        expects=Text("one number: the mean loss with the extra padding column", "一个数：加上填充列之后的平均损失"),
        hint=Text("build the logits with np.hstack([logits, np.full((4, 1), 3.0)]), keep target, and take the default mean.",
                  "用 np.hstack([logits, np.full((4, 1), 3.0)]) 构造 logit，target 保持不变，取默认的平均。"),
        expected=lambda: float(-(_log_softmax(np.hstack([_CH3_LOGITS, np.full((4, 1), 3.0)]))
                                 [np.arange(4), _CH3_TARGET]).mean()),
        nats=True,
        mistakes=(
            Mistake("unchanged", lambda: _ch3_losses().mean(),
                    Text("that is the mean without the padding column: add the column with np.hstack, then compute the loss.",
                         "这是没有填充列时的平均值：先用 np.hstack 加上这一列，再计算损失。")),
            Mistake("sum", lambda: float(-(_log_softmax(np.hstack([_CH3_LOGITS, np.full((4, 1), 3.0)]))
                                           [np.arange(4), _CH3_TARGET]).sum()),
                    Text("that is the sum over the four samples; the exercise asks for the mean (the default reduction).",
                         "这是四个样本的损失之和；练习要求的是平均值（默认的归约方式）。")),
        ),
    ),
    Exercise(
        "ex-avg-grad",
        expects=Text("two integers: (the row that is zero, the number the other rows are divided by)",
                     "两个整数：(为零的那一行, 其余各行所除的数)"),
        hint=Text("look for the target equal to ignore_index in `padded`, and count the targets that still count.",
                  "在 `padded` 中找出等于 ignore_index 的目标，再数一数仍然计入的目标有几个。"),
        expected=lambda: [2, 3],
        parts=(Text("the zero row", "为零的那一行"), Text("the divisor", "除数")),
        mistakes=(
            Mistake("divided-by-M", lambda: 4,
                    Text("an ignored target leaves the denominator too: divide by the number of targets that count.",
                         "被忽略的目标也不计入分母：应除以仍然计入的目标个数。"),
                    part=1),
            Mistake("counted-from-1", lambda: 3,
                    Text("rows are numbered from 0 in NumPy: the first row is row 0.",
                         "NumPy 中的行从 0 开始编号：第一行是第 0 行。"),
                    part=0),
        ),
    ),
    # Chapter 4
    Exercise(
        "ex-true-grad",
        expects=Text("a 2 x 5 array: the gradient on the logits for the first vector, then for the second",
                     "一个 2 x 5 数组：先是第一个 logit 向量的梯度，然后是第二个的"),
        hint=Text("the gradient of cross-entropy on the logits is p - y, with p = softmax(logits) and y one-hot on class 0.",
                  "交叉熵对 logit 的梯度是 p - y，其中 p = softmax(logits)，y 是类别 0 上的独热向量。"),
        expected=lambda: np.stack([_softmax(_CH4_FIRST) - _one_hot(0, 5), _softmax(_CH4_SECOND) - _one_hot(0, 5)]),
        parts=(Text("the gradient for the first vector", "第一个 logit 向量的梯度"),
               Text("the gradient for the second vector", "第二个 logit 向量的梯度")),
        mistakes=(
            Mistake("probability-gradient", lambda: np.stack([-_one_hot(0, 5) / 0.6] * 2),
                    Text("that is the gradient with respect to the probabilities (-1/p at the true class, 0 elsewhere); "
                         "the exercise asks for the gradient on the logits.",
                         "这是对概率的梯度（真实类别处为 -1/p，其余为 0）；练习要求的是对 logit 的梯度。")),
            Mistake("forgot-target", lambda: np.stack([_softmax(_CH4_FIRST), _softmax(_CH4_SECOND)]),
                    Text("those are the probabilities p; the gradient is p - y: subtract the one-hot target.",
                         "这是概率 p；梯度是 p - y：还要减去独热目标。")),
            Mistake("sign", lambda: -np.stack([_softmax(_CH4_FIRST) - _one_hot(0, 5), _softmax(_CH4_SECOND) - _one_hot(0, 5)]),
                    Text("the sign is flipped: the gradient is p - y, so the true class's entry is negative.",
                         "符号反了：梯度是 p - y，所以真实类别那一项为负。")),
        ),
    ),
    # Chapter 5
    Exercise(
        "ex-mse-circ",
        expects=Text("a list of two numbers: [squared error summed over classes, cross-entropy]",
                     "由两个数组成的列表：[对类别求和的平方误差, 交叉熵]"),
        hint=Text("the target is one-hot on cat, [1, 0, 0]; the cross-entropy is -log of the probability of cat.",
                  "目标是猫上的独热向量 [1, 0, 0]；交叉熵是猫的概率取 -log。"),
        expected=lambda: [(1 - 0.4) ** 2 + 0.2**2 + 0.4**2, -math.log(0.4)],
        parts=(Text("the squared error", "平方误差"), Text("the cross-entropy", "交叉熵")),
        nats=True,
        mistakes=(
            Mistake("swapped", lambda: [-math.log(0.4), (1 - 0.4) ** 2 + 0.2**2 + 0.4**2],
                    Text("the two numbers are in the wrong order: first the squared error, then the cross-entropy.",
                         "两个数的顺序反了：先写平方误差，再写交叉熵。")),
            Mistake("mean-over-classes", lambda: ((1 - 0.4) ** 2 + 0.2**2 + 0.4**2) / 3,
                    Text("you averaged over the three classes; here the squared error is summed over them.",
                         "你对三个类别取了平均；这里的平方误差要对类别求和。"),
                    part=0),
            Mistake("notes-number", lambda: 0.54,
                    Text("0.54 is the number the notes print, not what this row gives: compute the three squared differences.",
                         "0.54 是笔记里打印的数字，并不是这一行算出来的：把三个差的平方算出来。"),
                    part=0),
            Mistake("wrong-class", lambda: -math.log(0.2),
                    Text("cross-entropy uses the probability of the true class, cat, which is the first entry.",
                         "交叉熵用的是真实类别（猫）的概率，也就是第一个元素。"),
                    part=1),
        ),
    ),
    Exercise(
        "ex-mse-jac",
        kind="function",
        expects=Text("a function softmax_jacobian(p) that returns the C x C matrix J for a vector p of C probabilities",
                     "一个函数 softmax_jacobian(p)：对由 C 个概率组成的向量 p，返回 C x C 的矩阵 J"),
        hint=Text("J[i, k] = p_i (delta_ik - p_k), as in the exercise: compare your matrix with it entry by entry for a small p.",
                  "按练习中的公式，J[i, k] = p_i (delta_ik - p_k)：取一个小的 p，把你的矩阵与它逐个元素比较。"),
        expected=lambda p: _softmax_jacobian(p),
        probes=(_softmax(_CH2_LOGITS), np.array([0.1, 0.2, 0.3, 0.4])),
        mistakes=(
            Mistake("no-diagonal", lambda p: -np.outer(p, p),
                    Text("the p_i * delta_ik term is missing: the diagonal needs p_i on top of -p_i p_k.",
                         "缺少 p_i * delta_ik 这一项：对角线上除了 -p_i p_k，还要再加上 p_i。")),
            Mistake("diagonal-only", lambda p: np.diag(p),
                    Text("the -p_i p_k term is missing: every entry, off the diagonal too, has it.",
                         "缺少 -p_i p_k 这一项：每个元素都有这一项，对角线以外的元素也不例外。")),
            Mistake("sign", lambda p: -_softmax_jacobian(p),
                    Text("the sign is flipped: the diagonal entries p_i (1 - p_i) are positive.",
                         "符号反了：对角线上的元素 p_i (1 - p_i) 是正的。")),
        ),
    ),
    # Chapter 6
    Exercise(
        "ex-dfl-hand",
        expects=Text("one number: the DFL for these logits and y = 2.3", "一个数：这组 logit 在 y = 2.3 时的 DFL"),
        hint=Text("DFL weights the log-probabilities (log_softmax) of the two bins around y, each by its distance to the other bin.",
                  "DFL 对 y 两侧两个刻度的对数概率（log_softmax）加权，每个刻度的权重是 y 到另一个刻度的距离。"),
        expected=lambda: float(-(0.7 * _log_softmax(_CH6_LOGITS)[2] + 0.3 * _log_softmax(_CH6_LOGITS)[3])),
        nats=True,
        mistakes=(
            Mistake("swapped-weights", lambda: float(-(0.3 * _log_softmax(_CH6_LOGITS)[2] + 0.7 * _log_softmax(_CH6_LOGITS)[3])),
                    Text("the weights are swapped: the bin nearer to 2.3, bin 2, gets the larger weight, 3 - 2.3.",
                         "两个权重反了：离 2.3 更近的刻度 2 得到较大的权重 3 - 2.3。")),
            Mistake("one-bin", lambda: float(-_log_softmax(_CH6_LOGITS)[2]),
                    Text("that is the cross-entropy of bin 2 alone; DFL weights the two bins around the target.",
                         "这只是刻度 2 的交叉熵；DFL 要对目标两侧的两个刻度加权。")),
            Mistake("probabilities", lambda: float(-(0.7 * np.log(_CH6_LOGITS[2]) + 0.3 * np.log(_CH6_LOGITS[3]))),
                    Text("you took the log of the logits; take log_softmax(logits), the log-probabilities.",
                         "你对 logit 本身取了对数；应取 log_softmax(logits)，即对数概率。")),
        ),
    ),
    # Chapter 7
    Exercise(
        "ex-sum-which",
        kind="choices",
        expects=Text('a dict of four celib functions, {"a": ..., "b": ..., "c": ..., "d": ...}',
                     '由四个 celib 函数组成的字典 {"a": ..., "b": ..., "c": ..., "d": ...}'),
        hint=Text("ask: logits or probabilities? Classes that exclude each other, or independent yes/no tags?",
                  "问问自己：输入是 logit 还是概率？各类别相互排斥，还是彼此独立的是/否标签？"),
        choices={
            "a": "cross_entropy",
            "b": "binary_cross_entropy_with_logits",
            "c": "binary_cross_entropy_with_logits",
            "d": "categorical_cross_entropy",
        },
        choice_hints={
            ("a", "binary_cross_entropy_with_logits"): _MULTI_CLASS,
            ("a", "binary_cross_entropy"): _MULTI_CLASS,
            ("a", "categorical_cross_entropy"): Text(
                "the network outputs logits, not probabilities: use the loss that applies the softmax itself.",
                "网络输出的是 logit 而不是概率：应使用自己计算 softmax 的那个损失。"),
            ("a", "nll_loss"): Text(
                "nll_loss expects log-probabilities; the network outputs logits.",
                "nll_loss 的输入是对数概率；而网络输出的是 logit。"),
            ("b", "cross_entropy"): Text(
                "one logit per image: a single logit goes with binary cross-entropy and a 0/1 target.",
                "每张图像只有一个 logit：单个 logit 对应的是二元交叉熵和 0/1 目标。"),
            ("b", "binary_cross_entropy"): Text(
                "the network outputs a logit, not a probability: use the form that applies the sigmoid itself.",
                "网络输出的是 logit 而不是概率：应使用自己计算 sigmoid 的那种形式。"),
            ("c", "cross_entropy"): _INDEPENDENT_TAGS,
            ("c", "categorical_cross_entropy"): _INDEPENDENT_TAGS,
            ("c", "binary_cross_entropy"): Text(
                "the network outputs logits, not probabilities: use the form that applies the sigmoid itself.",
                "网络输出的是 logit 而不是概率：应使用自己计算 sigmoid 的那种形式。"),
            ("d", "cross_entropy"): Text(
                "the model already outputs probabilities: cross_entropy would apply a second softmax.",
                "模型已经输出概率：cross_entropy 会再做一次 softmax。"),
            ("d", "binary_cross_entropy"): Text(
                "one-hot labels over several classes call for the multi-class loss on probabilities.",
                "多个类别上的独热标签，应使用以概率为输入的多分类损失。"),
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


def _describe(value, lang: str) -> str:
    name = type(value).__name__
    return _say(lang, "an" if name[0] in "aeiou" else "a", name=name)


def _generic_hint(answer, expected, nats: bool, lang: str) -> tuple[str, str] | None:
    """The mistakes any number can have: the sign, or the base of the logarithm."""
    e = np.asarray(expected, dtype=float)
    if np.any(np.abs(e) > ATOL) and _close(answer, -e):
        return "sign", _say(lang, "sign-loss" if nats else "sign")
    if nats:
        if _close(answer, e / math.log(2)):
            return "log2", _say(lang, "log2")
        if _close(answer, e / math.log(10)):
            return "log10", _say(lang, "log10")
    if _roughly(answer, e):
        return "rounding", _say(lang, "rounding", rtol=f"{RTOL:.1%}")
    return None


def _numbers(ex: Exercise, answer, lang: str) -> Verdict:
    expected = np.asarray(ex.expected(), dtype=float)
    try:
        a = np.asarray(answer, dtype=float)
    except (TypeError, ValueError):
        return _wrong(ex, lang, "type", _say(lang, "type", expects=ex.expects[lang], got=_describe(answer, lang)),
                      ex.hint[lang])
    if a.shape != expected.shape:
        if a.size != expected.size:
            return _wrong(ex, lang, "shape", _say(lang, "size", expects=ex.expects[lang], size=expected.size, got=a.size),
                          _say(lang, "size-hint"))
        a = a.reshape(expected.shape)
    if not np.all(np.isfinite(a)):
        return _wrong(ex, lang, "not-finite", _say(lang, "not-finite"), _say(lang, "not-finite-hint"))
    if _close(a, expected):
        return _right(ex, lang)
    for m in ex.mistakes:
        if m.part is None and _close(a, m.value()):
            return _wrong(ex, lang, m.reason, _say(lang, "not-yet"), m.hint[lang])
    if ex.parts:
        right = [_close(a[i], expected[i]) for i in range(len(ex.parts))]
        i = right.index(False)
        lead = _say(lang, "parts-wrong", right=sum(right), total=len(ex.parts), part=ex.parts[i][lang])
        for m in ex.mistakes:
            if m.part == i and _close(a[i], m.value()):
                return _wrong(ex, lang, m.reason, lead, m.hint[lang])
        found = _generic_hint(a[i], expected[i], ex.nats, lang)
        if found:
            return _wrong(ex, lang, found[0], lead, found[1])
        return _wrong(ex, lang, "wrong", lead, ex.hint[lang])
    found = _generic_hint(a, expected, ex.nats, lang)
    if found:
        return _wrong(ex, lang, found[0], _say(lang, "not-yet"), found[1])
    return _wrong(ex, lang, "wrong", _say(lang, "not-yet"), ex.hint[lang])


def _function(ex: Exercise, answer, lang: str) -> Verdict:
    if answer is ... or answer is None:
        return _blank(ex, lang)
    if not callable(answer):
        return _wrong(ex, lang, "type", _say(lang, "type", expects=ex.expects[lang], got=_describe(answer, lang)),
                      _say(lang, "pass-function"))
    results = []
    for probe in ex.probes:
        try:
            results.append(answer(np.array(probe)))
        except Exception as err:  # the student's code: report, never raise
            return _wrong(ex, lang, "raised", _say(lang, "raised", error=type(err).__name__, detail=err), ex.hint[lang])
    if any(r is None or r is ... for r in results):
        return _blank(ex, lang, _say(lang, "returns-none"))
    try:
        arrays = [np.asarray(r, dtype=float) for r in results]
    except (TypeError, ValueError):
        return _wrong(ex, lang, "type", _say(lang, "returns-type", got=_describe(results[0], lang)), ex.hint[lang])
    for probe, r in zip(ex.probes, arrays):
        want = np.asarray(ex.expected(probe))
        if r.shape != want.shape:
            return _wrong(ex, lang, "shape", _say(lang, "function-shape", n=len(probe), got=r.shape, want=want.shape),
                          _say(lang, "function-shape-hint"))
    if all(_close(r, ex.expected(p)) for p, r in zip(ex.probes, arrays)):
        return _right(ex, lang)
    for m in ex.mistakes:
        if all(_close(r, m.value(p)) for p, r in zip(ex.probes, arrays)):
            return _wrong(ex, lang, m.reason, _say(lang, "not-yet"), m.hint[lang])
    return _wrong(ex, lang, "wrong", _say(lang, "not-yet"), ex.hint[lang])


def _name_of(choice) -> str | None:
    if choice is ... or choice is None:
        return None
    if isinstance(choice, str):
        return choice.strip().rstrip("()").split(".")[-1]
    return getattr(choice, "__name__", None) or type(choice).__name__


def _choices(ex: Exercise, answer, lang: str) -> Verdict:
    if answer is ... or answer is None:
        return _blank(ex, lang)
    if not isinstance(answer, dict):
        return _wrong(ex, lang, "type", _say(lang, "type", expects=ex.expects[lang], got=_describe(answer, lang)),
                      ex.hint[lang])
    missing = [case for case in ex.choices if case not in answer]
    if missing:
        return _wrong(ex, lang, "shape", _say(lang, "missing", expects=ex.expects[lang],
                                              missing=_say(lang, "list-separator").join(missing)), ex.hint[lang])
    names = {case: _name_of(answer[case]) for case in ex.choices}
    if all(n is None for n in names.values()):
        return _blank(ex, lang)
    right = [case for case in ex.choices if names[case] == ex.choices[case]]
    if len(right) == len(ex.choices):
        return _right(ex, lang)
    case = next(c for c in ex.choices if names[c] != ex.choices[c])
    counts = {"right": len(right), "total": len(ex.choices), "case": case}
    if names[case] is None:
        return _blank(ex, lang, _say(lang, "case-blank", **counts))
    hint = ex.choice_hints.get((case, names[case]), ex.hint)
    return _wrong(ex, lang, f"{case}:{names[case]}", _say(lang, "cases-wrong", **counts), hint[lang])


def _right(ex: Exercise, lang: str) -> Verdict:
    return Verdict(ex.label, True, "right", _say(lang, "right", label=ex.label), lang)


def _blank(ex: Exercise, lang: str, detail: str | None = None) -> Verdict:
    text = detail or _say(lang, "replace")
    return Verdict(ex.label, None, "blank", _say(lang, "blank", label=ex.label, text=text), lang)


def _wrong(ex: Exercise, lang: str, reason: str, what: str, hint: str) -> Verdict:
    return Verdict(ex.label, False, reason, _say(lang, "wrong", label=ex.label, what=what, hint=hint), lang)


def verdict(label: str, answer: Any, lang: str | None = None) -> Verdict:
    """Judge ``answer`` to exercise ``label`` without printing (the tests use this).

    The message is in ``lang`` (``"en"`` or ``"zh"``); by default in ``language()``'s.
    """
    lang = language() if lang is None else lang
    if lang not in LANGS:
        raise ValueError(f"no messages in {lang!r}; the languages are: {', '.join(LANGS)}")
    try:
        ex = EXERCISES[label]
    except KeyError:
        raise KeyError(f"no check for {label!r}; the checks are: {', '.join(EXERCISES)}") from None
    if ex.kind == "function":
        return _function(ex, answer, lang)
    if ex.kind == "choices":
        return _choices(ex, answer, lang)
    if _is_blank(answer):
        return _blank(ex, lang)
    return _numbers(ex, answer, lang)


def check(label: str, answer: Any) -> None:
    """Print whether ``answer`` to exercise ``label`` is right; if not, what is off, and a hint.

    It never prints the expected answer, and never raises because of the answer: a
    blank answer (``...``) says what to write. It speaks the edition's language
    (``language()``): run from ``book/zh/``, or with ``COURSEKIT_LANG=zh``, it prints
    ``✔ ex-mc-cat：正确。``.

    >>> check("ex-mc-cat", 2.766)
    ✔ ex-mc-cat: right.
    """
    print(verdict(label, answer).message)
