"""One settings object for every part of ragtune.

Values come, highest priority first, from: keyword arguments, environment variables
(prefix ``RAGTUNE_``, nested sections joined with ``__``, e.g. ``RAGTUNE_ENGINE__KIND=local``),
a TOML file (``ragtune.toml`` in the working directory, or the path in ``RAGTUNE_CONFIG``),
and the defaults below.

``indexer`` and ``training`` receive plain section objects from here; they never import
``services``.
"""

from __future__ import annotations

import logging
import os
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ragtune.key_hash import hash_key, is_key_hash
from ragtune.names import check_name

DEFAULT_GENERATOR = "smollm2-135m-instruct"
DEFAULT_EMBEDDER = "all-minilm-l6-v2"


class ModelSettings(BaseModel):
    """Which models to use. Each is a built-in alias, a Hugging Face hub id or a local folder."""

    generator: str = DEFAULT_GENERATOR
    embedder: str = DEFAULT_EMBEDDER
    reranker: str | None = None
    """Optional cross-encoder for re-ranking retrieved chunks (hub id or local folder)."""


class IndexSettings(BaseModel):
    """How documents are chunked, embedded, stored and searched."""

    kind: Literal["flat", "hnsw", "ivf"] = "flat"
    chunk_tokens: int = Field(200, ge=16, le=8192)
    chunk_overlap: int = Field(32, ge=0, le=1024)
    language: Literal["en", "sv", "it", "de", "fr", "es", "da", "no", "nl", "pt"] | None = None
    """The documents' language for BM25 stopwords and stemming; None = detected per chunk."""
    retrieval: Literal["dense", "bm25", "hybrid"] = "hybrid"
    top_k: int = Field(4, ge=1, le=50)
    min_score: float = 0.30
    """Dense cosine similarity under which a hit counts as irrelevant ("I don't know")."""
    read_only: bool = False
    """Open the index for reading only (replicas of a published index)."""
    max_document_bytes: int = Field(20_000_000, ge=1)
    """Files (and uploads) over this size are refused with a clear error (HTTP 413)."""
    max_document_chunks: int = Field(20_000, ge=1)
    """A document that cleans into more chunks than this is refused (HTTP 413)."""
    record_text_fields: list[str] = Field(default_factory=lambda: ["text", "content", "body", "answer", "a"])
    """JSON/JSONL/CSV records: the first of these fields present is the document's text."""
    record_title_fields: list[str] = Field(default_factory=lambda: ["title", "question", "q", "name", "heading"])
    """Records: the first of these fields present is the title (also prefixed to the text)."""
    record_id_fields: list[str] = Field(default_factory=lambda: ["id", "doc_id", "uuid", "key"])
    """Records: the first of these fields present identifies the record (else its position)."""
    hnsw_m: int = Field(32, ge=4, le=256)
    hnsw_ef_construction: int = Field(80, ge=8)
    hnsw_ef_search: int = Field(64, ge=8)
    ivf_nlist: int = Field(256, ge=1)
    """IVF cells; the index falls back to exact search until it holds 39 × nlist vectors."""
    ivf_nprobe: int = Field(16, ge=1)
    rrf_k: int = Field(60, ge=1)
    """Reciprocal rank fusion constant: score = sum of 1 / (rrf_k + rank)."""
    candidates: int = Field(10, ge=1)
    """Each retriever's candidates before fusion / re-ranking (at least k). 10, as in Haystack's
    hybrid pipeline, beat 50 on both question sets of ``benchmarks/bench_retrieval.py`` (hit@5 0.958
    vs 0.938 on the sample QA set, 0.950 vs 0.925 on the held-out labelled queries); raise it when
    a re-ranker is configured, so it has more to choose from."""
    max_chunks_per_section: int | None = Field(1, ge=1)
    """At most this many chunks of one section (document + heading) in the top k, the others moved
    after them (diversity); None keeps the fused order. A PDF's sections are cut at page ends, so
    for PDFs this is per page: on the 1,158-page manual of ``benchmarks/bench_manual.py`` one per
    page cut the top-5 lists holding two chunks of one page from 21 of 30 to 5, hits unchanged; on
    the FAQ sets of ``benchmarks/bench_retrieval.py`` it changes nothing."""
    demote_navigation: bool = True
    """Tables of contents, alphabetical indexes and link lists (``indexer/navigation.py``) go after
    the other results: they match many queries word for word and answer none (on the manual of
    ``benchmarks/bench_manual.py``: 4 of 150 top-5 results were index pages, 0 with this on)."""
    near_duplicate_threshold: float = Field(0.9, gt=0, le=1)
    """Chunks whose word-shingle Jaccard similarity to an earlier chunk reaches this are dropped."""
    embed_batch_size: int = Field(64, ge=1)
    reranker_path: Path | None = None
    """A local cross-encoder folder; when set, hits are re-ranked by it."""
    mask_pii: bool = False
    """Mask personal data in every indexed document (``ragtune index add --mask-pii`` for one run)."""
    mask_pii_namespaces: list[str] = Field(default_factory=list)
    """Namespaces whose documents are always indexed with personal data masked."""

    def masks_pii(self, namespace: str) -> bool:
        """True when documents added to ``namespace`` are masked."""
        return self.mask_pii or namespace in self.mask_pii_namespaces


