"""The README's local path, as a student takes it: start JupyterLab with the README's
command, open every chapter's student notebook in the real JupyterLab UI in Chromium,
Run → Run All Cells, save, and judge the saved notebooks (every code cell ran, no error,
every check says "no answer yet") and the rendered pages (the numbers are there, no raw
MyST such as {glue:text} or ```{exercise}).

One server and one browser for all chapters, in a temporary copy of book/ (the committed
notebooks are never touched), on 127.0.0.1 with no token and no network. If the server
does not come up the test fails within a minute instead of hanging. Without Chromium the
browser test skips with one line, except under CI (``CI`` set), where it must run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest
from conftest import ROOT

from coursekit import editions

README = (ROOT / "README.md").read_text(encoding="utf-8")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = ROOT / "_build" / "screenshots"
SERVER_TIMEOUT = 90  # s for JupyterLab to answer /api/status
RUN_TIMEOUT = 300  # s for one notebook's Run All
RAW_MYST = re.compile(r"\{glue|\{cite\}|\{exercise\}|\{solution\}|\{admonition\}|```\{|^:(label|class):", re.M)
# flags for a test server; the README's command is the rest
TEST_FLAGS = [
    "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
    "--ServerApp.token=", "--ServerApp.password=", "--LabApp.news_url=None",
    "--LabApp.extension_manager=readonly", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
]
USER_SETTINGS = {
    # offline and quiet: no news, no update check; every cell attached to the page
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def readme_lab_command() -> list[str]:
    """The README's command for students, e.g. ['jupyter', 'lab', 'book/student/']."""
    block = re.search(r"<!-- lab-command -->\s*```(?:bash|sh)?\n(.+?)\n\s*```", README, re.S)
    assert block, "README.md must give the command that opens the notebooks, after <!-- lab-command -->"
    command = block.group(1).strip().split("&&")[-1].split()
    assert command[:2] == ["jupyter", "lab"] and len(command) == 3, command
    return command


class LabDidNotStart(Exception):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(root_dir: Path, home: Path, timeout: float = SERVER_TIMEOUT):
    """Start ``jupyter lab <root_dir>`` (the README's command) with the test flags; return
    (process, url, log path). Raise LabDidNotStart, with the server's log, if it exits or
    does not answer within ``timeout`` seconds."""
    port = _free_port()
    for name, settings in USER_SETTINGS.items():
        path = home / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
    env = dict(os.environ)
    for var, sub in [("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                     ("JUPYTERLAB_SETTINGS_DIR", "settings"), ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"), ("IPYTHONDIR", "ipython")]:
        env[var] = str(home / sub)
    jupyter = Path(sys.executable).with_name("jupyter")
    command = [str(jupyter) if jupyter.exists() else "jupyter", "lab", str(root_dir), *TEST_FLAGS, f"--ServerApp.port={port}"]
    log = home / "jupyterlab.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise LabDidNotStart(f"JupyterLab exited with code {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/status", timeout=2) as response:
                if response.status == 200:
                    return proc, url, log
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop_lab(proc)
            raise LabDidNotStart(f"JupyterLab did not answer within {timeout} s:\n{log.read_text()[-4000:]}")
        time.sleep(0.5)


def stop_lab(proc) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def test_readme_gives_students_the_jupyterlab_command_that_this_test_runs():
    command = readme_lab_command()
    folder = ROOT / command[2]
    assert folder.resolve() == (ROOT / editions.STUDENT_DIR).resolve(), "students open the student notebooks"
    assert sorted(p.name for p in folder.glob("*.ipynb")) == [c.name for c in editions.chapters(ROOT)]
    requirements = (ROOT / "requirements.txt").read_text()
    assert re.search(r"^jupyterlab\b", requirements, re.M), "requirements.txt installs what the README runs"


def test_a_server_that_does_not_come_up_fails_fast(tmp_path):
    start = time.monotonic()
    with pytest.raises(LabDidNotStart, match="JupyterLab"):
        start_lab(tmp_path / "no such folder", tmp_path, timeout=60)
    assert time.monotonic() - start < 60


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The README's JupyterLab, serving a temporary copy of book/ (run and saved there)."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the JupyterLab browser test, but chromium is not installed", pytrace=False)
        pytest.skip("Chromium not installed (apt-get install chromium); JupyterLab browser test skipped")
    pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    work = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "book", work / "book", ignore=shutil.ignore_patterns("tools", ".ipynb_checkpoints"))
    root_dir = work / readme_lab_command()[2]
    try:
        proc, url, log = start_lab(root_dir, work / "home")
    except LabDidNotStart as err:
        pytest.fail(str(err), pytrace=False)
    yield url, root_dir
    stop_lab(proc)


def _prompts(page) -> list[str]:
    return page.evaluate(
        "() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')]"
        ".map(e => e.textContent.trim())"
    )


