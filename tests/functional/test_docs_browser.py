"""The docs page in a real headless Chromium: loads cleanly, shows every node, clicks work.

Chromium is Debian's `chromium` package (`make test` runs `scripts/setup.sh --browser`,
which installs it when missing and allowed); without it these tests are skipped, saying so.
"""

from __future__ import annotations

import json

import pytest
from docs_support import ENV, generate
from support.browser import Browser, find_chromium

CHROMIUM = find_chromium()
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (install Debian's "
                       "`chromium`: scripts/setup.sh --browser as root, or set TAURO_CHROMIUM)"),
]


def test_page_loads_without_errors_and_every_node_opens(make_project, tauro, monkeypatch,
                                                        tmp_path):
    project = generate(make_project, tauro, monkeypatch)
    (project / "target" / "run_results.json").write_text(json.dumps({
        "metadata": {"project": "shop", "profile": "dev", "status": "succeeded"},
        "nodes": {"clean": {"status": "succeeded", "rows_in": 41, "rows_out": 40,
                            "batches": 2}}}))
    assert tauro("docs", "generate", "--project-dir", project, env=ENV).exit_code == 0
    page = project / "target" / "docs" / "index.html"
    with Browser(CHROMIUM) as browser:
        browser.navigate(page.as_uri())
        assert browser.problems() == []
        assert browser.requested_urls() == [page.as_uri()]   # nothing fetched besides itself
        shown = browser.evaluate(
            "[...document.querySelectorAll('g.el[data-kind=node]')].map(g => g.dataset.node)")
        assert sorted(shown) == ["clean", "publish", "raw"]
        assert browser.evaluate("window.pwned === undefined")     # the </script> stayed text
        for name in ("raw", "clean", "publish"):
            browser.click(f'g.el[data-node="{name}"]')
            assert browser.evaluate("document.querySelector('#detail h2').textContent") == name
            text = browser.evaluate("document.getElementById('detail').innerText")
            assert str(project / "chk" / name) in text                 # its checkpoint
        browser.click('g.el[data-node="clean"]')
        detail = browser.evaluate("document.getElementById('detail').innerText")
        assert "succeeded" in detail and "41" in detail and "quarantine" in detail
        assert "contracts/clean.yaml" in detail and "available_now" in detail
        raw_description = browser.evaluate(
            "(() => { const g = document.querySelector('g.el[data-node=\"raw\"]');"
            " g.dispatchEvent(new MouseEvent('click', {bubbles: true}));"
            " return document.querySelector('#detail .desc').textContent; })()")
        assert raw_description.startswith("Raw events </script><script>window.pwned=1")
        browser.evaluate("document.getElementById('search').focus()")
        browser.type_text("tag:silver")
        matched = browser.evaluate(
            "[...document.querySelectorAll('g.el.match')].map(g => g.dataset.node)")
        assert matched == ["clean"]
        browser.click('li[data-result="clean"]')
        assert browser.evaluate("document.querySelector('#detail h2').textContent") == "clean"
        shot = browser.screenshot(tmp_path / "docs-page.png")
        assert browser.problems() == []
        browser.evaluate("location.hash = 'publish'")          # a link to a node opens it
        browser.wait_for("document.querySelector('#detail h2').textContent === 'publish'")
        browser.send("Page.navigate", url="about:blank")
        browser.navigate(page.as_uri() + "#raw")
        assert browser.evaluate("document.querySelector('#detail h2').textContent") == "raw"
        browser.send("Page.navigate", url="about:blank")
        browser.navigate(page.as_uri() + "#%E0%A4%A")         # a broken link: no error
        assert browser.evaluate("document.querySelector('#detail h2').textContent") == "shop"
        assert browser.problems() == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