class EngineSettings(BaseModel):
    """The generation engine: vLLM (child process or external URL) or local transformers."""

    kind: Literal["vllm", "local"] = "vllm"
    url: str | None = None
    """An external OpenAI-compatible vLLM server; when set, ragtune starts no child process."""
    api_key: str | None = None
    start_timeout_s: float = Field(420.0, gt=0)
    kv_cache_gib: int = Field(1, ge=1)
    max_loras: int = Field(4, ge=1)
    max_lora_rank: int = Field(64, ge=1)
    max_model_len: int = Field(4096, ge=256)
    cpu_threads: str | None = None
    """vLLM CPU OpenMP binding, e.g. ``0-1``; default: all cores of this machine."""
    dtype: str = "auto"
    extra_args: list[str] = Field(default_factory=list)
    stop_grace_s: float = Field(10.0, gt=0)
    """Seconds a vLLM child gets after SIGTERM before it is killed."""
    adapter_strategy: Literal["auto", "merged", "unmerged"] = "auto"
    """How vLLM serves adapters: ``unmerged`` = LoRA on one shared engine (GPU, many adapters);
    ``merged`` = each adapter merged into its own model and engine (fast on CPU); ``auto`` =
    merged on CPU, unmerged on GPU."""
    adapter_strategies: dict[str, Literal["merged", "unmerged"]] = Field(default_factory=dict)
    """Per-adapter overrides of ``adapter_strategy`` (adapter name -> strategy)."""
    compile: bool = True
    """Let vLLM compile engines without LoRA (faster decoding, minutes more at the first start on
    CPU); False adds ``--enforce-eager`` (quick starts, e.g. for tests)."""
    max_engines: int = Field(3, ge=1)
    """Most vLLM engines running at once (base + merged); each CPU engine takes ≈ 3.4 GiB."""
    prestart: list[str] = Field(default_factory=list)
    """Adapters served by their own engine (merged or full) whose engine starts in the background
    with the gateway instead of on their first request (``ragtune demo``: its sample adapter)."""
    prestart_served: bool = True
    """Pre-start the own engines of every served adapter (merged or full) with the gateway, as many
    as ``max_engines`` leaves room for (the others are named in the log); ``/healthz`` reports
    ready once they run. Adapters registered later start in the background at registration."""
    merged_dir: Path | None = None
    """Cache of adapters merged into full models; default RAGTUNE_HOME/models/merged."""
    merged_cache_max_gib: float = Field(20.0, gt=0)
    """Size limit of the merged-model cache: above it, the least recently used merged folders no
    registered adapter needs are removed (after each merge)."""
    ca_bundle: Path | None = None
    """PEM file of the certificate authorities trusted for an ``https://`` ``url`` (a private CA);
    None: the system's trust store."""


class PriceSettings(BaseModel):
    """The cost model: explicit $/1M tokens, or self-hosted engine seconds × $/hour."""

    usd_per_hour: float = Field(0.10, ge=0)
    """What the serving machine costs per hour (self-hosted estimate)."""
    train_usd_per_hour: float = Field(0.10, ge=0)
    per_model: dict[str, tuple[float, float]] = Field(default_factory=dict)
    """Model or adapter name -> (USD per 1M input tokens, USD per 1M output tokens)."""


