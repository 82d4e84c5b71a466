"""CLI commands of `training` (registered on the `ragtune` root app).

``ragtune data prep IN OUT`` · ``ragtune train --data FILE --name NAME`` ·
``ragtune adapters list`` · ``ragtune adapters merge NAME``. Heavy libraries load inside commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from training.context import ContextOptions

data_app = typer.Typer(
    help="Prepare brand-voice training data (validate, dedup, mask PII, split).", no_args_is_help=True
)
adapters_app = typer.Typer(help="List, merge and audit trained adapters.", no_args_is_help=True)


def _print_report(report) -> None:
    from rich.table import Table

    from ragtune.console import console

    table = Table(title=f"data prep: {report.source}", show_header=False)
    table.add_row("records read", str(report.input_records))
    table.add_row("kept", f"{report.kept} ({report.train} train / {report.eval} eval)")
    for reason, count in sorted(report.dropped.items()):
        table.add_row(f"dropped: {reason}", str(count))
    table.add_row("encoding repaired", str(report.encoding_fixed))
    pii = ", ".join(f"{kind} {count}" for kind, count in report.pii_found.items()) or "none"
    table.add_row("PII masked", pii)
    if report.tokens:
        t = report.tokens
        table.add_row(
            "tokens per example",
            f"min {t.min} · p50 {t.p50} · p90 {t.p90} · p95 {t.p95} · max {t.max} · mean {t.mean} ({t.tokenizer})",
        )
        table.add_row(f"over max_seq_len {t.max_seq_len}", str(t.over_max_seq_len))
    table.add_row("data sha256", report.data_sha256[:16] + "…")
    console.print(table)
    for issue in report.issues[:20]:
        console.print(f"  line {issue.line}: {issue.reason}")
    if len(report.issues) > 20:
        console.print(f"  … {len(report.issues) - 20} more in the report file")


def data_prep(
    source: Path = typer.Argument(
        ..., help="Chat examples: .jsonl/.json (messages, ShareGPT, Alpaca, prompt/completion) or .csv (two columns)."
    ),
    out: Path = typer.Argument(..., help="Output JSONL in ragtune's normal form (report written beside it)."),
    eval_fraction: float = typer.Option(None, help="Share held out for evaluation (default: settings)."),
    seed: int = typer.Option(None, help="Seed of the deterministic split (default: settings)."),
    strict: bool = typer.Option(False, help="Fail on any invalid record instead of dropping it."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON on stdout."),
    canaries: int = typer.Option(
        0,
        "--canaries",
        help="Insert N random canaries into the train split for the "
        "memorization audit (recorded in OUT-stem.canaries.json).",
    ),
    canary_repeats: int = typer.Option(1, "--canary-repeats", help="Copies of each canary."),
) -> None:
    """Validate, clean, de-duplicate, mask PII and split chat examples into one normal form."""
    from ragtune import models as model_store
    from ragtune.console import console
    from ragtune.settings import get_settings
    from training.prep import prepare, write_prepared

    settings = get_settings()
    hp = settings.train
    if eval_fraction is not None and not 0 <= eval_fraction < 1:
        raise typer.BadParameter("--eval-fraction must be in [0, 1)")
    tokenizer = None
    try:
        from training.modeling import load_tokenizer

        tokenizer = load_tokenizer(model_store.resolve(settings.models.generator, settings.models_dir))
    except model_store.ModelNotFoundError as err:
        console.print(f"[yellow]no token statistics:[/] {err}")
    prepared = prepare(
        source,
        eval_fraction=hp.eval_fraction if eval_fraction is None else eval_fraction,
        seed=hp.seed if seed is None else seed,
        near_duplicate_threshold=hp.near_duplicate_threshold,
        phone_region=hp.pii_phone_region,
        pii=settings.pii,
        strict=strict,
        tokenizer=tokenizer,
        tokenizer_name=settings.models.generator,
        max_seq_len=hp.max_seq_len,
    )
    # privacy (issue 17): canaries for the memorization audit
    from training.audit_cli import insert_canaries, write_recorded

    prepared, inserted = insert_canaries(prepared, out, canaries, canary_repeats, None)
    from ragtune.crypto import load_key

    report_path = write_prepared(prepared, out, load_key(settings))
    if (canary_file := write_recorded(out, inserted)) is not None:
        console.print(f"{len(inserted)} canaries × {canary_repeats} inserted; recorded in {canary_file}")
    if as_json:
        print(prepared.report.model_dump_json(indent=2))
    else:
        _print_report(prepared.report)
    console.print(f"[green]✓[/] {prepared.report.kept} examples → {out}  (report: {report_path})")


def _process_count(value: str) -> int:
    """``--processes``: a positive number, or ``auto`` = one per visible GPU (1 without a GPU)."""
    if value.strip().lower() == "auto":
        from training.hardware import probe_capabilities

        return max(1, probe_capabilities().cuda_devices)
    try:
        count = int(value)
    except ValueError:
        raise typer.BadParameter("--processes must be a positive number or 'auto'") from None
    if count < 1:
        raise typer.BadParameter("--processes must be at least 1")
    return count


def launch_command(
    processes: int, device: str, accelerate_config: Path | None, cli_args: list[str], port: int | None = None
) -> list[str]:
    """The ``accelerate launch`` command that runs ``ragtune <cli_args>`` in ``processes`` processes.

    On the CPU (``--device cpu``, or no GPU) the processes form a gloo group (torch distributed's
    launcher through accelerate's multi-process path); an accelerate config file (FSDP, DeepSpeed)
    is passed through and decides the rest.
    """
    import sys

    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        str(processes),
        "--num_machines",
        "1",
        "--dynamo_backend",
        "no",
    ]
    if accelerate_config is not None:
        command += ["--config_file", str(accelerate_config)]
    else:
        command += ["--multi_gpu", "--mixed_precision", "no"]
    if port is not None:
        command += ["--main_process_port", str(port)]
    return command + ["-m", "ragtune.cli", *cli_args]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _launch(processes: int, device: str, accelerate_config: Path | None) -> None:
    """Re-run this ``ragtune train`` command under ``accelerate launch`` and exit with its status."""
    import os
    import subprocess
    import sys

    if accelerate_config is not None and not accelerate_config.is_file():
        raise typer.BadParameter(f"--accelerate-config: no such file {accelerate_config}")
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    from training.hardware import probe_capabilities

    if device == "cpu" or (device != "cuda" and probe_capabilities().cuda_devices == 0):
        env["CUDA_VISIBLE_DEVICES"] = ""  # a gloo group of CPU processes
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // processes)))
    command = launch_command(processes, device, accelerate_config, sys.argv[1:], port=_free_port())
    code = subprocess.run(command, env=env, check=False).returncode
    raise typer.Exit(code)


def train(
    data: Path = typer.Option(..., "--data", help="Training examples (raw or prepared; prepared on the fly)."),
    name: str = typer.Option(..., "--name", help="Adapter name (folder under RAGTUNE_HOME/adapters)."),
    method: str = typer.Option(None, help="lora | qlora (4-bit base, bitsandbytes) | full (default: settings)."),
    epochs: float = typer.Option(None, help="Epochs to train (default: settings)."),
    max_steps: int = typer.Option(None, help="Optimizer steps to train (instead of --epochs)."),
    style_guide: Path = typer.Option(None, help="Style guide JSON/TOML to score base vs adapter."),
    resume: bool = typer.Option(False, help="Continue an interrupted run of this NAME from its checkpoint."),
    overwrite: bool = typer.Option(
        False, help="Replace an existing adapter of this NAME (all its versions); default: train its next version."
    ),
    device: str = typer.Option(None, help="auto | cpu | cuda (default: settings train.device = auto)."),
    precision: str = typer.Option(None, help="auto | fp32 | bf16 | fp16 (default: settings train.precision)."),
    processes: str = typer.Option(
        "1", help="Data-parallel processes: N, or auto = one per visible GPU. Runs accelerate launch (gloo on the CPU)."
    ),
    accelerate_config: Path = typer.Option(
        None, help="accelerate config file (FSDP, DeepSpeed ZeRO; see deploy/accelerate/) for the launch."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the adapter card as JSON on stdout."),
    tenant: str = typer.Option(
        None, "--tenant", help="Write the adapter to this tenant's own folder (RAGTUNE_HOME/tenants/TENANT/adapters)."
    ),
    with_context: bool = typer.Option(
        False,
        "--with-context",
        help="Context-aware: train on the gateway's hybrid prompt (retrieved chunks of the company index "
        "before each question, the supporting one cited; training/context.py).",
    ),
    index_namespace: str = typer.Option(
        None, "--index", help="Index namespace the context comes from (with --with-context; default: default)."
    ),
    context_k: int = typer.Option(
        None, "--context-k", help="Chunks per example: the supporting one and distractors (default: index.top_k)."
    ),
    refusal_share: float = typer.Option(
        None,
        "--refusal-share",
        help="Share of examples given only distractors, whose target is the refusal (default: 0.2).",
    ),
) -> None:
    """Train a brand-voice adapter (LoRA SFT on assistant tokens) and write its card."""
    import os

    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from ragtune.console import console
    from ragtune.settings import get_settings
    from training.pipeline import TrainRequest, process_rank

    if max_steps is not None and max_steps < 1:
        raise typer.BadParameter("--max-steps must be at least 1")
    if epochs is not None and epochs <= 0:
        raise typer.BadParameter("--epochs must be positive")
    if device is not None and device not in ("auto", "cpu", "cuda"):
        raise typer.BadParameter("--device must be auto, cpu or cuda")
    if precision is not None and precision not in ("auto", "fp32", "bf16", "fp16"):
        raise typer.BadParameter("--precision must be auto, fp32, bf16 or fp16")
    count = _process_count(processes)
    inside_launch = "LOCAL_RANK" in os.environ
    settings = get_settings()
    if tenant is not None:  # only the output folder changes: the tenant's own adapters folder
        settings = settings.model_copy(update={"adapters_path": settings.tenant_adapters_dir(tenant)})
    context = _context_options(settings, with_context, index_namespace, context_k, refusal_share)
    settings.ensure_dirs()
    request = TrainRequest(
        data=data,
        name=name,
        method=method,
        epochs=epochs,
        max_steps=max_steps,
        style_guide=style_guide,
        resume=resume,
        overwrite=overwrite,
        device=device,
        precision=precision,
        new_version=True,
    )
    if not inside_launch and (count > 1 or accelerate_config is not None):
        from training.pipeline import check_request

        check_request(request, settings)  # bad input: one clear error here, not one per process
        _launch(count, device or settings.train.device, accelerate_config)
    rank, _world = process_rank()
    try:
        if rank != 0:  # the other processes train quietly; rank 0 reports
            _train(request, settings, context)
            return
        columns = (
            TextColumn("[bold]train {task.fields[name]}"),
            BarColumn(),
            TextColumn("step {task.completed:.0f}/{task.fields[steps]}"),
            TextColumn("loss {task.fields[loss]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("train", total=None, name=name, loss="-", steps="?")

            def progress(step: int, total: int, loss: float | None) -> None:
                bar.update(
                    task, completed=step, total=total, steps=total, loss=f"{loss:.4f}" if loss is not None else "-"
                )

            card = _train(request, settings, context, progress=progress, status=lambda m: bar.console.print(f"· {m}"))
    finally:
        _leave_process_group()
    if as_json:
        print(card.model_dump_json(indent=2))
        return
    version = f"@{card.version}" if card.version else ""
    console.print(f"[green]✓[/] adapter '{card.name}{version}' → {card.path}")
    if card.parent:
        console.print(
            f"  not promoted yet: `ragtune adapters promote {card.name}@{card.version}` (checked against "
            f"{card.parent} on the QA set) or `ragtune iterate`"
        )
    console.print(
        f"  eval loss {card.eval_loss_before} → {card.eval_loss_after}; style score "
        f"{card.style_score_before} → {card.style_score_after}; {card.train_seconds:.0f} s, "
        f"${card.train_cost_usd:.5f}; {card.device}, {card.precision}, {card.processes} process(es), "
        f"peak memory {card.peak_memory_mb} MiB"
    )


def _context_options(
    settings, with_context: bool, namespace: str | None, k: int | None, refusal_share: float | None
) -> tuple[str, ContextOptions] | None:
    """(namespace, ContextOptions) for ``--with-context``, None without it; bad values are one-line errors."""
    if not with_context:
        flags = (("--index", namespace), ("--context-k", k), ("--refusal-share", refusal_share))
        given = [flag for flag, value in flags if value is not None]
        if given:
            raise typer.BadParameter(f"{', '.join(given)} only apply with --with-context")
        return None
    from ragtune.names import NAME_RULE, is_valid_name
    from training.context import ContextOptions

    namespace = "default" if namespace is None else namespace
    if not is_valid_name(namespace):
        raise typer.BadParameter(f"--index: invalid namespace {namespace!r}: use {NAME_RULE}")
    if k is not None and not 1 <= k <= 50:
        raise typer.BadParameter("--context-k must be between 1 and 50")
    if refusal_share is not None and not 0.0 <= refusal_share <= 1.0:
        raise typer.BadParameter("--refusal-share must be between 0 and 1")
    options = ContextOptions(
        k=k or settings.index.top_k,
        refusal_text=settings.gateway.refusal_text,
        **({"refusal_share": refusal_share} if refusal_share is not None else {}),
    )
    return namespace, options


def _train(request, settings, context: tuple[str, ContextOptions] | None, **hooks):
    """Train ``request`` (context-aware when ``context`` is given) and return its card."""
    from training.pipeline import train_adapter

    if context is None:
        return train_adapter(request, settings, **hooks)
    from training.adapter_folder import read_card
    from training.context import train_with_context

    namespace, options = context
    return read_card(train_with_context(request, settings, namespace=namespace, options=options, **hooks))


def _leave_process_group() -> None:
    """Close the process group of an ``accelerate launch`` run, so every rank exits cleanly."""
    import sys

    if "torch.distributed" not in sys.modules:
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def adapters_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List trained adapters and their versions (the promoted one marked *), base model, data hash and scores."""
    from ragtune.settings import get_settings
    from training.versions import adapter_rows

    rows = adapter_rows(get_settings().adapters_dir)
    if as_json:
        listed = []
        for row in rows:  # the promoted version's card, as before versions, plus every version
            promoted = next((v.card for v in row.versions if v.version == row.promoted and v.card), None)
            card = promoted.model_dump(mode="json") if promoted else {"name": row.name}
            listed.append({**card, **row.model_dump(mode="json")})
        print(json.dumps({"adapters": listed}, indent=2))
        return
    if not rows:
        print("no adapters (train one with `ragtune train --data FILE --name NAME`)")
        return
    print(f"{'name':28} {'method':6} {'base model':24} {'data':10} {'eval loss':>15} {'style':>13}  created")
    for row in rows:
        for entry in row.versions:
            c = entry.card
            mark = "*" if entry.version == row.promoted else " "
            label = f"{row.name}@{entry.version}{mark}"
            if c is None:
                print(f"{label:28} (card unreadable)")
                continue
            loss = f"{_num(c.eval_loss_before)}→{_num(c.eval_loss_after)}"
            style = f"{_num(c.style_score_before, 2)}→{_num(c.style_score_after, 2)}"
            print(
                f"{label:28} {c.method:6} {c.base_model:24} {c.data_sha256[:10]:10} {loss:>15} {style:>13}  "
                f"{c.created.isoformat(timespec='minutes')}"
            )
    print("* promoted: served under the plain name; NAME@VERSION reaches any version")


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def adapters_merge(
    name: str = typer.Argument(..., help="Adapter to merge into the base model (NAME, or NAME@VERSION)."),
    out: Path = typer.Option(None, help="Output folder (default: RAGTUNE_HOME/merged/NAME)."),
) -> None:
    """Merge an adapter into its base model (merge_and_unload) as a full model folder for single-brand serving."""
    from ragtune import models as model_store
    from ragtune.console import console
    from ragtune.errors import NotFoundError
    from ragtune.settings import get_settings
    from training import versions
    from training.adapter_folder import merge as merge_adapter
    from training.adapter_folder import read_card
    from training.adapters import validate_name

    settings = get_settings()
    base_name, version = versions.split_ref(name)  # NAME (its promoted version) or NAME@VERSION
    folder = settings.adapters_dir / validate_name(base_name)
    if not folder.is_dir():
        raise NotFoundError(f"no adapter '{name}' in {settings.adapters_dir} (see `ragtune adapters list`)")
    adapter_dir = versions.serving(folder, version)[1]
    card = read_card(adapter_dir)
    base_dir = model_store.resolve(card.base_model, settings.models_dir)
    target = out or settings.home / "merged" / name.replace("@", "-")
    with console.status(f"merging {name} into {card.base_model}"):
        path = merge_adapter(base_dir, adapter_dir, target)
    console.print(
        f"[green]✓[/] merged model → {path}  (serve it as a plain model, e.g. RAGTUNE_MODELS__GENERATOR={path})"
    )


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root CLI."""
    data_app.command("prep")(data_prep)
    adapters_app.command("list")(adapters_list)
    adapters_app.command("merge")(adapters_merge)
    from training.audit_cli import register as register_audit  # privacy (issue 17)

    register_audit(adapters_app)
    app.add_typer(data_app, name="data")
    app.add_typer(adapters_app, name="adapters")
    app.command("train")(train)
