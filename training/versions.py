"""Versions of one adapter: ``NAME/v1/``, ``NAME/v2/`` … and ``NAME/versions.json``.

``ragtune train --name NAME`` writes a new version next to the old ones; ``versions.json`` (a
``VersionsFile``) lists them and names the *promoted* one, which the gateway serves under the plain
name; ``NAME@v2`` names one version. An adapter folder from before versions (the peft files directly
in ``NAME/``) counts as ``v1`` and stays where it is (``folder`` ``.``); its next version goes into
``NAME/v2/`` beside it. Promotion and rollback rewrite ``versions.json`` atomically, so a running
gateway picks the change up at its next request (it re-reads the file when it changes).

Everything here works on an adapter folder wherever it lives (``RAGTUNE_HOME/adapters/NAME`` or a
tenant's adapters folder): nothing else spells ``versions.json`` or the ``vN`` folder names.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from ragtune.errors import ConflictError, NotFoundError, RagtuneError
from ragtune.files import atomic_write
from ragtune.names import NAME_RULE, is_valid_name
from training import adapter_folder as folders
from training.adapters import AdapterCard

VERSIONS_FILE = "versions.json"
VERSION_RE = re.compile(r"^v?([1-9][0-9]{0,5})$")
REF_SEPARATOR = "@"


class VersionEntry(BaseModel):
    """One trained version of an adapter."""

    version: str
    """``v1``, ``v2`` …"""
    folder: str
    """Its folder relative to the adapter folder: ``v2``, or ``.`` for a flat adapter from before versions."""
    created: datetime = Field(default_factory=lambda: datetime.now(UTC))
    parent: str | None = None
    """The version that was promoted when this one was trained (what it should beat)."""
    data_sha256: str | None = None
    evaluation: dict[str, Any] | None = None
    """The figures of its last promotion check (``services/improve/gate.py``)."""


class PointerChange(BaseModel):
    """One change of the promoted version (promotion or rollback), newest last in the history."""

    action: Literal["promote", "rollback"]
    version: str
    """The version promoted by this change."""
    previous: str | None
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    forced: bool = False
    reason: str | None = None
    actor: str | None = None


class VersionsFile(BaseModel):
    """``versions.json``: the versions of one adapter, the promoted one and how it got there."""

    promoted: str | None = None
    versions: list[VersionEntry] = Field(default_factory=list)
    history: list[PointerChange] = Field(default_factory=list)

    def entry(self, version: str) -> VersionEntry | None:
        return next((v for v in self.versions if v.version == version), None)

    def latest(self) -> str | None:
        return max((v.version for v in self.versions), key=version_number, default=None)


# --- names ------------------------------------------------------------------------------------
def version_number(version: str) -> int:
    """2 for ``v2`` (or ``2``); RagtuneError for anything else."""
    match = VERSION_RE.fullmatch(version or "")
    if match is None:
        raise RagtuneError(f"invalid adapter version {version!r}: use v1, v2, …")
    return int(match.group(1))


def normalize_version(version: str) -> str:
    """``v2`` for ``v2`` or ``2``."""
    return f"v{version_number(version)}"


def split_ref(ref: str) -> tuple[str, str | None]:
    """``("NAME", "v2")`` for ``NAME@v2`` (or ``NAME@2``), ``("NAME", None)`` for a plain name.

    RagtuneError when the name breaks the name rule or the version is malformed.
    """
    name, sep, version = (ref or "").partition(REF_SEPARATOR)
    if not is_valid_name(name):
        raise RagtuneError(f"invalid adapter name {ref!r}: use {NAME_RULE}, optionally followed by @VERSION")
    return name, (normalize_version(version) if sep else None)


def make_ref(name: str, version: str) -> str:
    """``NAME@vN``."""
    return f"{name}{REF_SEPARATOR}{version}"


# --- reading ------------------------------------------------------------------------------------
def read_versions(adapter_dir: Path) -> VersionsFile:
    """The versions of the adapter in ``adapter_dir``.

    Without ``versions.json``: a flat adapter folder is one version ``v1`` (folder ``.``, promoted);
    a missing or empty folder has none. RagtuneError when the file is damaged.
    """
    adapter_dir = Path(adapter_dir)
    path = adapter_dir / VERSIONS_FILE
    if path.is_file():
        try:
            return VersionsFile.model_validate_json(path.read_text(encoding="utf-8"))
        except (ValidationError, ValueError) as err:
            raise RagtuneError(f"{path} is damaged: {str(err).splitlines()[0]}") from None
    if folders.find(adapter_dir) is not None:
        card = folders.find_card(adapter_dir)
        return VersionsFile(
            promoted="v1",
            versions=[
                VersionEntry(
                    version="v1",
                    folder=".",
                    created=card.created if card else datetime.now(UTC),
                    data_sha256=card.data_sha256 if card else None,
                )
            ],
        )
    return VersionsFile()


def write_versions(adapter_dir: Path, versions: VersionsFile) -> None:
    """Write ``versions.json`` atomically (a reader sees the old or the new file, never half)."""
    atomic_write(Path(adapter_dir) / VERSIONS_FILE, versions.model_dump_json(indent=2))


def pointer_stamp(adapter_dir: Path) -> tuple[int, int] | None:
    """(mtime ns, size) of ``versions.json``, None without one: changes when a version is promoted."""
    try:
        stat = (Path(adapter_dir) / VERSIONS_FILE).stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def version_dir(adapter_dir: Path, version: str, versions: VersionsFile | None = None) -> Path:
    """The folder of ``version`` (NotFoundError when the adapter has no such version)."""
    adapter_dir = Path(adapter_dir)
    versions = versions if versions is not None else read_versions(adapter_dir)
    entry = versions.entry(normalize_version(version))
    if entry is None:
        known = ", ".join(v.version for v in versions.versions) or "none"
        raise NotFoundError(f"adapter {adapter_dir.name} has no version {version} (versions: {known})")
    return (adapter_dir / entry.folder).resolve() if entry.folder != "." else adapter_dir.resolve()


def resolve(adapter_dir: Path, version: str | None = None) -> tuple[str, Path]:
    """(version, its folder) of ``version``, or of the promoted version when None.

    NotFoundError when the folder holds no adapter, no such version, or no promoted version.
    """
    adapter_dir = Path(adapter_dir)
    versions = read_versions(adapter_dir)
    if not versions.versions:
        raise NotFoundError(f"no adapter at {adapter_dir}")
    chosen = normalize_version(version) if version else versions.promoted
    if chosen is None:
        raise NotFoundError(f"adapter {adapter_dir.name} has no promoted version; promote one (NAME@VERSION)")
    return chosen, version_dir(adapter_dir, chosen, versions)


# --- writing ------------------------------------------------------------------------------------
def next_version(adapter_dir: Path) -> str:
    """The version a new training run of this adapter becomes (``v1`` for a new adapter)."""
    latest = read_versions(adapter_dir).latest()
    return "v1" if latest is None else f"v{version_number(latest) + 1}"


def add_version(adapter_dir: Path, entry: VersionEntry, *, promote: bool) -> VersionsFile:
    """Record a newly installed version (promoted when ``promote`` or when nothing is promoted yet)."""
    adapter_dir = Path(adapter_dir)
    versions = read_versions(adapter_dir)
    versions.versions = [v for v in versions.versions if v.version != entry.version] + [entry]
    if promote or versions.promoted is None:
        versions.history.append(PointerChange(action="promote", version=entry.version, previous=versions.promoted))
        versions.promoted = entry.version
    write_versions(adapter_dir, versions)
    return versions


def set_evaluation(adapter_dir: Path, version: str, figures: dict[str, Any]) -> None:
    """Record the figures of a promotion check in ``versions.json`` and in the version's card."""
    adapter_dir = Path(adapter_dir)
    versions = read_versions(adapter_dir)
    entry = versions.entry(version)
    if entry is None:
        raise NotFoundError(f"adapter {adapter_dir.name} has no version {version}")
    entry.evaluation = figures
    write_versions(adapter_dir, versions)

    def change(card: dict[str, Any]) -> None:
        card["evaluation"] = figures

    folders.update_card(version_dir(adapter_dir, version, versions), change)


