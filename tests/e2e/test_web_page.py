"""The web page in a real headless Chromium against a real gateway (local engine, tiny models).

One gateway for the module: ``ragtune serve --engine local`` on a free loopback port, with an API
key configured, a tiny LoRA adapter (with its training card) in RAGTUNE_HOME/adapters and three
documents of the sample company corpus indexed. Chromium is Debian's package (``make browser``)
driven by Playwright. Screenshots go to test-artifacts/web/, the README-sized compare view too
(``compare-readme.png``); with RAGTUNE_UPDATE_README_SCREENSHOT=1 it replaces
docs/screenshots/compare.png (a test run never changes tracked files otherwise).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
API_KEY = "web-e2e-key"
CHAT_ONLY_KEY = "web-e2e-chat-only-key"
ADAPTER = "tiny"
QUESTION = "How long does it take to get a building permit?"
SAMPLE_CATEGORIES = {
    "bygglov": "Building permits",
    "rot-avdrag": "ROT tax deduction",
    "badrumsrenovering": "Bathroom renovation",
}
ANSWER_TIMEOUT_MS = 180_000
README_SCREENSHOT = REPO / "docs" / "screenshots" / "compare.png"
UPDATE_README_SCREENSHOT = os.environ.get("RAGTUNE_UPDATE_README_SCREENSHOT") == "1"
README_SCREENSHOT_MAX_BYTES = 300_000


# --- the gateway ---------------------------------------------------------------------------------
def write_sample_documents(folder: Path) -> list[Path]:
    """One Markdown document per FAQ category of the bundled sample corpus (English)."""
    from importlib.resources import files

    rows = [
        json.loads(line)
        for line in files("zaragoza_construction_faq").joinpath("data/faq-en.jsonl").read_text("utf-8").splitlines()
        if line.strip()
    ]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for category, title in SAMPLE_CATEGORIES.items():
        sections = [f"## {r['q']}\n\n{r['a']}\n" for r in rows if r["category"] == category]
        path = folder / f"{category}.md"
        path.write_text(f"# {title}\n\nZaragoza AB customer FAQ.\n\n" + "\n".join(sections), encoding="utf-8")
        paths.append(path)
    return paths


def install_adapter(tiny_adapter: Path, adapters_dir: Path) -> None:
    """Copy the tiny LoRA into RAGTUNE_HOME/adapters/tiny with a training card the page can show."""
    from training.adapter_folder import CARD_FILE
    from training.adapters import AdapterCard

    target = adapters_dir / ADAPTER
    shutil.copytree(tiny_adapter, target)
    card = AdapterCard(
        name=ADAPTER,
        path=str(target),
        base_model="smollm2-135m-instruct",
        method="lora",
        data_sha256="5e1f" * 16,
        train_examples=40,
        eval_examples=8,
        hyperparameters={"lora_r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"]},
        eval_loss_before=2.41,
        eval_loss_after=2.05,
        style_score_before=0.12,
        style_score_after=0.5,
        train_seconds=12.0,
        train_cost_usd=0.0003,
    )
    (target / CARD_FILE).write_text(card.model_dump_json(indent=2), encoding="utf-8")


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, models_dir: Path, tiny_adapter: Path, serve_gateway, free_port
) -> Iterator[str]:
    """A running gateway (local engine, API key required) with 3 documents and one adapter."""
    home = tmp_path_factory.mktemp("web-home")
    (home / "models").symlink_to(models_dir, target_is_directory=True)
    (home / "adapters").mkdir()
    install_adapter(tiny_adapter, home / "adapters")
    documents = write_sample_documents(home / "sample-docs")

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "RAGTUNE_HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "RAGTUNE_ENGINE__KIND": "local",
        "RAGTUNE_GATEWAY__DEFAULT_MAX_TOKENS": "40",
        "RAGTUNE_GATEWAY__API_KEYS": json.dumps(
            {API_KEY: {"name": "web-e2e", "roles": ["admin"]}, CHAT_ONLY_KEY: {"name": "web-chat"}}
        ),
    }
    env.pop("RAGTUNE_CONFIG", None)
    command = [sys.executable, "-m", "ragtune.cli", "serve", "--engine", "local", "--port", str(port)]
    with serve_gateway(command, env, home / "gateway.log", url, cwd=home):
        headers = {"Authorization": f"Bearer {API_KEY}"}
        for path in documents:
            with path.open("rb") as handle:
                response = httpx.post(
                    f"{url}/v1/documents",
                    headers=headers,
                    timeout=120,
                    files={"files": (path.name, handle, "text/markdown")},
                )
            assert response.status_code == 201, response.text
        yield url


def api(gateway: str, method: str, path: str) -> httpx.Response:
    return httpx.request(method, f"{gateway}{path}", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60)


class PageProbe:
    """A page plus every console error and uncaught exception it produced."""

    def __init__(self, page, allowed_statuses: tuple[int, ...] = ()) -> None:
        self.page = page
        self.errors: list[str] = []
        self.allowed = [f"status of {status}" for status in allowed_statuses]
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))

    def _console(self, message) -> None:
        if message.type != "error":
            return
        # Chromium logs every deliberate 4xx as "Failed to load resource"; the tests that provoke one allow it
        if "Failed to load resource" in message.text and any(a in message.text for a in self.allowed):
            return
        self.errors.append(message.text)


def open_page(
    browser,
    gateway: str,
    *,
    width: int = 1440,
    height: int = 900,
    with_key: bool = True,
    allowed_statuses: tuple[int, ...] = (),
) -> PageProbe:
    context = browser.new_context(viewport={"width": width, "height": height}, base_url=gateway)
    if with_key:
        context.add_init_script(f"localStorage.setItem('ragtune.apiKey', {json.dumps(API_KEY)})")
    probe = PageProbe(context.new_page(), allowed_statuses)
    probe.page.set_default_timeout(60_000)
    probe.page.goto("/")
    probe.page.wait_for_selector("body[data-ready=true]")
    return probe


@pytest.fixture()
def desktop(browser, gateway: str) -> Iterator[PageProbe]:
    probe = open_page(browser, gateway)
    yield probe
    probe.page.context.close()
    assert probe.errors == [], f"console errors: {probe.errors}"


@pytest.fixture(scope="module")
def shots(artifacts_dir: Path) -> Path:
    folder = artifacts_dir / "web"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def snap(page, path: Path) -> None:
    """A full-page screenshot taken from the top (so the sticky header sits where it belongs)."""
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=True)


def ask(page, question: str, mode: str, adapter: str = ""):
    """Ask in the chat view; returns the finished answer card."""
    page.select_option("#chat-mode", mode)
    if mode in ("base", "rag"):
        assert page.is_disabled("#chat-adapter"), "base and rag take no adapter"
    else:
        page.select_option("#chat-adapter", adapter)
    before = page.locator("#chat-log .answer").count()
    page.fill("#chat-question", question)
    page.press("#chat-question", "Enter")
    card = page.locator("#chat-log .answer").nth(before)
    card.locator(".metrics").wait_for(timeout=ANSWER_TIMEOUT_MS)
    return card


# --- tests ---------------------------------------------------------------------------------------
def test_chat_answers_in_every_mode_with_metrics(desktop: PageProbe, shots: Path) -> None:
    page = desktop.page
    page.wait_for_selector(f"#chat-adapter option[value={ADAPTER}]", state="attached")
    # record whether the answer text grows while the card is still streaming
    page.evaluate("""() => {
      window.__partials = 0;
      new MutationObserver(() => {
        const pending = document.querySelector('#chat-log .answer.pending .answer-text');
        if (pending && pending.textContent.length > 0) window.__partials += 1;
      }).observe(document.getElementById('chat-log'), {subtree: true, childList: true, characterData: true});
    }""")
    for mode, adapter in (("base", ""), ("rag", ""), ("ft", ADAPTER), ("hybrid", ADAPTER), ("auto", "")):
        card = ask(page, QUESTION, mode, adapter)
        assert not card.locator(".error-box").count(), card.inner_text()
        assert card.locator(".answer-text").inner_text().strip(), f"{mode}: empty answer"
        assert card.locator(".answer-text").get_attribute("aria-busy") == "false"
        shown_mode = card.get_attribute("data-mode")
        if mode == "auto":
            assert shown_mode in ("base", "rag", "ft", "hybrid")
            assert card.locator(".badge.mode-auto").count() == 1
        else:
            assert shown_mode == mode
        if mode in ("ft", "hybrid"):
            assert card.locator(".badge.adapter").inner_text() == f"adapter {ADAPTER}"
        if mode in ("rag", "hybrid"):
            assert card.locator(".sources li").count() >= 1, f"{mode}: no sources shown"
        metrics = card.locator(".metrics").inner_text()
        for label in (
            "Latency",
            "First token",
            "Generation",
            "Tokens",
            "Question",
            "Answer",
            "Cost",
            "Input",
            "Output",
        ):
            assert label.lower() in metrics.lower(), f"{mode}: {label} missing from {metrics!r}"
        assert "$" in card.locator(".metric-total").nth(2).inner_text()
        assert card.locator(".feedback").count() == 1
    assert page.evaluate("window.__partials") > 0, "no partial answer was shown while streaming"
    snap(page, shots / "chat-desktop.png")


def test_citation_opens_its_source_chunk(desktop: PageProbe, shots: Path) -> None:
    page = desktop.page
    card = ask(page, QUESTION, "rag")
    marker = card.locator("button.cite, .sources button.source-marker").first
    label = marker.get_attribute("aria-label")
    assert label.startswith("Source ")
    marker.focus()
    page.keyboard.press("Enter")  # keyboard, not only the mouse
    dialog = page.locator("#source-dialog")
    dialog.wait_for(state="visible")
    title = dialog.locator("#source-title").inner_text()
    assert any(t in title for t in SAMPLE_CATEGORIES.values()), title
    assert dialog.locator(".chunk-text").inner_text().strip()
    facts = dialog.locator(".facts").inner_text()
    assert "Document" in facts and "Chunk" in facts and "Score" in facts
    page.screenshot(path=str(shots / "citation-desktop.png"))
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == label


def test_feedback_is_stored(desktop: PageProbe, gateway: str) -> None:
    page = desktop.page
    before = api(gateway, "GET", "/v1/kpi").json()
    card = ask(page, QUESTION, "base")
    card.locator("button.fb-good").click()
    card.locator(".feedback-status.ok").wait_for()
    assert card.locator("button.fb-good").get_attribute("aria-pressed") == "true"
    card.locator("input.fb-resolved").check()
    page.wait_for_function(
        "el => el.textContent === 'Feedback saved'", arg=card.locator(".feedback-status").element_handle()
    )
    after = api(gateway, "GET", "/v1/kpi").json()
    assert after["rated"] == before["rated"] + 1
    row = next(r for r in after["by_mode_adapter"] if r["mode"] == "base")
    assert row["good"] >= 1 and row["resolved"] >= 1

    # a better answer written by the rater goes with the feedback (issue 21: from-feedback data)
    card.locator(".fb-correction-box summary").click()
    card.locator("textarea.fb-correction").fill("Hej! A better answer. Varma hälsningar")
    with page.expect_request("**/v1/feedback") as sent:
        card.locator("button.fb-correction-save").click()
    assert sent.value.post_data_json["correction"] == "Hej! A better answer. Varma hälsningar"
    page.wait_for_function(
        "el => el.textContent === 'Feedback saved'", arg=card.locator(".feedback-status").element_handle()
    )


def test_compare_view_shows_four_modes_and_deltas(desktop: PageProbe, shots: Path) -> None:
    page = desktop.page
    page.click("nav a[href='#compare']")
    page.wait_for_selector(f"#compare-adapter option[value={ADAPTER}]", state="attached")
    assert page.locator("#compare-adapter").input_value() == ADAPTER
    page.fill("#compare-question", QUESTION)
    page.click("#compare-form button[type=submit]")
    page.wait_for_selector(".compare-table", timeout=ANSWER_TIMEOUT_MS * 2)
    rows = page.locator(".compare-table tbody tr")
    assert [rows.nth(i).get_attribute("data-mode") for i in range(rows.count())] == ["base", "rag", "ft", "hybrid"]
    assert page.locator(".compare-table tbody tr[data-mode=rag] .delta.ref").count() == 5
    base_row = page.locator(".compare-table tbody tr[data-mode=base]").inner_text()
    assert "vs rag" in base_row
    columns = page.locator(".columns .column")
    assert columns.count() == 4
    for i in range(4):
        assert columns.nth(i).locator(".answer .metrics").count() == 1
    assert page.locator(".column-rag .sources li").count() >= 1
    snap(page, shots / "compare-desktop.png")
    save_readme_screenshot(page, README_SCREENSHOT if UPDATE_README_SCREENSHOT else shots / "compare-readme.png")


def save_readme_screenshot(page, target: Path) -> None:
    """The compare view for the README: the top of the page, palette-quantised to stay small."""
    from PIL import Image

    target.parent.mkdir(parents=True, exist_ok=True)
    raw = target.with_suffix(".raw.png")
    page.set_viewport_size({"width": 1440, "height": 1300})
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(raw))
    image = Image.open(raw).convert("RGB")
    for width in (1440, 1200, 1000):
        scaled = (
            image
            if width == image.width
            else image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)
        )
        scaled.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(target, optimize=True)
        if target.stat().st_size < README_SCREENSHOT_MAX_BYTES:
            break
    raw.unlink()
    assert target.stat().st_size < README_SCREENSHOT_MAX_BYTES


def test_documents_upload_and_delete(browser, gateway: str, tmp_path: Path, shots: Path) -> None:
    probe = open_page(browser, gateway, allowed_statuses=(400, 415, 422))
    page = probe.page
    page.click("nav a[href='#documents']")
    page.wait_for_selector(".doc-table")
    for title in SAMPLE_CATEGORIES.values():
        assert page.locator(".doc-table .doc-title", has_text=title).count() == 1

    upload = tmp_path / "warranty-terms.md"
    upload.write_text("# Warranty terms\n\nZaragoza AB gives a ten year warranty on roofing work.\n", encoding="utf-8")
    page.set_input_files("#upload-file", str(upload))
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#upload-status .outcomes li.ok")
    assert "indexed" in page.inner_text("#upload-status")
    row = page.locator(".doc-table tbody tr", has_text="Warranty terms")
    row.wait_for()
    doc_id = row.get_attribute("data-doc-id")
    assert any(d["doc_id"] == doc_id for d in api(gateway, "GET", "/v1/documents").json()["documents"])
    snap(page, shots / "documents-desktop.png")

    # an unsupported file gives a readable error, and nothing stored is lost
    bad = tmp_path / "notes.xyz"
    bad.write_text("not a document format", encoding="utf-8")
    page.set_input_files("#upload-file", str(bad))
    page.click("#upload-form button[type=submit]")
    error = page.locator("#upload-status .error-box")
    error.wait_for()
    assert "unsupported" in error.inner_text().lower()
    assert page.locator(".doc-table tbody tr").count() == len(SAMPLE_CATEGORIES) + 1

    row.get_by_role("button", name="Delete Warranty terms").click()
    confirm = page.locator("#confirm-dialog")
    confirm.wait_for(state="visible")
    assert "Warranty terms" in confirm.inner_text()
    confirm.locator("button[value=confirm]").click()
    page.locator(".doc-table tbody tr", has_text="Warranty terms").wait_for(state="detached")
    assert not any(d["doc_id"] == doc_id for d in api(gateway, "GET", "/v1/documents").json()["documents"])
    assert page.locator(".doc-table tbody tr").count() == len(SAMPLE_CATEGORIES)
    probe.page.context.close()
    assert probe.errors == [], f"console errors: {probe.errors}"


def test_adapters_view_shows_the_card(desktop: PageProbe, shots: Path) -> None:
    page = desktop.page
    page.click("nav a[href='#adapters']")
    card = page.locator(".model-card.adapter", has_text=ADAPTER)
    card.wait_for()
    text = card.inner_text()
    for expected in (
        "smollm2-135m-instruct",
        "sha256 5e1f",
        "40 train",
        "8 held out",
        "Eval loss",
        "Style score",
        "2.050",
        "0.500",
    ):
        assert expected in text, f"{expected!r} missing from the adapter card: {text!r}"
    assert page.locator(".model-card.base").count() == 1
    snap(page, shots / "adapters-desktop.png")


def test_api_key_is_asked_for_and_remembered(browser, gateway: str, shots: Path) -> None:
    probe = open_page(browser, gateway, with_key=False, allowed_statuses=(401,))
    page = probe.page
    dialog = page.locator("#key-dialog")
    dialog.wait_for(state="visible")  # /v1/models answered 401
    assert "requires an API key" in page.inner_text("#key-reason")
    page.screenshot(path=str(shots / "api-key-desktop.png"))
    page.fill("#key-input", API_KEY)
    page.click("#key-dialog button[value=save]")
    dialog.wait_for(state="hidden")
    assert page.evaluate("localStorage.getItem('ragtune.apiKey')") == API_KEY
    page.wait_for_selector(f"#chat-adapter option[value={ADAPTER}]", state="attached")
    assert page.inner_text("#key-button") == "API key ✓"
    # a wrong key gives a readable message, not a silent failure
    page.evaluate("localStorage.setItem('ragtune.apiKey', 'wrong-key')")
    page.reload()
    dialog.wait_for(state="visible")
    assert "unknown API key" in page.inner_text("#key-reason")
    probe.page.context.close()
    assert probe.errors == [], f"console errors: {probe.errors}"


def test_phone_width_layout(browser, gateway: str, shots: Path) -> None:
    probe = open_page(browser, gateway, width=390, height=844)
    page = probe.page
    overflow = "document.documentElement.scrollWidth - window.innerWidth"
    card = ask(page, QUESTION, "rag")
    assert card.locator(".sources li").count() >= 1
    assert page.evaluate(overflow) <= 0, "the chat view scrolls sideways at phone width"
    snap(page, shots / "chat-phone.png")
    for view in ("compare", "documents", "adapters"):
        page.click(f"nav a[href='#{view}']")
        page.wait_for_selector(f"#view-{view}:not([hidden])")
        if view == "documents":
            page.wait_for_selector(".doc-table")
        if view == "adapters":
            page.wait_for_selector(".model-card.adapter")
        assert page.evaluate(overflow) <= 0, f"the {view} view scrolls sideways at phone width"
        snap(page, shots / f"{view}-phone.png")
    probe.page.context.close()
    assert probe.errors == [], f"console errors: {probe.errors}"


def test_keyboard_navigation_reaches_every_view(desktop: PageProbe) -> None:
    page = desktop.page
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    for view in ("compare", "documents", "adapters", "chat"):
        page.focus(f"nav a[href='#{view}']")
        page.keyboard.press("Enter")
        page.wait_for_selector(f"#view-{view}:not([hidden])")
        assert page.get_attribute(f"nav a[href='#{view}']", "aria-current") == "page"


def test_stop_ends_a_streamed_answer(desktop: PageProbe) -> None:
    page = desktop.page
    page.click("#chat-form summary")
    page.fill("#chat-max-tokens", "1024")
    page.select_option("#chat-mode", "base")
    page.fill("#chat-question", "Write a long, detailed essay about building permits in Sweden.")
    page.press("#chat-question", "Enter")
    card = page.locator("#chat-log .answer").last
    page.wait_for_function(
        "() => (document.querySelector('#chat-log .answer.pending .answer-text')?.textContent || '').length > 0",
        timeout=ANSWER_TIMEOUT_MS,
    )
    page.click("#chat-stop")
    card.get_by_text("Stopped.").wait_for()
    assert card.locator(".answer-text").inner_text().strip()
    assert card.locator(".metrics").count() == 0
    assert page.is_visible("#chat-form button[type=submit]") and page.is_hidden("#chat-stop")
    # the gateway is free again: the next question is answered
    ask(page, QUESTION, "base")


def test_a_chat_only_key_sees_no_documents_view(browser, gateway: str) -> None:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=gateway)
    context.add_init_script(f"localStorage.setItem('ragtune.apiKey', {json.dumps(CHAT_ONLY_KEY)})")
    probe = PageProbe(context.new_page())
    page = probe.page
    page.set_default_timeout(60_000)
    page.goto("/#documents")
    page.wait_for_selector("body[data-can-documents=false]", state="attached")  # GET /v1/whoami answered
    assert not page.is_visible("nav a[href='#documents']")
    page.wait_for_selector("#view-chat:not([hidden])")  # the documents view is not shown: chat instead
    assert page.is_hidden("#view-documents") and page.is_visible("nav a[href='#compare']")
    context.close()
    assert probe.errors == [], f"console errors: {probe.errors}"


def test_a_pdf_source_names_its_page(desktop: PageProbe, gateway: str, shots: Path) -> None:
    pdf = Path(__file__).resolve().parents[1] / "data" / "docs" / "ventilation-manual-pdftex-twocolumn.pdf"
    with pdf.open("rb") as handle:
        response = httpx.post(
            f"{gateway}/v1/documents",
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=120,
            files={"files": (pdf.name, handle, "application/pdf")},
        )
    assert response.status_code == 201, response.text
    doc_id = response.json()["reports"][0]["documents"][0]["doc_id"]
    try:
        card = ask(desktop.page, "How often should the filters of the FTX-400 ventilation unit be replaced?", "rag")
        sources = card.locator(".sources li", has_text="FTX-400")
        assert sources.count() >= 1
        assert all(" · " in text and "p. " in text for text in sources.locator(".source-sub").all_inner_texts())
        sources.first.locator("button.source-marker").click()
        dialog = desktop.page.locator("#source-dialog")
        dialog.wait_for(state="visible")
        assert "Page" in dialog.locator(".facts").inner_text()
        desktop.page.screenshot(path=str(shots / "pdf-source-desktop.png"))
        desktop.page.keyboard.press("Escape")
        dialog.wait_for(state="hidden")
    finally:
        assert api(gateway, "DELETE", f"/v1/documents/{doc_id}").status_code == 200
