"""The in-process engine: transformers + peft, for platforms without vLLM and for evaluation.

The base model is wrapped in a ``PeftModel`` holding every loaded adapter under its name; each
request activates its adapter (or disables adapters for the base model). Generation runs in a
worker thread, one at a time (an asyncio lock), and streams text through a streamer that hands
pieces to the event loop. Token counts are the tokenizer's exact ids: the chat-templated prompt
and the generated ids.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from services.engines.base import (
    AdapterExistsError,
    AdapterInfo,
    AdapterNotFoundError,
    EngineBase,
    EngineError,
    EngineHealth,
    EngineRequestError,
    GenerationRequest,
    GenerationResult,
    StreamDelta,
)
from training import adapter_folder

_END = object()


def _make_streamer(
    tokenizer: Any, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue, cancelled: threading.Event
) -> Any:
    """A transformers streamer that records the first generated token's time and forwards text."""
    from transformers import TextStreamer

    class _LoopStreamer(TextStreamer):
        def __init__(self) -> None:
            super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
            self.first_token_at: float | None = None

        def put(self, value: Any) -> None:
            if not self.next_tokens_are_prompt and self.first_token_at is None:
                self.first_token_at = time.perf_counter()
            super().put(value)

        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            if text:
                loop.call_soon_threadsafe(queue.put_nowait, text)

    return _LoopStreamer()