def promote(
    adapter_dir: Path, version: str, *, forced: bool = False, reason: str | None = None, actor: str | None = None
) -> PointerChange:
    """Make ``version`` the one served under the plain name (ConflictError when it already is)."""
    adapter_dir = Path(adapter_dir)
    version = normalize_version(version)
    versions = read_versions(adapter_dir)
    version_dir(adapter_dir, version, versions)  # NotFoundError for an unknown version
    if versions.promoted == version:
        raise ConflictError(f"{adapter_dir.name}@{version} is already the promoted version")
    change = PointerChange(
        action="promote", version=version, previous=versions.promoted, forced=forced, reason=reason, actor=actor
    )
    versions.promoted = version
    versions.history.append(change)
    write_versions(adapter_dir, versions)
    return change


def rollback(adapter_dir: Path, *, reason: str | None = None, actor: str | None = None) -> PointerChange:
    """Undo the last promotion: serve again the version promoted before it.

    ConflictError when there is nothing to undo (one promotion only, or its previous version is gone).
    """
    adapter_dir = Path(adapter_dir)
    versions = read_versions(adapter_dir)
    previous = _previous_promoted(versions)
    if previous is None:
        raise ConflictError(f"adapter {adapter_dir.name} has no earlier promoted version to roll back to")
    change = PointerChange(action="rollback", version=previous, previous=versions.promoted, reason=reason, actor=actor)
    versions.promoted = previous
    versions.history.append(change)
    write_versions(adapter_dir, versions)
    return change


