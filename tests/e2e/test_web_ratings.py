"""Blind ratings and KPI trends in a real headless Chromium against a real gateway (local engine).

One gateway for the module: ``ragtune serve --engine local`` with answers capped at 8 tokens, two
tiny LoRA adapters (``tiny``, ``tiny2``) and two API keys: a rater (chat + rate) and an admin. The
rater judges 20 blind pairs in the page (19 queued through the API, one made in the page); the test
checks, before every judgement, that neither the page's DOM nor the JSON it received names the
mode or adapter of an answer, and afterwards that the stored outcomes are exactly the clicks.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_web_page import PageProbe, install_adapter, snap

pytestmark = pytest.mark.e2e

RATER_KEY = "rate-e2e-rater"
ADMIN_KEY = "rate-e2e-admin"
QUESTION = "How long does it take to get a building permit?"
LABELS = {"base", "rag", "ft", "hybrid", "auto", "tiny", "tiny2"}
LABEL_WORDS = re.compile(r"\b(base|rag|ft|hybrid|auto|tiny2?)\b")
ANSWER_TIMEOUT_MS = 180_000
PAIRS = 20


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory,
    models_dir: Path,
    tiny_adapter: Path,
    tiny_adapter_2: Path,
    serve_gateway,
    free_port,
) -> Iterator[tuple[str, Path]]:
    """A running gateway (local engine, keys required) with adapters ``tiny`` and ``tiny2``; yields
    (url, RAGTUNE_HOME)."""
    home = tmp_path_factory.mktemp("rate-home")
    (home / "models").symlink_to(models_dir, target_is_directory=True)
    (home / "adapters").mkdir()
    install_adapter(tiny_adapter, home / "adapters")
    shutil.copytree(tiny_adapter_2, home / "adapters" / "tiny2")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    keys = {RATER_KEY: {"name": "raters", "roles": ["chat", "rate"]}, ADMIN_KEY: {"name": "ops", "roles": ["admin"]}}
    env = {
        **os.environ,
        "RAGTUNE_HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "RAGTUNE_ENGINE__KIND": "local",
        "RAGTUNE_GATEWAY__DEFAULT_MAX_TOKENS": "8",
        "RAGTUNE_GATEWAY__API_KEYS": json.dumps(keys),
        "RAGTUNE_GATEWAY__SHARED_ADAPTERS": json.dumps(["*"]),
    }
    env.pop("RAGTUNE_CONFIG", None)
    command = [sys.executable, "-m", "ragtune.cli", "serve", "--engine", "local", "--port", str(port)]
    with serve_gateway(command, env, home / "gateway.log", url, cwd=home):
        yield url, home


def open_page(browser, url: str, key: str, view: str) -> PageProbe:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=url)
    context.add_init_script(f"localStorage.setItem('ragtune.apiKey', {json.dumps(key)})")
    probe = PageProbe(context.new_page())
    probe.page.set_default_timeout(60_000)
    probe.page.goto(f"/#{view}")
    probe.page.wait_for_selector("body[data-ready=true]")
    return probe


def api(url: str, method: str, path: str, key: str = RATER_KEY, **kwargs) -> httpx.Response:
    return httpx.request(method, f"{url}{path}", headers={"Authorization": f"Bearer {key}"}, timeout=300, **kwargs)


def strings(value, skip: set[str]) -> Iterator[str]:
    """Every string in a JSON value (keys and values), except the texts in ``skip``."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item, skip)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item, skip)
    elif isinstance(value, str) and value not in skip:
        yield value


def check_blind_json(body: dict) -> None:
    """A task as the page received it: only ids, the question and the texts."""
    tasks = [body["task"]] if "pending" in body else [body]
    for task in filter(None, tasks):
        assert set(task) == {"task_id", "question", "answers"}, task
        for answer in task["answers"]:
            assert set(answer) == {"id", "text"} and re.fullmatch(r"[0-9a-f]{16}", answer["id"]), answer
        texts = {a["text"] for a in task["answers"]} | {task["question"]}
        leaked = [s for s in strings(body, texts) if s in LABELS or s in ("mode", "adapter")]
        assert not leaked, f"the page received {leaked} before judging: {body}"