def _run_all_and_save(page, url: str, name: str, n_code: int) -> list[str]:
    """Open one notebook, wait for its kernel, Run → Run All Cells, wait, save. Return problems seen."""
    problems = []
    page.goto(f"{url}/lab/tree/{name}?reset", wait_until="domcontentloaded")
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=60_000)
    # right after opening, the status may say idle while the toolbar still says "No Kernel"
    page.wait_for_function(
        """() => { const k = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-KernelName');
                   return k && /Python/.test(k.textContent); }""", timeout=60_000)
    page.wait_for_function(
        """() => { const s = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
                   return s && s.getAttribute('data-status') === 'idle'; }""", timeout=60_000)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
    deadline, last, still = time.monotonic() + RUN_TIMEOUT, None, 0
    while True:
        prompts = _prompts(page)
        numbered = [p for p in prompts if re.fullmatch(r"\[\d+\]:", p)]
        if len(prompts) == n_code and len(numbered) == n_code:
            break
        # Run All stops at an error: nothing running, nothing changing, some cells unrun
        still = still + 1 if prompts == last and numbered and "[*]:" not in prompts else 0
        if still >= 5:
            problems.append(f"Run All stopped after {len(numbered)} of {n_code} code cells")
            break
        if time.monotonic() > deadline:
            problems.append(f"Run All did not finish within {RUN_TIMEOUT} s: {len(numbered)} of {n_code} cells ran")
            break
        last = prompts
        time.sleep(1)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^File$")).click()
    page.locator('.lm-Menu-item[data-command="docmanager:save"]').click()
    return problems


def _saved(path: Path, before: int) -> dict | None:
    """The notebook as JupyterLab saved it (written after ``before``, an mtime in ns), or None."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the save is asynchronous
        if path.stat().st_mtime_ns != before:
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:  # caught in the middle of the write
                pass
        time.sleep(0.5)
    return None


def _judge_saved(path: Path, before: int) -> list[str]:
    """The saved notebook: every code cell ran, no error, every check blank."""
    nb = _saved(path, before)
    if nb is None:
        return ["the notebook was not saved"]
    problems = []
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    for c in code:
        source = "".join(c["source"])
        if c["execution_count"] is None:
            problems.append(f"did not run: {source[:60]!r}")
        for out in c["outputs"]:
            if out["output_type"] == "error":
                problems.append(f"error: {out['ename']}: {out['evalue']}")
        label = re.search(r"""^check\("([^"]+)",""", source, re.M)
        if label:
            printed = "".join("".join(o.get("text", "")) for o in c["outputs"])
            if not printed.startswith(f"… {label.group(1)}: no answer yet: "):
                problems.append(f"{label.group(1)}'s check printed {printed!r}")
    if not any("image/png" in o.get("data", {}) for c in code for o in c["outputs"]):
        problems.append("no figure was drawn")
    return problems


def test_every_chapter_runs_in_jupyterlab_and_reads_as_plain_markdown(lab):
    from playwright.sync_api import sync_playwright

    url, root_dir = lab
    host = urlparse(url).netloc
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems: dict[str, list[str]] = {}
    foreign: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        context.set_default_timeout(30_000)

        def route(r):
            if urlparse(r.request.url).netloc == host or r.request.url.startswith(("data:", "blob:")):
                r.continue_()
            else:
                foreign.append(r.request.url)
                r.abort()

        context.route("**/*", route)
        page = context.new_page()
        for chapter in editions.chapters(ROOT):
            name = chapter.name
            nb = json.loads((root_dir / name).read_text(encoding="utf-8"))
            n_code = sum(c["cell_type"] == "code" for c in nb["cells"])
            n_markdown = sum(c["cell_type"] == "markdown" for c in nb["cells"])
            before = (root_dir / name).stat().st_mtime_ns
            found = _run_all_and_save(page, url, name, n_code)
            # the page as the student reads it: rendered Markdown, numbers, no raw MyST
            rendered = page.evaluate(
                "() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-MarkdownCell .jp-RenderedMarkdown')]"
                ".map(e => e.innerText)"
            )
            if len(rendered) != n_markdown:
                found.append(f"{len(rendered)} of {n_markdown} Markdown cells rendered")
            text = "\n".join(rendered)
            raw = RAW_MYST.search(text)
            if raw:
                found.append(f"raw MyST on the page: {text[max(0, raw.start() - 60): raw.end() + 60]!r}")
            values = editions.glued_values(nbformat.read(chapter, as_version=4))
            first = re.search(r"\{glue:text\}`([A-Za-z0-9_]+):?([^`]*)`", chapter.read_text(encoding="utf-8"))
            if first and format(values[first.group(1)], first.group(2)) not in text:
                found.append(f"the glued number {first.group(1)} is not on the page")
            if re.search(r"```\{exercise\}", chapter.read_text(encoding="utf-8")) and "Exercise" not in text:
                found.append("no exercise heading on the page")
            page.screenshot(path=str(SCREENSHOTS / f"jupyterlab-{chapter.stem}.png"))
            found += _judge_saved(root_dir / name, before)
            if found:
                problems[name] = found
        browser.close()
    assert foreign == [], "JupyterLab asked for something off this machine"
    assert problems == {}