def _previous_promoted(versions: VersionsFile) -> str | None:
    """The version that was promoted before the current one, walking back over earlier rollbacks.

    The promoted versions form a stack: a promotion pushes, a rollback pops.
    """
    stack: list[str] = []
    for change in versions.history:
        if change.action == "promote":
            if not stack and change.previous:  # promoted implicitly (a flat adapter's v1)
                stack.append(change.previous)
            stack.append(change.version)
        elif stack:
            stack.pop()
    if len(stack) < 2:
        return None
    candidate = stack[-2]
    return candidate if versions.entry(candidate) is not None else None


def list_versions(adapter_dir: Path) -> list[tuple[VersionEntry, AdapterCard | None]]:
    """Every version with its card (None when unreadable), oldest first."""
    adapter_dir = Path(adapter_dir)
    versions = read_versions(adapter_dir)
    rows = []
    for entry in sorted(versions.versions, key=lambda v: version_number(v.version)):
        try:
            card = folders.read_card(version_dir(adapter_dir, entry.version, versions))
        except RagtuneError:
            card = None
        rows.append((entry, card))
    return rows


# --- serving ------------------------------------------------------------------------------------
def serving(adapter_dir: Path, version: str | None = None) -> tuple[str, Path]:
    """(engine key, servable folder) of ``version`` of the adapter in ``adapter_dir`` (the promoted
    one when None): what the gateway loads into its engine.

    The key is ``NAME@vN``, so each version is its own engine adapter and a promotion changes which
    one the plain name reaches. A flat adapter without ``versions.json`` keeps its plain name as the
    key (served exactly as before versions). NotFoundError when there is no such servable version.
    """
    adapter_dir = Path(adapter_dir)
    name = adapter_dir.name
    wanted = normalize_version(version) if version else None
    if not (adapter_dir / VERSIONS_FILE).is_file() and wanted in (None, "v1"):
        servable = folders.find(adapter_dir)
        if servable is None:
            raise NotFoundError(folders.not_an_adapter(adapter_dir))
        return name, servable
    chosen, folder = resolve(adapter_dir, wanted)
    servable = folders.find(folder)
    if servable is None:
        raise NotFoundError(folders.not_an_adapter(folder))
    return make_ref(name, chosen), servable


class VersionRow(BaseModel):
    """One version in ``ragtune adapters list``."""

    version: str
    parent: str | None = None
    created: datetime
    data_sha256: str | None = None
    evaluation: dict[str, Any] | None = None
    card: AdapterCard | None = None


class AdapterRow(BaseModel):
    """One adapter in ``ragtune adapters list``: its versions and the promoted one."""

    name: str
    promoted: str | None
    versions: list[VersionRow]


def adapter_rows(adapters_dir: Path) -> list[AdapterRow]:
    """Every adapter under ``adapters_dir`` with its versions, by name (folders holding none skipped)."""
    adapters_dir = Path(adapters_dir)
    if not adapters_dir.is_dir():
        return []
    rows = []
    for folder in sorted(p for p in adapters_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            versions = read_versions(folder)
            listed = list_versions(folder)
        except RagtuneError:
            continue
        if not listed:
            continue
        rows.append(
            AdapterRow(
                name=folder.name,
                promoted=versions.promoted,
                versions=[
                    VersionRow(
                        version=entry.version,
                        parent=entry.parent,
                        created=entry.created,
                        data_sha256=entry.data_sha256,
                        evaluation=entry.evaluation,
                        card=card,
                    )
                    for entry, card in listed
                ],
            )
        )
    return rows
