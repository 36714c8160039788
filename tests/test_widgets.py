"""The interactive figures (issue 18) in headless Chromium, offline, compared with celib.

Each figure is found by its contract (README, "Adding an interactive figure"): an element
``data-widget="NAME"``, its ``<input name=...>`` elements (range, number or radio, each
with a visible label) and its ``[data-quantity=...]`` elements, whose text is the value
with at least four significant digits. The test moves the inputs as a reader would (an
``input`` event per change: a number typed into a number field, a slider moved and its
event fired, a radio clicked, the arrow keys on a focused slider) and compares every
number shown with celib, computed here, after every single change.

Like tests/test_browser.py (whose fixtures this module shares), it skips without
Chromium, except under CI.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from conftest import ROOT, numerical_grad

from test_browser import Visit, browser  # noqa: F401  (skips this module without Chromium)

import celib
from coursekit.editions import glued_values

NBINS = 17
#: name -> (page, chapter notebook, {input name: kind}, quantities)
WIDGETS = {
    "binary-ce": ("book/01_binary_cross_entropy.html", "01_binary_cross_entropy.ipynb",
                  {"p": "range", "y": "radio"}, ["ce", "grad_logit"]),
    "softmax-ce": ("book/02_multiclass_one_hot.html", "02_multiclass_one_hot.ipynb",
                   {"z0": "range", "z1": "range", "z2": "range", "y": "radio"}, ["p0", "p1", "p2", "ce"]),
    "ce-vs-mse": ("book/05_ce_vs_mse.html", "05_ce_vs_mse.ipynb",
                  {"p": "range", "k": "number"}, ["ce", "mse", "ce_grad", "mse_grad"]),
    "dfl": ("book/06_distribution_focal_loss.html", "06_distribution_focal_loss.ipynb",
            {"y": "range", "c": "range", "s": "range"}, ["w_left", "w_right", "dfl", "decoded"]),
}
IDS = list(WIDGETS)
#: the Chinese edition (zh/, issue 19) carries the same figures with Chinese words
EDITIONS = {"en": "book/", "zh": "zh/"}
BOTH = [(name, ed) for ed in EDITIONS for name in IDS]


def page_of(name: str, edition: str = "en") -> str:
    return EDITIONS[edition] + WIDGETS[name][0].removeprefix("book/")
TRIALS = 30  # random settings per figure; every input is changed in each, in random order
#: four significant digits: the rounding error is at most half a unit of the fourth digit
RTOL = 5e-4 * (1 + 1e-9)
ATOL = 1e-12
DARK = "localStorage.setItem('mode', 'dark'); localStorage.setItem('theme', 'dark');"


# ---------------------------------------------------------------------------------------
# What the figures must show: celib, computed here
# ---------------------------------------------------------------------------------------
def expected(name: str, v: dict[str, float]) -> dict[str, float]:
    if name == "binary-ce":
        p, y = v["p"], v["y"]
        logit = math.log(p / (1 - p))
        return {"ce": float(celib.binary_cross_entropy([p], [y])),
                "grad_logit": float(celib.binary_cross_entropy_with_logits_grad([logit], [y])[0])}
    if name == "softmax-ce":
        z = np.array([v["z0"], v["z1"], v["z2"]])
        p = celib.softmax(z)
        return {"p0": p[0], "p1": p[1], "p2": p[2], "ce": float(celib.cross_entropy(z[None], [int(v["y"])]))}
    if name == "ce-vs-mse":
        p, k = v["p"], int(v["k"])
        probs = np.array([p] + [(1 - p) / (k - 1)] * (k - 1))  # true class first
        logits = np.log(probs)
        target = celib.one_hot(0, k)
        mse = lambda x: celib.mse_loss(celib.softmax(x), target, reduction="sum")  # noqa: E731
        return {"ce": float(celib.cross_entropy(logits[None], [0])),
                "mse": float(celib.mse_loss(probs, target, reduction="sum")),
                "ce_grad": float(celib.cross_entropy_grad(logits[None], [0])[0, 0]),
                "mse_grad": float(numerical_grad(mse, logits)[0])}
    if name == "dfl":
        y, c, s = v["y"], v["c"], v["s"]
        logits = -((np.arange(NBINS) - c) ** 2) / (2 * s * s)
        left = min(math.floor(y), NBINS - 2)
        th = celib.two_hot(y, NBINS)
        return {"w_left": th[left], "w_right": th[left + 1],
                "dfl": float(celib.distribution_focal_loss(logits, y)), "decoded": float(celib.dfl_decode(logits))}
    raise KeyError(name)


def test_expected_values_are_the_formulas():
    """The comparison itself, on values worked out by hand (so that it can be trusted to fail)."""
    assert expected("binary-ce", {"p": 0.9, "y": 1})["ce"] == pytest.approx(-math.log(0.9))
    assert expected("binary-ce", {"p": 0.9, "y": 0})["grad_logit"] == pytest.approx(0.9)
    e = expected("ce-vs-mse", {"p": 0.4, "k": 3})
    assert e["mse"] == pytest.approx(0.54) and e["ce_grad"] == pytest.approx(-0.6)
    assert e["mse_grad"] == pytest.approx(-2 * 0.4 * 0.6**2 * 3 / 2, rel=1e-9)  # -2p(1-p)^2 k/(k-1)
    e = expected("dfl", {"y": 16.0, "c": 8.0, "s": 1.0})
    assert (e["w_left"], e["w_right"]) == (0.0, 1.0) and e["decoded"] == pytest.approx(8.0, abs=1e-6)
    assert shown_number("−1.234e−7") == -1.234e-7
    with pytest.raises(AssertionError):
        shown_number("0.12")  # two significant digits


# ---------------------------------------------------------------------------------------
# Reading and moving a figure
# ---------------------------------------------------------------------------------------
def shown_number(text: str) -> float:
    text = text.strip().replace("−", "-")
    assert re.fullmatch(r"-?\d+(\.\d+)?(e[-+]?\d+)?", text), f"not a number: {text!r}"
    mantissa = re.sub(r"e.*$", "", text).lstrip("-").replace(".", "").lstrip("0")
    assert len(mantissa) >= 4 or float(text) == 0, f"fewer than four significant digits: {text!r}"
    return float(text)


_STATE = """fig => ({
    inputs: Object.fromEntries([...fig.querySelectorAll('input[name]')]
        .filter(i => i.type !== 'radio' || i.checked).map(i => [i.name, i.value])),
    quantities: Object.fromEntries([...fig.querySelectorAll('[data-quantity]')]
        .map(q => [q.dataset.quantity, q.textContent])),
    svg: fig.querySelector('svg').innerHTML,
})"""


def state(fig) -> dict:
    return fig.evaluate(_STATE)


def assert_agrees(name: str, st: dict, where: str = "") -> dict[str, float]:
    values = {k: float(v) for k, v in st["inputs"].items()}
    want = expected(name, values)
    assert set(st["quantities"]) == set(want), f"{name}: quantities shown {sorted(st['quantities'])}"
    for q, text in st["quantities"].items():
        got = shown_number(text)
        assert abs(got - want[q]) <= RTOL * abs(want[q]) + ATOL, (
            f"{name} {where}: {q} shown {text}, celib {want[q]!r} at {values}")
    return want


def _figure(page, name):
    fig = page.locator(f'[data-widget="{name}"]')
    assert fig.count() == 1, f"{name}: {fig.count()} figures"
    page.wait_for_selector(f'[data-widget="{name}"][data-ready]', timeout=10000)
    return fig


def _set(page, fig, input_name, kind, rng) -> None:
    """One change, as a reader makes it: one input event."""
    if kind == "radio":
        radios = fig.locator(f'input[name="{input_name}"]')
        radios.nth(int(rng.integers(radios.count()))).click()
        return
    box = fig.locator(f'input[name="{input_name}"]')
    lo, hi, step = (float(box.get_attribute(a)) for a in ("min", "max", "step"))
    decimals = len(box.get_attribute("step").partition(".")[2])
    value = f"{lo + step * int(rng.integers(0, round((hi - lo) / step) + 1)):.{decimals}f}"
    if kind == "number":
        box.fill(value)  # typing fires input events
    else:
        box.evaluate("(el, v) => { el.value = v; el.dispatchEvent(new Event('input', {bubbles: true})); }", value)
    assert float(box.input_value()) == pytest.approx(float(value)), f"{input_name}: {value} not accepted"


# ---------------------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,edition", BOTH)
def test_figure_keeps_its_contract(browser, site_url, name, edition):  # noqa: F811
    _, _, inputs, quantities = WIDGETS[name]
    v = Visit(browser, site_url, page_of(name, edition))
    fig = _figure(v.page, name)
    found = fig.evaluate(
        """fig => [...fig.querySelectorAll('input[name]')].map(i => ({
              name: i.name, type: i.type, min: i.getAttribute('min'), max: i.getAttribute('max'),
              step: i.getAttribute('step'),
              label: [...i.labels].map(l => l.textContent.trim()).join(' '),
              labelShown: [...i.labels].some(l => l.getBoundingClientRect().width > 0)}))"""
    )
    assert {i["name"] for i in found} == set(inputs)
    for i in found:
        assert i["type"] == inputs[i["name"]], i
        assert i["label"] and i["labelShown"], f"{name}: input {i['name']} without a visible label"
        if i["type"] != "radio":
            assert float(i["min"]) < float(i["max"]) and 0 < float(i["step"]) <= float(i["max"]) - float(i["min"]), i
    shown = fig.evaluate("fig => [...fig.querySelectorAll('[data-quantity]')].map(q => q.dataset.quantity)")
    assert sorted(shown) == sorted(quantities), "each quantity shown once"
    live = fig.evaluate("fig => [...fig.querySelectorAll('[data-quantity]')].every(q => q.closest('[aria-live]'))")
    assert live, "the numbers are in a live region: a screen reader hears them change"
    svg = fig.evaluate(
        """fig => { const s = fig.querySelector('svg'); const t = s.querySelector('title');
                    return {viewBox: s.getAttribute('viewBox'), width: s.getAttribute('width'),
                            height: s.getAttribute('height'), role: s.getAttribute('role'),
                            title: t ? t.textContent.trim() : '', drawn: s.querySelectorAll('path, rect, circle').length}; }"""
    )
    assert svg["viewBox"] and svg["width"] and svg["height"], "the picture's size is reserved"
    assert svg["role"] == "img" and len(svg["title"]) > 20, "the picture has an accessible name"
    assert svg["drawn"] >= 3, "the picture is drawn"
    assert v.errors == [] and v.foreign == [] and v.failed == []
    v.close()


@pytest.mark.parametrize("name,edition", BOTH)
def test_numbers_agree_with_celib_as_the_inputs_move(browser, site_url, name, edition):  # noqa: F811
    _, _, inputs, _ = WIDGETS[name]
    v = Visit(browser, site_url, page_of(name, edition))
    fig = _figure(v.page, name)
    rng = np.random.default_rng(18 if edition == "en" else 19)
    assert_agrees(name, state(fig), "on load")
    redrawn = 0
    trials = TRIALS if edition == "en" else TRIALS // 3
    for trial in range(trials):
        for input_name in rng.permutation(list(inputs)):
            before = state(fig)
            _set(v.page, fig, input_name, inputs[input_name], rng)
            after = state(fig)
            assert_agrees(name, after, f"trial {trial}, after moving {input_name}")
            if after["inputs"] != before["inputs"]:
                redrawn += after["svg"] != before["svg"]
    assert redrawn >= trials, f"{name}: the picture was redrawn after only {redrawn} changes"
    assert v.errors == [] and v.foreign == []
    v.close()


def _glued(notebook: str) -> dict:
    import nbformat

    return glued_values(nbformat.read(ROOT / "book" / notebook, as_version=4))


def test_the_figures_start_at_the_chapters_examples(browser, site_url):  # noqa: F811
    """At the chapter's example the figure shows the chapter's glued numbers."""
    def shown(fig):
        return {k: shown_number(t) for k, t in state(fig)["quantities"].items()}

    def close(a, b):
        return abs(a - b) <= RTOL * abs(b) + 1e-8  # glued values are rounded to 8 decimals

    g = _glued("01_binary_cross_entropy.ipynb")
    v = Visit(browser, site_url, WIDGETS["binary-ce"][0])
    fig = _figure(v.page, "binary-ce")
    assert close(shown(fig)["ce"], g["right_09"])
    fig.locator('input[name="y"][value="0"]').click()
    assert close(shown(fig)["ce"], g["wrong_09"])
    v.close()

    g = _glued("02_multiclass_one_hot.ipynb")
    v = Visit(browser, site_url, WIDGETS["softmax-ce"][0])
    fig = _figure(v.page, "softmax-ce")
    assert close(shown(fig)["p2"], g["p_cow"]) and close(shown(fig)["ce"], g["loss_cow"])
    v.close()

    g = _glued("05_ce_vs_mse.ipynb")
    v = Visit(browser, site_url, WIDGETS["ce-vs-mse"][0])
    fig = _figure(v.page, "ce-vs-mse")
    assert close(shown(fig)["ce"], g["ce_a_first"]) and close(shown(fig)["mse"], g["se_a0"])
    fig.locator('input[name="p"]').evaluate(
        "(el, v) => { el.value = v; el.dispatchEvent(new Event('input', {bubbles: true})); }", str(g["slow_p"]))
    assert close(-shown(fig)["ce_grad"], g["slow_ce"])
    v.close()

    g = _glued("06_distribution_focal_loss.ipynb")
    v = Visit(browser, site_url, WIDGETS["dfl"][0])
    fig = _figure(v.page, "dfl")
    assert close(shown(fig)["w_left"], g["dfl_best"]) and close(shown(fig)["w_right"], 1 - g["dfl_best"])
    v.close()


@pytest.mark.parametrize("name", IDS)
def test_keyboard_moves_a_slider_and_the_numbers_follow(browser, site_url, name):  # noqa: F811
    v = Visit(browser, site_url, WIDGETS[name][0])
    fig = _figure(v.page, name)
    slider = fig.locator('input[type="range"]').first
    before = state(fig)
    slider.focus()
    v.page.keyboard.press("ArrowRight")
    v.page.keyboard.press("ArrowRight")
    after = state(fig)
    assert after["inputs"] != before["inputs"], "the arrow key did not move the slider"
    assert after["quantities"] != before["quantities"] and after["svg"] != before["svg"]
    assert_agrees(name, after, "after ArrowRight")
    assert v.errors == []
    v.close()


# WCAG relative luminance and contrast, on computed colours "rgb(r, g, b)"
def _luminance(rgb: str) -> float:
    r, g, b = (int(x) / 255 for x in re.findall(r"[\d.]+", rgb)[:3])
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def _contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


_COLOURS = """fig => {
    let bg = 'rgba(0, 0, 0, 0)';
    for (let n = fig; n && /rgba\\(.*, 0\\)|transparent/.test(bg); n = n.parentElement) bg = getComputedStyle(n).backgroundColor;
    if (/rgba\\(.*, 0\\)|transparent/.test(bg)) bg = 'rgb(255, 255, 255)';
    const mark = fig.querySelector('svg .ce-s1, svg .ce-bar1');
    const markStyle = getComputedStyle(mark);
    return {theme: document.documentElement.dataset.theme, background: bg,
            text: getComputedStyle(fig.querySelector('.ce-readout') || fig).color,
            axis: getComputedStyle(fig.querySelector('svg text')).fill,
            mark: markStyle.stroke !== 'none' ? markStyle.stroke : markStyle.fill};
}"""


@pytest.mark.parametrize("edition", list(EDITIONS))
@pytest.mark.parametrize("mode", ["light", "dark"])
def test_figures_are_legible_in_light_and_dark_mode(browser, site_url, mode, edition):  # noqa: F811
    for name in WIDGETS:
        v = Visit(browser, site_url, page_of(name, edition), init_script=DARK if mode == "dark" else None)
        fig = _figure(v.page, name)
        # every shape is styled by the figures' style sheet: none is left in SVG's default
        # black fill (a page that lost the rules draws its curves as black shapes)
        unstyled = fig.evaluate("""fig => [...fig.querySelectorAll('svg path, svg rect, svg circle, svg polygon')]
            .filter(e => !e.closest('clipPath, defs, mask') && getComputedStyle(e).fill === 'rgb(0, 0, 0)')
            .length""")
        assert unstyled == 0, f"{edition} {name}: {unstyled} shapes drawn in default black (style rules missing)"
        c = fig.evaluate(_COLOURS)
        assert c["theme"] == mode
        assert _contrast(c["text"], c["background"]) >= 4.5, (name, c)
        assert _contrast(c["axis"], c["background"]) >= 4.5, (name, c)
        assert _contrast(c["mark"], c["background"]) >= 3, (name, c)
        assert v.errors == []
        v.close()


def test_figures_fit_a_phone(browser, site_url):  # noqa: F811
    """At 360 px wide: nothing scrolls sideways, the picture fills the column, the sliders
    are wide enough to use, and a tap on a radio works."""
    for name, (page_path, _, inputs, _q) in WIDGETS.items():
        v = Visit(browser, site_url, page_path, viewport={"width": 360, "height": 740}, device_scale_factor=2,
                  is_mobile=True, has_touch=True)
        fig = _figure(v.page, name)
        fig.scroll_into_view_if_needed()
        overflow = v.page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name}: the page scrolls sideways by {overflow}px at 360px"
        box = fig.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 360 + 0.5, (name, box)
        svg = fig.locator("svg").bounding_box()
        assert svg["width"] >= 0.8 * box["width"] and svg["height"] >= 150, (name, svg)
        wide = fig.evaluate(
            "fig => [...fig.querySelectorAll('*')].filter(e => e.getBoundingClientRect().right > innerWidth + 0.5)"
            ".map(e => e.tagName)")
        assert wide == [], f"{name}: wider than the screen: {wide}"
        for slider in fig.locator('input[type="range"]').all():
            assert slider.bounding_box()["width"] >= 200, f"{name}: a slider too short to use"
        if "radio" in inputs.values():
            value = fig.locator('input[type="radio"]:not(:checked)').first.get_attribute("value")
            radio = fig.locator(f'input[type="radio"][value="{value}"]')
            radio.tap()
            assert radio.is_checked()
            assert_agrees(name, state(fig), "after a tap")
        assert v.errors == []
        v.close()


def test_figure_scripts_hold_no_prose():
    """Every word a reader sees is in the chapter's markup (so a translated edition
    translates it): the scripts hold no string of words."""
    scripts = sorted((ROOT / "book" / "_static" / "widgets").glob("*.js"))
    assert len(scripts) >= 5
    for path in scripts:
        code = re.sub(r"/\*.*?\*/|//[^\n]*", "", path.read_text(encoding="utf-8"), flags=re.S)
        for literal in re.findall(r'"((?:[^"\\\n]|\\.)*)"|\'((?:[^\'\\\n]|\\.)*)\'', code):
            text = literal[0] or literal[1]
            if text == "use strict":
                continue
            words = [w for w in re.findall(r"[A-Za-z][\w-]*", text) if not w.startswith("ce-")]
            prose = [w for w in words if re.fullmatch(r"[A-Za-z]{3,}", w)]
            assert len(prose) < 2 or not re.search(r"[A-Za-z]{3,}\s+[A-Za-z]{3,}", text), (
                f"{path.name}: words in a script: {text!r}")