class PiiSettings(BaseModel):
    """Personal-data detection (``ragtune.pii``), shared by data prep, indexing and the gateway."""

    languages: list[str] = Field(default_factory=lambda: ["en", "it", "sv", "de", "fr", "es"])
    """Languages whose cue words find names and street addresses."""
    regions: list[str] = Field(default_factory=lambda: ["SE", "IT", "DE", "FR", "ES", "GB"])
    """ISO 3166 regions: their national IDs are detected, and phone numbers written without a
    country code are read in them (the first region first)."""
    kinds: list[str] = Field(default_factory=list)
    """Kinds to detect (see ``ragtune.pii.PII_KINDS``); empty = all."""
    allow: list[str] = Field(default_factory=list)
    """Strings never masked (e.g. the company's own name)."""


class AuditSettings(BaseModel):
    """The memorization audit of adapters (``training/audit.py``)."""

    candidates: int = Field(199, ge=9)
    """Random alternatives each canary's log-perplexity is ranked against (exposure by rank is at
    most log2(n+1) bits; beyond that it is extrapolated from a normal fit, as in the Secret Sharer).
    ≈ 10 s per canary on a 2-core CPU for 200."""
    controls: int = Field(3, ge=0)
    """Control canaries (never trained on) measured beside the inserted ones: the exposure of chance."""
    max_exposure_bits: float = Field(10.0, gt=0)
    """An inserted canary with this exposure or more fails the audit."""
    near_exact_similarity: float = Field(0.9, gt=0, le=1)
    """A greedy completion this similar to the secret (difflib ratio) counts as near-exact."""
    max_pii_prompts: int = Field(200, ge=0)
    """At most this many PII / secret strings of the raw data are prompted for."""
    prefix_chars: int = Field(80, ge=8)
    """Characters of text before a PII string used as its prompt."""
    allow_failed: bool = False
    """Let the gateway load adapters whose audit failed (otherwise it refuses, saying why)."""


class Role(StrEnum):
    """What an API key may do. ``admin`` may do everything."""

    CHAT = "chat"
    """Ask, compare, search, give feedback, list models and adapters."""
    DOCUMENTS = "documents"
    """Upload, list and delete documents in the key's own namespace."""
    ADAPTERS = "adapters"
    """Register and unload the tenant's own adapters."""
    RATE = "rate"
    """Rate answers in the blind comparison view."""
    ADMIN = "admin"
    """Everything, plus KPIs, the request and audit logs, health detail and metrics."""


class TenantSettings(BaseModel):
    """What one API key may reach."""

    name: str
    roles: list[Role] = Field(default_factory=lambda: [Role.CHAT])
    """What the key may do; a key configured without roles may only chat."""
    namespace: str = "default"
    adapters: list[str] = Field(default_factory=lambda: ["*"])
    rate_limit_per_minute: int = Field(120, ge=1)
    mask_output_pii: bool = False
    """Mask personal data in this tenant's answers (streamed or not) with the PII engine."""
    tokens_per_day: int | None = Field(None, ge=1)
    """Most tokens (prompt + completion, every generation of ``/v1/compare`` counted) this key may
    spend per UTC day; over it requests get 429 until midnight UTC. None: no token budget."""
    usd_per_day: float | None = Field(None, gt=0)
    """Most USD (the answers' ``cost.usd``) this key may spend per UTC day. None: no cost budget."""
    keep_exchanges: bool = False
    """Keep the question, the answer, the cited chunk ids and a rater's correction of this tenant's
    rated requests, as training data for ``ragtune data from-feedback`` (off by default)."""

    @field_validator("name")
    @classmethod
    def _name_is_a_folder_name(cls, value: str) -> str:
        return check_name(value, "tenant name", ValueError)  # type: ignore[arg-type]  # a folder name


_warned_plain_keys = False


