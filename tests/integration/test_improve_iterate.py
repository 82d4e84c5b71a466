"""The improvement loop end to end (issue 21's acceptance): a real gateway over HTTP (local engine,
SmolLM2 and a LoRA ``voice`` as v1, exchanges kept by choice), answers rated (one corrected) through
the API, then ``ragtune iterate`` in a subprocess: from-feedback → train v2 (2 steps) → answer a
3-item QA set with v1 and v2 through the running gateway → promote or refuse according to the
figures (exit code 0 or 3). Then promotion and rollback change what that same gateway serves under
the plain name, without a restart."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ragtune.audit_log import AuditLog
from ragtune.settings import Settings
from training import versions

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
SAMPLE_QA = REPO / "benchmarks" / "qa" / "sample_qa.jsonl"
MAX_TOKENS = 12
RATED = [
    ("Do I need a building permit for a small shed?", 1, None),
    ("How long does a tiled roof last?", 1, None),
    ("Can I get ROT deduction for a new roof?", -1, "Hej! Yes, ROT covers the labour of a new roof. Varma hälsningar"),
    ("What does an extension cost per square metre?", 1, None),
    ("Who pays for the drainage?", -1, None),  # rated bad, no correction: not training data
]


@pytest.fixture(scope="module")
def qa_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two answerable sample items and one unanswerable one."""
    items = [json.loads(line) for line in SAMPLE_QA.read_text().splitlines()]
    chosen = [i for i in items if i["answerable"]][:2] + [next(i for i in items if not i["answerable"])]
    path = tmp_path_factory.mktemp("qa") / "qa.jsonl"
    path.write_text("".join(json.dumps(i) + "\n" for i in chosen))
    return path


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, models_dir: Path, tiny_adapter: Path, qa_file: Path):
    from services.gateway.server import BackgroundGateway

    home = tmp_path_factory.mktemp("improve-home")
    (home / "models").symlink_to(models_dir, target_is_directory=True)
    settings = Settings(
        home=home,
        engine={"kind": "local"},
        gateway={"keep_exchanges": True, "default_max_tokens": MAX_TOKENS},
        improve={"qa_file": qa_file, "max_tokens": MAX_TOKENS},
    )
    settings.ensure_dirs()
    shutil.copytree(tiny_adapter, settings.adapters_dir / "voice")  # a flat adapter from before versions: v1
    with BackgroundGateway(settings) as running:
        yield settings, running.url


def ask(url: str, adapter: str, question: str = "How long does a tiled roof last?") -> dict:
    body = {"question": question, "mode": "ft", "adapter": adapter, "max_tokens": MAX_TOKENS}
    response = httpx.post(f"{url}/v1/chat", json=body, timeout=300)
    assert response.status_code == 200, response.text
    return response.json()


def test_iterate_trains_v2_checks_it_against_v1_and_the_gateway_follows(gateway, qa_file: Path) -> None:
    settings, url = gateway
    for question, rating, correction in RATED:
        answer = ask(url, "voice", question)
        assert answer["adapter"] == "voice"  # flat: served under its plain name, as before versions
        feedback = {"request_id": answer["id"], "rating": rating, "resolved": rating == 1}
        if correction:
            feedback["correction"] = correction
        assert httpx.post(f"{url}/v1/feedback", json=feedback, timeout=30).status_code == 201

    env = {
        **os.environ,
        "RAGTUNE_HOME": str(settings.home),
        "RAGTUNE_CONFIG": str(settings.home / "none.toml"),
        "RAGTUNE_IMPROVE__QA_FILE": str(qa_file),
        "RAGTUNE_IMPROVE__MAX_TOKENS": str(MAX_TOKENS),
        "RAGTUNE_TRAIN__EVAL_FRACTION": "0.25",
        "RAGTUNE_TRAIN__STYLE_PROMPTS": "0",
    }
    command = [sys.executable, "-m", "ragtune.cli", "iterate", "--name", "voice", "--max-steps", "2"]
    command += ["--url", url, "--json"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1200, cwd=REPO)
    assert done.returncode in (0, 3), done.stdout[-2000:] + done.stderr[-3000:]
    outcome = json.loads(done.stdout[done.stdout.index("{") :])
    assert outcome["data"]["rated"] == 5 and outcome["data"]["corrected"] == 1 and outcome["data"]["skipped"] == 1
    assert outcome["data"]["prep"]["kept"] == 4 and outcome["version"] == "v2"
    report = outcome["promotion"]["report"]
    assert report["candidate"]["ref"] == "voice@v2" and report["current"]["ref"] == "voice@v1"
    assert report["items"] == 3 and set(report["margins"]) == {"style", "term_recall", "refusals"}
    assert report["passed"] == (done.returncode == 0) == outcome["promotion"]["promoted"]

    adapter_dir = settings.adapters_dir / "voice"
    state = versions.read_versions(adapter_dir)
    card = json.loads((adapter_dir / "v2" / "adapter_card.json").read_text())
    assert (card["version"], card["parent"]) == ("v2", "v1") and card["evaluation"]["passed"] == report["passed"]
    assert len(card["data_sha256"]) == 64
    assert state.promoted == ("v2" if report["passed"] else "v1")
    assert ask(url, "voice")["adapter"] == f"voice@{state.promoted}"  # the running gateway follows
    assert ask(url, "voice@v2")["adapter"] == "voice@v2"  # any version by name

    from services.improve import loop

    if not report["passed"]:
        loop.promote(settings, "voice@v2", force=True, reason="acceptance test")
    assert ask(url, "voice")["adapter"] == "voice@v2"
    loop.rollback(settings, "voice", reason="acceptance test")
    assert ask(url, "voice")["adapter"] == "voice@v1"
    actions = [json.loads(line)["action"] for line in AuditLog.in_home(settings.home).path.read_text().splitlines()]
    assert actions[-1] == "adapter.rollback"
    assert actions[-2] == ("adapter.promote" if report["passed"] else "adapter.promote.forced")
