"""Library noise to a log file: only ragtune's own progress and messages reach the terminal.

Third-party libraries print at import and load time (bitsandbytes' CPU-kernel warning, transformers'
weight-loading and GGUF conversion progress bars, deprecation warnings). ``library_noise_to`` sends
their loggers and Python warnings to a file and turns the Hugging Face progress bars off; call it
before those libraries are imported (the CLI does for ``ragtune demo`` and ``ragtune models pull``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

LIBRARY_LOGGERS = (
    "bitsandbytes",
    "transformers",
    "peft",
    "sentence_transformers",
    "huggingface_hub",
    "accelerate",
    "trl",
    "datasets",
    "torch",
    "torchao",
    "py.warnings",
    "filelock",
    "urllib3",
)


def library_noise_to(log_path: Path) -> logging.Handler:
    """Route the libraries' logging and warnings to ``log_path`` (appended) and disable the
    Hugging Face progress bars; returns the file handler."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers' tqdm reads it too
    # bars that libraries draw with tqdm directly (transformers' GGUF conversion: "Converting and
    # de-quantizing GGUF tensors..."); tqdm reads TQDM_* when it is imported, which is still ahead
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    handler = logging.FileHandler(log_path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.captureWarnings(True)
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.propagate = False
    try:  # transformers installs its own stderr handler on its root logger: swap it for ours
        from transformers.utils import logging as hf_logging

        hf_logging.disable_default_handler()
        hf_logging.disable_progress_bar()
    except ImportError:
        pass
    return handler