def _hashed_api_keys(keys: object) -> object:
    """``keys`` (before validation) with every plain key replaced by its ``sha256:`` hash, so no
    validation error, repr or log line can show one; a warning, once per process, names the tenants
    (never a key)."""
    global _warned_plain_keys
    if not isinstance(keys, dict):
        return keys
    plain = [key for key in keys if isinstance(key, str) and not is_key_hash(key)]
    if plain and not _warned_plain_keys:
        _warned_plain_keys = True
        tenants = (keys[key] for key in plain)
        names = sorted({str(t.get("name") if isinstance(t, dict) else getattr(t, "name", "?")) for t in tenants})
        logging.getLogger("ragtune.settings").warning(
            "gateway.api_keys holds %d plain API key(s) (tenants: %s): they are hashed at load; store "
            "their hashes instead ('ragtune keys hash' prints one), or create keys with 'ragtune keys create'",
            len(plain),
            ", ".join(names),
        )
    return {hash_key(key) if isinstance(key, str) and not is_key_hash(key) else key: t for key, t in keys.items()}


class AdmissionSettings(BaseModel):
    """Admission control of generations (``services/gateway/admission.py``)."""

    max_in_flight: int = Field(8, ge=1)
    """Generations running at once per engine (the base model, or one adapter's engine)."""
    max_queue: int = Field(64, ge=0)
    """Generations waiting per engine; beyond it a request is refused at once (503, Retry-After)."""
    queue_timeout_s: float = Field(30.0, gt=0)
    """Longest wait for a slot; a request still waiting then is refused (503, Retry-After)."""


class LoopSettings(BaseModel):
    """When the gateway stops an answer that repeats itself (``services.gateway.loops``)."""

    enabled: bool = True
    """Off: answers run to their end however much they repeat (for before/after measurements)."""

    max_period_words: int = Field(24, ge=1)
    """The longest repeated unit, in words, the n-gram rule looks for."""
    min_run_repeats: int = Field(3, ge=2)
    """Back-to-back copies of a unit of two or more words that make a loop."""
    min_run_words: int = Field(12, ge=1)
    """...and at least this many words in the run: a short stutter that recovers ("walls: 50 years,
    walls: 50 years, walls: 50 years. ROT-eligible.") is not stopped."""
    min_word_repeats: int = Field(6, ge=2)
    """Back-to-back copies of a single word that make a loop ("no no no" is speech, six is not)."""
    min_segment_repeats: int = Field(3, ge=2)
    """Occurrences of the same line or sentence, anywhere in the answer, that make a loop."""
    min_segment_chars: int = Field(12, ge=1)
    """Shorter lines and sentences ("Hej!", "---") never count."""