def check_blind_dom(page) -> None:
    """The task card on screen, answer texts aside, names no mode or adapter."""
    html = page.evaluate(
        """() => {
          const card = document.querySelector('#rate-task .rate-card').cloneNode(true);
          card.querySelectorAll('.answer-text, .rate-question').forEach((el) => el.remove());
          return card.outerHTML;
        }"""
    )
    assert "data-mode" not in html and "data-adapter" not in html and "badge" not in html, html
    assert not LABEL_WORDS.search(html), f"the page shows {LABEL_WORDS.search(html).group(0)!r} before judging"
    assert page.locator("#rate-task .rate-answer").count() == 2


def stored_judgements(home: Path) -> dict[str, tuple[str | None, str | None]]:
    """task id → (chosen answer id or None for a tie, reason), read from the gateway's database."""
    db = sqlite3.connect(home / "feedback.sqlite")
    try:
        return {t: (c, r) for t, c, r in db.execute("SELECT task_id, choice, reason FROM rating_judgements")}
    finally:
        db.close()


def answer_labels(home: Path) -> dict[str, tuple[str, str | None]]:
    db = sqlite3.connect(home / "feedback.sqlite")
    try:
        return {a: (m, ad) for a, m, ad in db.execute("SELECT answer_id, mode, adapter FROM rating_answers")}
    finally:
        db.close()


def test_rating_twenty_blind_pairs_in_the_page(browser, gateway, artifacts_dir: Path) -> None:
    url, home = gateway
    contestants = [
        [{"mode": "base"}, {"mode": "ft", "adapter": "tiny"}],
        [{"mode": "ft", "adapter": "tiny"}, {"mode": "ft", "adapter": "tiny2"}],
    ]
    for i in range(PAIRS - 1):
        made = api(
            url, "POST", "/v1/ratings/tasks", json={"question": f"{QUESTION} ({i})", "contestants": contestants[i % 2]}
        )
        assert made.status_code == 201, made.text
        check_blind_json(made.json())

    probe = open_page(browser, url, RATER_KEY, "rate")
    page = probe.page
    responses: list = []  # read later: a response handler must not wait for a body

    def keep(response) -> None:
        if "/v1/ratings/tasks" in response.url and "/judgement" not in response.url and response.ok:
            responses.append(response)

    page.on("response", keep)
    clicks: dict[str, tuple[str | None, str | None]] = {}
    revealed: dict[str, tuple[str, str | None]] = {}

    def rate_shown(n: int) -> None:
        page.locator("#rate-task .rate-card:not(.judged)").wait_for(timeout=ANSWER_TIMEOUT_MS)
        card = page.locator("#rate-task .rate-card")
        check_blind_dom(page)
        answers = card.locator(".rate-answer")
        ids = [answers.nth(k).get_attribute("data-answer-id") for k in range(2)]
        last = responses[-1].json()  # what the page shows is what it received last
        task = last["task"] if "pending" in last else last
        assert [a["id"] for a in task["answers"]] == ids
        reason = f"reason {n}" if n % 4 == 0 else None
        if reason:
            card.locator("textarea.rate-reason").fill(reason)
        if n % 5 == 4:
            card.locator("button.rate-tie").click()
            clicks[task["task_id"]] = (None, reason)
        else:
            pick = n % 2
            answers.nth(pick).locator("button.rate-pick").click()
            clicks[task["task_id"]] = (ids[pick], reason)
        card.locator(".rate-actions .feedback-status.ok").wait_for()
        for k in range(2):
            section = answers.nth(k)
            mode = section.get_attribute("data-mode")
            assert mode in ("base", "ft"), "the modes are shown after the judgement"
            revealed[ids[k]] = (mode, section.get_attribute("data-adapter"))
            assert mode in section.locator(".reveal").inner_text()

    # one comparison made in the page: base against ft with the first adapter (tiny)
    page.wait_for_selector("#rate-adapters input[value=tiny]", state="attached")
    page.fill("#rate-question", QUESTION)
    for mode, on in (("base", True), ("rag", False), ("ft", True), ("hybrid", False)):
        page.locator(f"#rate-new-form input[name=rate-mode][value={mode}]").set_checked(on)
    page.click("#rate-new-form button[type=submit]")
    rate_shown(0)
    # then the queue, one after the other
    for n in range(1, PAIRS):
        page.locator("#rate-task button.rate-next").click()
        rate_shown(n)
    page.locator("#rate-task button.rate-next").click()
    page.locator("#rate-task .rate-empty").wait_for()

    assert len(clicks) == PAIRS and len(responses) >= PAIRS
    for response in responses:
        check_blind_json(response.json())
    assert stored_judgements(home) == clicks
    labels = answer_labels(home)
    assert all(labels[answer_id] == shown for answer_id, shown in revealed.items())

    # the win rates in the page and from the API agree with the stored outcomes
    page.wait_for_function(
        f"(document.querySelector('.rate-summary-table caption')?.textContent || '').includes('from {PAIRS} blind')"
    )
    summary = api(url, "GET", "/v1/ratings/summary").json()
    assert summary["judgements"] == PAIRS and summary["tasks"] == PAIRS
    ties = sum(1 for choice, _ in clicks.values() if choice is None)
    assert sum(r["ties"] for r in summary["contestants"]) == 2 * ties
    assert sum(r["wins"] for r in summary["contestants"]) == PAIRS - ties
    rows = page.locator(".rate-summary-table tbody tr")
    assert (
        {rows.nth(i).get_attribute("data-contestant") for i in range(rows.count())}
        == {r["contestant"] for r in summary["contestants"]}
        == {"base", "ft:tiny", "ft:tiny2"}
    )
    folder = artifacts_dir / "web"
    folder.mkdir(parents=True, exist_ok=True)
    snap(page, folder / "rate-desktop.png")
    page.context.close()
    assert probe.errors == [], f"console errors: {probe.errors}"


