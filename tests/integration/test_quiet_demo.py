"""Library noise goes to the log: loading the generator through transformers prints nothing of
bitsandbytes' kernel warning or the weight-loading progress bars (as in ``ragtune demo``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SCRIPT = """
import sys
from pathlib import Path
from ragtune.quiet import library_noise_to
library_noise_to(Path(sys.argv[1]))
import bitsandbytes  # noqa: F401  (warns on CPUs without its optional kernels)
from transformers import AutoModelForCausalLM
AutoModelForCausalLM.from_pretrained(sys.argv[2])
print("loaded")
"""


def test_library_noise_goes_to_the_log(tmp_path: Path, generator_path: Path) -> None:
    log = tmp_path / "demo.log"
    loud = subprocess.run(
        [
            sys.executable,
            "-c",
            SCRIPT.replace("library_noise_to(Path(sys.argv[1]))", ""),
            str(log),
            str(generator_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    quiet = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(log), str(generator_path)], capture_output=True, text=True, timeout=300
    )
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.strip() == "loaded"
    assert "Loading weights" in loud.stderr  # what a plain load prints…
    assert "Loading weights" not in quiet.stderr and "gemm_4bit_forward" not in quiet.stderr  # …and the quiet one not
    if "gemm_4bit_forward" in loud.stderr:
        assert "gemm_4bit_forward" in log.read_text()  # moved to the log, not lost


GGUF_BARS = """
import sys
from pathlib import Path
from ragtune.quiet import library_noise_to
library_noise_to(Path(sys.argv[1]))
from transformers.modeling_gguf_pytorch_utils import tqdm  # the bar `ragtune models pull` drew
for _ in tqdm(range(3), desc="Converting and de-quantizing GGUF tensors..."):
    pass
print("converted")
"""


def test_gguf_conversion_bars_are_silenced(tmp_path: Path) -> None:
    """``ragtune models pull`` / the first ``make demo`` convert the GGUF generator through
    transformers, whose bar is a bare tqdm: quieted, it draws nothing."""
    log = tmp_path / "models.log"
    loud = subprocess.run(
        [sys.executable, "-c", GGUF_BARS.replace("library_noise_to(Path(sys.argv[1]))", ""), str(log)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    quiet = subprocess.run([sys.executable, "-c", GGUF_BARS, str(log)], capture_output=True, text=True, timeout=300)
    assert loud.returncode == quiet.returncode == 0, quiet.stderr
    assert "de-quantizing" in loud.stderr
    assert "de-quantizing" not in quiet.stderr and quiet.stdout.strip() == "converted"
