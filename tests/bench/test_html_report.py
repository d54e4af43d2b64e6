"""`leanthink report --html`: one self-contained page whose numbers are the text report's."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from leanthink.bench.html_report import ABOUT, DOCS_METHODS, pareto_front
from leanthink.bench.report import load_summaries, markdown_table
from leanthink.methods import method_names

from cli_helpers import run_cli


def line(run_id, method, i, ok, task="arith", model="m", **usage):
    return {"run_id": run_id, "method": method, "task": task, "split": "easy", "model": model, "problem_id": str(i),
            "correct": ok, "settings": {"budget": 4} if method == "best-of-n" else {}, "usage": usage}


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def results(tmp_path) -> list[Path]:
    """Two files: a CoT run and a best-of-n run with a scorer in one, a remote run with unknown
    (null) Peak and Dep in the other."""
    a = [line("r1", "cot", i, ok, generated_tokens=g, peak_tokens=g + 5, dep=100 * g, forward_tokens=g + 4,
              wall_time_s=0.5) for i, (ok, g) in enumerate([(True, 10), (False, 20), (True, 30), (True, 40)])]
    a += [line("r2", "best-of-n", i, ok, generated_tokens=g, peak_tokens=4 * g, dep=7, forward_tokens=g,
               scorer_tokens=s, wall_time_s=1.25) for i, (ok, g, s) in enumerate([(True, 80, 90), (True, 120, 110)])]
    b = [line("r3", "cot", i, i < 2, model="openai:http://h/v1#qwen", generated_tokens=12, peak_tokens=None,
              dep=None, forward_tokens=None, wall_time_s=0.25) for i in range(3)]
    return [write(tmp_path / "a.jsonl", a), write(tmp_path / "b.jsonl", b)]


class Page(HTMLParser):
    """What the tests read from the page: table rows (cell texts), attributes, plain text."""

    def __init__(self, text: str):
        super().__init__()
        self.rows, self.attrs, self.tags, self.text = [], [], [], []
        self._row = self._cell = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [(tag, k, v) for k, v in attrs]
        if tag == "tr":
            self._row = []
        elif tag == "td":
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td":
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row:
            self.rows.append(self._row)

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def report_html(paths, out, capsys) -> str:
    code, _, err = run_cli(["report", *paths, "--png", out.with_suffix(".png"), "--html", out], capsys)
    assert code == 0, err
    return out.read_text()


def test_table_numbers_are_the_text_reports(results, tmp_path, capsys):
    page = Page(report_html(results, tmp_path / "page.html", capsys))
    summaries = load_summaries(results)
    text_rows = [[c.strip() for c in r.strip().strip("|").split("|")]
                 for r in markdown_table(summaries).splitlines()[2:]]
    assert len(page.rows) == len(text_rows) == 3
    for html_row, text_row, s in zip(page.rows, text_rows, summaries):
        # html: method settings task model n acc gen latent peak dep forward scorer latency pareto
        assert [html_row[0]] + html_row[2:11] + [html_row[12]] == text_row
        assert html_row[11] == ("n/a" if s["mean_scorer_tokens"] is None else f"{s['mean_scorer_tokens']:.1f}")
    cot, bon, remote = page.rows
    assert cot[5].startswith("75.0% [") and cot[6] == "25.0" and cot[8] == "30.0" and cot[12] == "0.500"
    assert bon[0] == "best-of-n@4" and bon[11] == "100.0" and bon[5].startswith("100.0% [")
    assert remote[3] == "openai:http://h/v1#qwen" and remote[5].startswith("66.7% [")


def test_unknown_counters_show_na_never_zero(results, tmp_path, capsys):
    text = report_html(results, tmp_path / "page.html", capsys)
    remote = Page(text).rows[2]
    assert remote[8] == remote[9] == remote[10] == "n/a"     # Peak, Dep, forward: null in the lines
    assert remote[6] == "12.0" and remote[11] == "0.0"       # known, and absent (a local default of 0)
    assert text.count('class="num na"') == 3


def test_runs_of_unknown_cost_are_left_out_of_that_plot_and_said_so(tmp_path, capsys):
    rows = [line("r", "cot", i, True, task="gsm8k", generated_tokens=5, peak_tokens=None) for i in range(2)]
    rows += [line("q", "direct", i, False, task="gsm8k", generated_tokens=None, peak_tokens=None) for i in range(2)]
    text = report_html([write(tmp_path / "r.jsonl", rows)], tmp_path / "page.html", capsys)
    assert text.count("<img") == 1 and "peak: unknown for every run of this task (n/a)" in text
    assert "(1 run(s) with unknown tokens left out)" in text
    assert [r[-1] for r in Page(text).rows] == ["tokens", ""]


def test_text_from_results_is_escaped(tmp_path, capsys):
    evil = '<script>alert("x")</script>'
    rows = [line("r<1>", "$x^$<b>", i, True, model=evil, generated_tokens=3, peak_tokens=4) for i in range(2)]
    text = report_html([write(tmp_path / "r.jsonl", rows)], tmp_path / "page.html", capsys)
    assert evil not in text and "<b>" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    page = Page(text)
    assert page.rows[0][0] == "$x^$<b>" and page.rows[0][3] == evil   # shown as written
    assert "script" in page.tags and page.tags.count("script") == 1  # only the page's own


def test_page_fetches_nothing_and_its_plots_decode(results, tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "sub" / "page.html"              # a folder that does not exist yet is made
    text = report_html(results, out, capsys)
    assert "http://" not in text.replace("openai:http://h/v1#qwen", "") and "https://" not in text
    assert "url(" not in text and "@import" not in text and "<link" not in text and "<iframe" not in text
    page = Page(text)
    srcs = [v for tag, k, v in page.attrs if k == "src"]
    assert srcs and all(v.startswith("data:image/png;base64,") for v in srcs)
    for src in srcs:
        img = np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB"))
        assert img.shape[1] > 300 and len(np.unique(img.reshape(-1, 3), axis=0)) > 20   # drawn, not blank
    hrefs = [v for tag, k, v in page.attrs if k == "href"]
    assert hrefs and not any("://" in h or h.startswith("//") for h in hrefs)
    for h in hrefs:                                    # relative links that land on the docs pages
        target = (out.parent / h).resolve()
        assert target.parent == DOCS_METHODS and target.is_file()


def test_pareto_front_on_a_toy_set():
    points = [(10, 0.5), (20, 0.7), (15, 0.4), (30, 0.7), (5, 0.2), (None, 0.9), (20, 0.7), (5, 0.1)]
    assert pareto_front(points) == [True, True, False, False, True, False, True, False]
    assert pareto_front([]) == []


def test_pareto_column_marks_the_front_per_cost(tmp_path, capsys):
    # (generated, Peak, correct of 2): A cheapest in tokens, B in Peak, C dominated in both, D most accurate
    spec = {"A": (10, 90, 1), "B": (20, 30, 1), "C": (25, 95, 1), "D": (50, 100, 2)}
    rows = [line(run, "cot", i, i < k, generated_tokens=g, peak_tokens=p)
            for run, (g, p, k) in spec.items() for i in range(2)]
    page = Page(report_html([write(tmp_path / "r.jsonl", rows)], tmp_path / "page.html", capsys))
    assert [r[-1] for r in page.rows] == ["tokens", "peak", "", "tokens, peak"]


def test_method_sections_link_their_docs_pages(results, tmp_path, capsys):
    pages = {p.name for p in DOCS_METHODS.glob("*.md")}
    mapped = {page for page, _ in ABOUT.values() if page}
    assert mapped == pages, "every docs/methods page is some method's, and every mapped page exists"
    assert set(ABOUT) <= set(method_names()), "descriptions only of methods `leanthink eval` knows"
    text = report_html(results, tmp_path / "page.html", capsys)
    cot = text[text.index('id="method-cot"'):text.index("</section>", text.index('id="method-cot"'))]
    bon = text[text.index('id="method-best-of-n"'):]
    assert "<a " not in cot
    assert 'docs/methods/sampling-baselines.md">docs/methods/sampling-baselines.md</a>' in bon


def test_bad_input_is_one_line_errors_and_inputs_are_never_overwritten(results, tmp_path, capsys):
    before = results[0].read_bytes()
    code, _, err = run_cli(["report", *results, "--html", results[1]], capsys)
    assert code == 2 and "--html" in err and "Traceback" not in err
    assert results[1].read_text().count("\n") == 3 and results[0].read_bytes() == before
    code, _, err = run_cli(["report", tmp_path / "missing.jsonl", "--html", tmp_path / "p.html"], capsys)
    assert code == 2 and "no such results file" in err and not (tmp_path / "p.html").exists()
    bad = write(tmp_path / "bad.jsonl", [line("r", "cot", 0, True)])
    bad.write_text(bad.read_text() + "{not json\n")
    code, _, err = run_cli(["report", bad, "--html", tmp_path / "p.html"], capsys)
    assert code == 2 and f"{bad}:2" in err and not (tmp_path / "p.html").exists()
    code, _, err = run_cli(["report", results[0], "--html", results[0] / "p.html"], capsys)
    assert code == 2 and "--html" in err and "is a file, not a directory" in err


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        if path := shutil.which(name):
            return path
    return None


@pytest.mark.slow
@pytest.mark.skipif(chromium() is None, reason="no Chromium on PATH (apt-get install chromium): the page is "
                                               "not rendered; the unit tests above still check its content")
def test_page_renders_in_headless_chromium(results, tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "page.html"
    report_html(results, out, capsys)
    # --no-sandbox: CI runs as root; a profile of its own so that no other Chromium is disturbed
    base = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}"]
    env = {**os.environ, "HOME": str(tmp_path)}
    dom = subprocess.run(base + ["--virtual-time-budget=5000", "--dump-dom", out.as_uri()], env=env,
                         capture_output=True, text=True, timeout=180).stdout
    page = Page(dom)
    assert len(page.rows) == 3 and page.rows[0][0] == "cot"
    images = sum(1 for tag, k, v in page.attrs if tag == "img" and k == "src")
    assert images == 2     # tokens and Peak (the remote run, Peak unknown, left out of that plot)
    assert ('body', 'data-images-loaded', f"{images}/{images}") in page.attrs, "every plot decoded (naturalWidth > 0)"
    shot = tmp_path / "shot.png"
    subprocess.run(base + ["--window-size=1400,2200", f"--screenshot={shot}", out.as_uri()], env=env,
                   capture_output=True, timeout=180, check=True)
    img = np.asarray(Image.open(shot).convert("RGB"))
    assert img.shape == (2200, 1400, 3)
    pixels = img.reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 200, "a page of text, a table and plots has many colours"
    # the table's header background (#eef1f5) and the first method's plot colour (tab10 blue) are drawn
    assert (pixels == (0xEE, 0xF1, 0xF5)).all(axis=1).sum() > 2000
    assert (pixels == (0x1F, 0x77, 0xB4)).all(axis=1).sum() > 50