def test_kpi_view_draws_the_trend(browser, gateway, artifacts_dir: Path) -> None:
    url, _ = gateway
    # a key sees the KPIs of its own tenant's requests: the admin asks and rates
    asked = api(url, "POST", "/v1/chat", json={"question": QUESTION, "mode": "base"}, key=ADMIN_KEY)
    assert asked.status_code == 200, asked.text
    rated = api(
        url,
        "POST",
        "/v1/feedback",
        json={"request_id": asked.json()["id"], "rating": 1, "resolved": True, "handling_s": 42},
        key=ADMIN_KEY,
    )
    assert rated.status_code == 201, rated.text
    trend = api(url, "GET", "/v1/kpi?period=day&group=mode", key=ADMIN_KEY).json()
    base = next(p for p in trend["trend"] if p["mode"] == "base")
    assert (base["requests"], base["rated"], base["handling_s"], base["resolved_share"]) == (1, 1, 42.0, 1.0)
    ft = api(url, "POST", "/v1/chat", json={"question": QUESTION, "mode": "ft", "adapter": "tiny2"}, key=ADMIN_KEY)
    assert ft.status_code == 200, ft.text

    probe = open_page(browser, url, ADMIN_KEY, "kpi")
    page = probe.page
    page.wait_for_selector(".kpi-figure svg circle")
    assert page.locator(".kpi-figure").count() == 4
    assert page.locator(".kpi-legend li").all_inner_texts() == ["base · no adapter", "ft · tiny2"]
    page.select_option("#kpi-period", "day")
    page.select_option("#kpi-group", "none")
    page.wait_for_function("document.querySelectorAll('.kpi-legend li').length === 1")
    assert page.locator(".kpi-legend li").inner_text() == "all"
    assert "42 s" in page.locator(".kpi-figure[data-metric=handling_s]").inner_html()
    folder = artifacts_dir / "web"
    folder.mkdir(parents=True, exist_ok=True)
    snap(page, folder / "kpi-desktop.png")
    page.context.close()
    assert probe.errors == [], f"console errors: {probe.errors}"


def test_rate_and_kpi_views_fit_a_phone(browser, gateway) -> None:
    url, _ = gateway
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=url)
    context.add_init_script(f"localStorage.setItem('ragtune.apiKey', {json.dumps(ADMIN_KEY)})")
    probe = PageProbe(context.new_page())
    page = probe.page
    made = api(
        url,
        "POST",
        "/v1/ratings/tasks",
        key=ADMIN_KEY,
        json={
            "question": QUESTION,
            "answers": [
                {"mode": "rag", "text": "About ten weeks. " * 20},
                {"mode": "hybrid", "adapter": "tiny", "text": "Hej! " * 60},
            ],
        },
    )
    assert made.status_code == 201, made.text
    page.goto("/#rate")
    page.wait_for_selector("#rate-task .rate-card")
    overflow = "document.documentElement.scrollWidth - window.innerWidth"
    assert page.evaluate(overflow) <= 0, "the rate view scrolls sideways at phone width"
    page.click("nav a[href='#kpi']")
    page.wait_for_selector(".kpi-figure svg")
    assert page.evaluate(overflow) <= 0, "the KPI view scrolls sideways at phone width"
    context.close()
    assert probe.errors == [], f"console errors: {probe.errors}"
