"""The web page's static files hang together: every referenced file and element exists, every
control has a label, and nothing is fetched from outside the gateway (works offline, no CDN)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

STATIC = Path(__file__).resolve().parents[2] / "services" / "gateway" / "static"
SCRIPTS = sorted(STATIC.rglob("*.js"))


class PageOutline(HTMLParser):
    """The ids, /static references, labels and form controls of index.html."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.references: list[str] = []
        self.label_targets: set[str] = set()
        self.controls: list[dict[str, str | None]] = []
        self.label_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(attributes["id"])
        for name in ("src", "href"):
            value = attributes.get(name) or ""
            if value.startswith("/") or "://" in value:
                self.references.append(value)
        if tag == "label":
            self.label_depth += 1
            if attributes.get("for"):
                self.label_targets.add(attributes["for"])
        if tag in ("input", "select", "textarea") and attributes.get("type") != "hidden":
            self.controls.append({**attributes, "_in_label": "yes" if self.label_depth else None})

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.label_depth -= 1


@pytest.fixture(scope="module")
def outline() -> PageOutline:
    parser = PageOutline()
    parser.feed((STATIC / "index.html").read_text(encoding="utf-8"))
    return parser


def test_page_references_only_local_files_that_exist(outline: PageOutline) -> None:
    assert outline.references, "index.html references no files"
    for reference in outline.references:
        assert reference.startswith("/static/"), f"{reference} is not served by the gateway"
        assert (STATIC / reference.removeprefix("/static/")).is_file(), f"{reference} is missing"


def test_module_imports_resolve() -> None:
    for script in SCRIPTS:
        for target in re.findall(r'^\s*import\s[^;]*?from\s+"([^"]+)"', script.read_text(encoding="utf-8"), re.M):
            assert target.startswith("./"), f"{script.name} imports {target} (only relative modules, no CDN)"
            assert (script.parent / target).resolve().is_file(), f"{script.name} imports missing {target}"


def test_nothing_is_loaded_from_outside_the_gateway() -> None:
    for path in [STATIC / "index.html", STATIC / "style.css", *SCRIPTS]:
        text = path.read_text(encoding="utf-8")
        for url in re.findall(r"https?://[^\s\"'`)]+", text):
            assert url.startswith("http://www.w3.org/"), f"{path.name} refers to {url}"
        assert "@import" not in text and "@font-face" not in text, f"{path.name} loads external styles or fonts"


def test_every_element_the_scripts_look_up_exists(outline: PageOutline) -> None:
    for script in SCRIPTS:
        for element_id in re.findall(r'getElementById\("([^"]+)"\)', script.read_text(encoding="utf-8")):
            assert element_id in outline.ids, f"{script.name} looks up #{element_id}, which index.html lacks"


def test_every_form_control_has_a_label(outline: PageOutline) -> None:
    assert outline.controls
    for control in outline.controls:
        labelled = control["_in_label"] or control.get("aria-label") or control.get("id") in outline.label_targets
        assert labelled, f"unlabelled form control: {control}"