class LocalEngine(EngineBase):
    """Engine protocol over transformers + peft in this process (see module docstring)."""

    kind = "local"

    def __init__(
        self,
        *,
        model_dir: Path,
        served_model_name: str,
        adapters: dict[str, Path] | None = None,
        dtype: str = "float32",
        max_model_len: int = 4096,
    ) -> None:
        self.base_model = served_model_name
        self.model_dir = Path(model_dir)
        self.dtype = dtype
        self.max_model_len = max_model_len
        self._initial_adapters = dict(adapters or {})
        self._adapters: dict[str, AdapterInfo] = {}
        self._model: Any = None
        self._full_models: dict[str, Any] = {}
        """Fully fine-tuned models (``--method full``) served beside the base, by adapter name."""
        self._tokenizer: Any = None
        self._lock = asyncio.Lock()
        self.start_seconds: float | None = None

    # --- lifecycle ----------------------------------------------------------------------------
    def _load(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoTokenizer

        if not (self.model_dir / "config.json").is_file():
            raise EngineError(f"cannot start the local engine: {self.model_dir} holds no model")
        self._tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        if self._tokenizer.chat_template is None:
            raise EngineError(f"the tokenizer in {self.model_dir} has no chat template")
        self._model = self._load_model(self.model_dir)

    def _load_model(self, folder: Path) -> Any:
        import torch
        from transformers import AutoModelForCausalLM

        dtype = getattr(torch, self.dtype) if self.dtype != "auto" else "auto"
        return AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).eval()

    async def start(self) -> None:
        if self._model is not None:
            return
        started = time.perf_counter()
        await asyncio.to_thread(self._load)
        for name, path in self._initial_adapters.items():
            await self.load_adapter(name, path)
        self.start_seconds = time.perf_counter() - started

    async def stop(self) -> None:
        async with self._lock:
            self._model = None
            self._tokenizer = None
            self._full_models.clear()
            self._adapters.clear()

    async def health(self) -> EngineHealth:
        ready = self._model is not None
        return EngineHealth(
            kind=self.kind,
            ready=ready,
            base_model=self.base_model,
            adapters=sorted(self._adapters),
            detail=None if ready else "not started",
        )

    @property
    def tokenizer(self) -> Any:
        """The loaded tokenizer (after ``start``)."""
        return self._tokenizer

    # --- adapters -----------------------------------------------------------------------------
    def _load_adapter_sync(self, name: str, path: Path) -> None:
        from peft import PeftModel

        if adapter_folder.is_full_model(path):
            self._full_models[name] = self._load_model(path)
            return
        if isinstance(self._model, PeftModel):
            self._model.load_adapter(str(path), adapter_name=name)
        else:
            self._model = PeftModel.from_pretrained(self._model, str(path), adapter_name=name)
        self._model.eval()

    async def load_adapter(self, name: str, path: Path) -> None:
        if self._model is None:
            raise EngineError("the local engine is not started")
        if name == self.base_model or name in self._adapters:
            raise AdapterExistsError(f"adapter '{name}' is already loaded; unload it first")
        path = adapter_folder.require(path, AdapterNotFoundError)
        async with self._lock:
            try:
                await asyncio.to_thread(self._load_adapter_sync, name, path)
            except (ValueError, KeyError, RuntimeError, OSError) as exc:
                raise EngineRequestError(f"could not load adapter '{name}' from {path}: {exc}") from None
        self._adapters[name] = AdapterInfo(
            name=name, path=str(path), strategy="full" if name in self._full_models else "unmerged"
        )

    def _unload_adapter_sync(self, name: str) -> None:
        if self._full_models.pop(name, None) is not None:
            return
        if len(self._adapters) - len(self._full_models) == 1:
            # peft keeps at least one adapter: drop the LoRA layers and return to the plain model.
            self._model = self._model.unload()
        else:
            self._model.delete_adapter(name)

    async def unload_adapter(self, name: str) -> None:
        if name not in self._adapters:
            raise AdapterNotFoundError(f"adapter '{name}' is not loaded")
        async with self._lock:
            await asyncio.to_thread(self._unload_adapter_sync, name)
            del self._adapters[name]

    def adapters(self) -> list[AdapterInfo]:
        return sorted(self._adapters.values(), key=lambda a: a.name)

    # --- generation ---------------------------------------------------------------------------
    def prompt_ids(self, request: GenerationRequest) -> list[int]:
        """The chat-templated prompt as token ids (what the model reads)."""
        messages = [m.model_dump() for m in request.messages]
        encoded = self._tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True
        )
        return list(encoded["input_ids"])

    def _generation_kwargs(self, request: GenerationRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "max_new_tokens": request.max_tokens,
            "pad_token_id": self._tokenizer.pad_token_id
            if self._tokenizer.pad_token_id is not None
            else self._tokenizer.eos_token_id,
        }
        if request.temperature > 0:
            kwargs.update(do_sample=True, temperature=request.temperature, top_p=request.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if request.stop:
            kwargs.update(stop_strings=request.stop, tokenizer=self._tokenizer)
        if request.ignore_eos:
            kwargs["min_new_tokens"] = request.max_tokens
        if request.repetition_penalty != 1.0:
            kwargs["repetition_penalty"] = request.repetition_penalty
        return kwargs

    def _run(
        self,
        request: GenerationRequest,
        prompt: list[int],
        streamer: Any,
        cancelled: threading.Event,
        outcome: dict[str, Any],
    ) -> None:
        """Worker thread: select the adapter and generate; stores ids or the error in ``outcome``."""
        import contextlib

        import torch
        from peft import PeftModel
        from transformers import StoppingCriteria, StoppingCriteriaList

        class _Cancel(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
                return cancelled.is_set()

        try:
            if request.seed is not None:
                torch.manual_seed(request.seed)
            model = self._model
            if request.adapter in self._full_models:
                model = self._full_models[request.adapter]
                context: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
            elif isinstance(model, PeftModel):
                if request.adapter is None:
                    context = model.disable_adapter()
                else:
                    model.set_adapter(request.adapter)
                    context = contextlib.nullcontext()
            else:
                context = contextlib.nullcontext()
            with context, torch.inference_mode():
                output = model.generate(
                    input_ids=torch.tensor([prompt]),
                    attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                    streamer=streamer,
                    stopping_criteria=StoppingCriteriaList([_Cancel()]),
                    **self._generation_kwargs(request),
                )
            outcome["ids"] = output[0, len(prompt) :].tolist()
        except Exception as exc:  # noqa: BLE001 - reported to the caller as an EngineError
            outcome["error"] = exc
        finally:
            streamer.loop_done()

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta | GenerationResult]:
        if self._model is None:
            raise EngineError("the local engine is not started")
        if request.options or request.uses_tools:
            named = ", ".join(sorted(request.options)) or "tools"
            raise EngineRequestError(f"the local (transformers) engine cannot honour {named}; serve with vLLM")
        if request.adapter is not None and request.adapter != self.base_model:
            if request.adapter not in self._adapters:
                known = ", ".join(sorted(self._adapters)) or "none"
                raise AdapterNotFoundError(f"unknown adapter '{request.adapter}' (loaded: {known})")
        else:
            request = request.model_copy(update={"adapter": None})
        async with self._lock:
            started = time.perf_counter()
            prompt = self.prompt_ids(request)
            if len(prompt) + request.max_tokens > self.max_model_len:
                raise EngineRequestError(
                    f"the prompt ({len(prompt)} tokens) plus max_tokens ({request.max_tokens}) exceeds "
                    f"the model's context of {self.max_model_len} tokens"
                )
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue = asyncio.Queue()
            cancelled = threading.Event()
            streamer = _make_streamer(self._tokenizer, loop, queue, cancelled)
            streamer.loop_done = lambda: loop.call_soon_threadsafe(queue.put_nowait, _END)
            outcome: dict[str, Any] = {}
            worker = threading.Thread(
                target=self._run,
                args=(request, prompt, streamer, cancelled, outcome),
                name="ragtune-local-generate",
                daemon=True,
            )
            worker.start()
            pieces: list[str] = []
            try:
                while (item := await queue.get()) is not _END:
                    pieces.append(item)
                    yield StreamDelta(text=item)
            finally:
                cancelled.set()
                await asyncio.to_thread(worker.join)
            finished = time.perf_counter()
        if "error" in outcome:
            raise EngineError(f"local generation failed: {outcome['error']}")
        ids = outcome["ids"]  # batch of one: no padding; a final end-of-sequence id counts, as in vLLM
        eos = {self._tokenizer.eos_token_id, self._tokenizer.pad_token_id} - {None}
        first = streamer.first_token_at or finished
        text = self._tokenizer.decode(ids, skip_special_tokens=True)
        finish = "stop" if (ids and ids[-1] in eos) or len(ids) < request.max_tokens else "length"
        streamed = "".join(pieces)
        if text.startswith(streamed) and len(text) > len(streamed):
            yield StreamDelta(text=text[len(streamed) :])
        yield GenerationResult(
            text=text,
            prompt_tokens=len(prompt),
            completion_tokens=len(ids),
            finish_reason=finish,
            ttft_ms=(first - started) * 1000.0,
            total_ms=(finished - started) * 1000.0,
        )