class GatewaySettings(BaseModel):
    """The HTTP gateway: binding, tenants, input limits and answer behaviour."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    api_keys: dict[str, TenantSettings] = Field(default_factory=dict)
    """API key hash (``sha256:<hex>``) -> tenant, besides the keys of ``ragtune keys create``
    (RAGTUNE_HOME/keys.json). A plain key is accepted for compatibility and hashed at load (with a
    warning); only hashes are kept. With no keys at all the gateway serves loopback only."""
    shared_adapters: list[str] = Field(default_factory=list)
    """Adapters of the shared folder (RAGTUNE_HOME/adapters, or registered by an admin from outside
    the tenants' folders) that every key may use, within its ``adapters`` list; ``["*"]`` = all.
    Others are the admin's: a tenant uses only its own adapters and these."""
    tenants_dir: Path | None = None
    """Where each tenant's own adapters live (``TENANTS_DIR/<tenant>/adapters/``); default
    RAGTUNE_HOME/tenants."""
    max_question_chars: int = Field(4000, ge=1)
    max_tokens_limit: int = Field(1024, ge=1)
    default_max_tokens: int = Field(128, ge=1)
    repetition_penalty: float = Field(1.0, ge=1.0, le=2.0)
    """Default for requests that set none (1.0 = off). Measured on the sample set, 1.1 ends the
    loops small greedy models fall into ("Hej! Hej! …" in 6 of 56 adapter answers) but halves RAG's
    answer-term recall (it also penalises copying from the context), so it stays off by default."""
    max_body_bytes: int = Field(25_000_000, ge=1024)
    rate_limit_per_minute: int = Field(600, ge=1)
    """Requests per minute per caller when no API keys are configured (per client address)."""
    max_top_k: int = Field(20, ge=1, le=50)
    max_messages: int = Field(32, ge=1)
    default_adapter: str | None = None
    """Adapter used by ``ft``/``hybrid`` requests that name none; default: the first one allowed."""
    style_instruction: str | None = None
    """Optional brand-voice instruction added to ``rag`` prompts (a request's ``style`` wins)."""
    refusal_text: str = (
        "I don't know. The documents I can search do not cover this question, so I would rather not guess."
    )
    """The answer given without calling the engine when retrieval finds nothing relevant."""
    admission: AdmissionSettings = Field(default_factory=AdmissionSettings)
    sse_keepalive_s: float = Field(10.0, gt=0)
    """Seconds without an event after which a stream sends an SSE comment (``: keep-alive``), e.g.
    while it waits for a generation slot or an engine start."""
    loops: LoopSettings = Field(default_factory=LoopSettings)
    """Stopping answers that loop ("The answer is no. The answer is no. …")."""
    mask_output_pii: bool = False
    """Mask personal data in answers of the local (no-key) user; API-key tenants set it per tenant."""
    auth_failures_per_minute: int = Field(20, ge=1)
    """Failed API-key attempts per client address per minute; beyond them every request from that
    address gets 429 (with Retry-After) until the minute's window has room again."""
    metrics_host: str = "127.0.0.1"
    """Bind address of the separate metrics listener (``metrics_port``)."""
    metrics_port: int | None = Field(None, ge=1, le=65535)
    """Serve ``/metrics`` without a key on this port (for Prometheus inside the cluster); the main
    port's ``/metrics`` needs the ``admin`` role either way. None: no separate listener."""
    keep_exchanges: bool = False
    """Keep the exchanges of the local (no-key) user's rated requests (``TenantSettings.keep_exchanges``)."""
    unrated_exchange_hours: float = Field(24.0, gt=0)
    """A kept exchange that got no feedback within this many hours is deleted."""
    tls_cert: Path | None = None
    """PEM certificate (chain) to serve HTTPS with (``ragtune serve --tls-cert``); needs ``tls_key``."""
    tls_key: Path | None = None
    """PEM private key of ``tls_cert`` (``ragtune serve --tls-key``)."""

    @field_validator("api_keys", mode="before")
    @classmethod
    def _hash_plain_keys(cls, value: object) -> object:
        return _hashed_api_keys(value)


class TrainSettings(BaseModel):
    """Brand-voice training: data preparation, LoRA / QLoRA / full fine-tuning and evaluation."""

    method: Literal["lora", "qlora", "full"] = "lora"
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    learning_rate: float = Field(2e-4, gt=0)
    full_learning_rate: float = Field(2e-5, gt=0)
    """Learning rate used instead of ``learning_rate`` for ``--method full``."""
    weight_decay: float = Field(0.0, ge=0)
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    max_grad_norm: float = Field(1.0, gt=0)
    epochs: float = Field(3.0, gt=0)
    max_steps: int | None = Field(None, ge=1)
    batch_size: int = Field(4, ge=1)
    grad_accum: int = Field(1, ge=1)
    max_seq_len: int = Field(512, ge=32)
    eval_fraction: float = Field(0.1, ge=0, lt=1)
    seed: int = 42
    early_stopping_patience: int = Field(2, ge=0)
    """Stop after this many evaluations without a lower eval loss (0 = never stop early)."""
    checkpoint_every: int = Field(20, ge=1)
    """Optimizer steps between resumable checkpoints in RAGTUNE_HOME/runs/NAME/."""
    near_duplicate_threshold: float = Field(0.85, gt=0, le=1)
    """Jaccard similarity of word 3-shingles at or above which two examples count as duplicates."""
    pii_phone_region: str = "SE"
    """Region used to recognise phone numbers written without a country code."""
    style_prompts: int = Field(8, ge=0)
    """Held-out prompts on which the style score is measured (base vs adapter)."""
    style_max_new_tokens: int = Field(128, ge=8)
    sample_epochs: float = Field(1.0, gt=0)
    """Epochs of the bundled demo adapter (``ensure_sample_adapter``; 39 steps at batch 4)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """Where to train: CUDA when a GPU is visible (auto), or forced (``ragtune train --device``)."""
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    """Compute precision: auto = bf16 on GPUs that support it (else fp16), fp32 on the CPU (QLoRA: bf16)."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: less GPU memory for larger models, ≈ 30 % slower."""
    sample_with_context: bool = True
    """Train the demo adapter context-aware (``training.context``) over the indexed sample corpus,
    so it keeps its voice in ``hybrid`` (benchmarks/results/hybrid/report.md). Its examples are
    ≈ 6× longer (528 tokens at the median), so the demo's first training is slower; False trains
    the plain adapter (better in ``ft`` alone)."""


class ImproveSettings(BaseModel):
    """The improvement loop: promotion checks and ``ragtune iterate`` (``services/improve``)."""

    qa_file: Path | None = None
    """The labelled QA set (``benchmarks/qa/sample_qa.jsonl`` format) a version must do at least as
    well on as the promoted one to be promoted; required by ``adapters promote`` and ``iterate``."""
    qa_limit: int | None = Field(None, ge=1)
    """Only the first N items of the QA set (None: all)."""
    mode: Literal["ft", "hybrid"] = "ft"
    """The mode the versions answer the QA set in (hybrid needs the index of the QA set's documents)."""
    max_tokens: int = Field(96, ge=1)
    style_guide: Path | None = None
    """The style guide of the style score (default: the sample brand voice)."""
    tolerance: float = Field(0.0, ge=0, le=1)
    """How far below the promoted version a figure may be and still count as "at least as good"."""
    since_days: float = Field(7.0, gt=0)
    """``ragtune iterate`` without ``--since``: feedback of this many days."""
    min_examples: int = Field(1, ge=1)
    """``ragtune iterate`` trains only when from-feedback yields at least this many examples."""


class Settings(BaseSettings):
    """Everything ragtune can be told. See the module docstring for the sources."""

    model_config = SettingsConfigDict(
        env_prefix="RAGTUNE_",
        env_nested_delimiter="__",
        extra="ignore",
        toml_file="ragtune.toml",
    )

    home: Path = Field(default_factory=lambda: Path("~/.cache/ragtune"))
    models: ModelSettings = Field(default_factory=ModelSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    prices: PriceSettings = Field(default_factory=PriceSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    redis_url: str | None = None
    """``RAGTUNE_REDIS_URL`` (``redis://host:6379/0``): rate limits shared by every gateway replica
    through this Redis; unset, each process counts in memory."""
    pii: PiiSettings = Field(default_factory=PiiSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    improve: ImproveSettings = Field(default_factory=ImproveSettings)
    encryption_key: SecretStr | None = None
    """``RAGTUNE_ENCRYPTION_KEY``: encrypt data at rest (``ragtune.crypto``): the document catalog and
    every SQLite database of RAGTUNE_HOME through SQLCipher, FAISS files and prepared training data
    through AES-GCM. At least 32 characters (``ragtune store keygen``). Unset: stored in clear."""
    encryption_key_file: Path | None = None
    """``RAGTUNE_ENCRYPTION_KEY_FILE``: a file holding the key instead (e.g. a mounted Secret)."""

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = os.environ.get("RAGTUNE_CONFIG", "ragtune.toml")
        toml = TomlConfigSettingsSource(settings_cls, toml_file=toml_path)
        return (init_settings, env_settings, toml, file_secret_settings)

    # --- the folders under RAGTUNE_HOME -------------------------------------------------
    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    adapters_path: Path | None = None
    """The shared adapters folder; default RAGTUNE_HOME/adapters (``ragtune train --tenant`` points
    it at the tenant's own folder)."""

    @property
    def adapters_dir(self) -> Path:
        return self.adapters_path or self.home / "adapters"

    @property
    def tenants_dir(self) -> Path:
        """The folder of the tenants' own files (``<tenant>/adapters/``)."""
        return (self.gateway.tenants_dir or self.home / "tenants").expanduser().resolve()

    def tenant_adapters_dir(self, tenant: str) -> Path:
        """Where tenant ``tenant``'s own adapters live (only it, and admins, register from there)."""
        return self.tenants_dir / check_name(tenant, "tenant name") / "adapters"

    @property
    def keys_file(self) -> Path:
        """The API keys of ``ragtune keys create`` (hashes only, mode 0600)."""
        return self.home / "keys.json"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    def ensure_dirs(self) -> None:
        """Create the home folder and its sub-folders if they are missing."""
        for folder in (self.models_dir, self.index_dir, self.adapters_dir, self.runs_dir):
            folder.mkdir(parents=True, exist_ok=True)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
