"""The vLLM engine: vLLM's OpenAI-compatible server, owned (child process) or external (URL).

Requests go to ``/v1/chat/completions`` with the adapter name as ``model`` and
``stream_options.include_usage`` so the token counts are the server's exact ones; time to first
token is taken at the first content delta. Adapters are loaded and unloaded at run time through
``/v1/load_lora_adapter`` and ``/v1/unload_lora_adapter``.

Generation streams through aiohttp, the control calls (models, health, adapters) through httpx:
httpx's anyio layer opens a cancel scope around every read, which made the per-token relay the
gateway's largest CPU cost (profiled: ≈ 45 % of the event loop at 8 concurrent requests).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import httpx
from pydantic import BaseModel

from services.engines.base import (
    OPENAI_OPTIONS,
    AdapterExistsError,
    AdapterInfo,
    AdapterNotFoundError,
    ChoiceOutcome,
    EngineBase,
    EngineDescription,
    EngineError,
    EngineHealth,
    EngineRequestError,
    GenerationRequest,
    GenerationResult,
    StreamDelta,
)
from services.engines.vllm_process import VLLMProcess
from training import adapter_folder


def client_context(ca_bundle: Path | None) -> ssl.SSLContext | bool:
    """What the engine's HTTP clients verify an ``https://`` server with: the system's trust store
    (True), or a context trusting the CA certificates in ``ca_bundle`` (``engine.ca_bundle``)."""
    if ca_bundle is None:
        return True
    path = Path(ca_bundle).expanduser()
    if not path.is_file():
        raise EngineError(f"the CA bundle {ca_bundle} (engine.ca_bundle) does not exist or is not a file")
    try:
        return ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, ValueError) as exc:
        raise EngineError(f"the CA bundle {ca_bundle} (engine.ca_bundle) holds no usable certificate ({exc})") from None


class _PromptDetails(BaseModel):
    cached_tokens: int | None = None


class _Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_tokens_details: _PromptDetails | None = None


class _Choices:
    """Streamed choices put together: text, function calls (arguments concatenated per call) and
    logprobs per choice index."""

    def __init__(self) -> None:
        self.by_index: dict[int, ChoiceOutcome] = {}
        self._calls: dict[int, dict[int, dict]] = {}

    def add(
        self, index: int, text: str, calls: list[dict] | None, logprobs: list[dict] | None, finish_reason: str | None
    ) -> None:
        choice = self.by_index.setdefault(index, ChoiceOutcome(index=index))
        choice.text += text
        if finish_reason:
            choice.finish_reason = finish_reason
        if logprobs:
            choice.logprobs = [*(choice.logprobs or []), *logprobs]
        for fragment in calls or []:
            call = self._calls.setdefault(index, {}).setdefault(
                fragment.get("index", 0), {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
            )
            call["id"] = fragment.get("id") or call["id"]
            function = fragment.get("function") or {}
            call["function"]["name"] += function.get("name") or ""
            call["function"]["arguments"] += function.get("arguments") or ""
            choice.tool_calls = list(self._calls[index].values())

    def outcomes(self) -> list[ChoiceOutcome]:
        return [self.by_index[i] for i in sorted(self.by_index)]


def _error_message(response: httpx.Response) -> str:
    """The human message inside a vLLM/OpenAI error body (or the raw text)."""
    return _message_in(response.text, response.status_code)


def _message_in(text: str, status: int) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return text.strip()[:500] or f"HTTP {status}"
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, dict):
        return str(error.get("message") or error)[:500]
    return str(error)[:500]


class VLLMEngine(EngineBase):
    """Engine protocol over one vLLM server (see module docstring)."""

    kind = "vllm"
    passthrough = OPENAI_OPTIONS

    def __init__(
        self,
        *,
        served_model_name: str,
        url: str | None = None,
        process: VLLMProcess | None = None,
        api_key: str | None = None,
        adapters: dict[str, Path] | None = None,
        request_timeout_s: float = 600.0,
        ca_bundle: Path | None = None,
    ) -> None:
        """Either ``process`` (owned child, started by ``start``) or ``url`` (external server).

        ``ca_bundle``: PEM file of the CAs trusted for an ``https://`` url (default: the system's).
        An owned child's key (``process.api_key``) is sent unless ``api_key`` says otherwise.

        ``adapters`` are registered at start: passed on the command line of an owned process
        (the caller builds its config with them) or loaded through the API on an external one.
        """
        if (process is None) == (url is None):
            raise ValueError("give exactly one of process= or url=")
        self.base_model = served_model_name
        self.process = process
        self._url = url.rstrip("/").removesuffix("/v1") if url else None
        self._api_key = api_key if api_key is not None else (process.api_key if process is not None else None)
        self._initial_adapters = dict(adapters or {})
        self._adapters: dict[str, AdapterInfo] = {}
        self._timeout = httpx.Timeout(request_timeout_s, connect=10.0)
        self._client: httpx.AsyncClient | None = None
        self._session: aiohttp.ClientSession | None = None
        self._request_timeout_s = request_timeout_s
        self._verify = client_context(ca_bundle)
        self._ready = False

    # --- plumbing -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.process.url if self.process is not None else str(self._url)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def _http(self) -> httpx.AsyncClient:
        """The client of the control calls."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.url,
                headers=self._headers(),
                timeout=self._timeout,
                limits=httpx.Limits(max_connections=256),
                verify=self._verify,
            )
        return self._client

    def _streams(self) -> aiohttp.ClientSession:
        """The client of the generation streams (created inside the running event loop)."""
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(total=self._request_timeout_s, sock_connect=10.0)
            self._session = aiohttp.ClientSession(
                base_url=self.url,
                headers=self._headers(),
                timeout=timeout,
                connector=aiohttp.TCPConnector(limit=256, ssl=self._verify),
            )
        return self._session

    def _unreachable(self, exc: Exception) -> EngineError:
        if self.process is not None and not self.process.is_running():
            return EngineError(self.process.crash_report())
        return EngineError(f"the vLLM server at {self.url} is unreachable ({type(exc).__name__}: {exc})")

    def _check_model(self, adapter: str | None) -> str:
        if adapter is None or adapter == self.base_model:
            return self.base_model
        if adapter not in self._adapters:
            known = ", ".join(sorted(self._adapters)) or "none"
            raise AdapterNotFoundError(f"unknown adapter '{adapter}' (loaded: {known})")
        return adapter

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        if self.process is not None:
            self.process.launch()
            await self.process.await_ready()
            for name, path in self._initial_adapters.items():
                self._adapters[name] = AdapterInfo(name=name, path=str(path))
        else:
            served = await self._served_models()
            if self.base_model not in served:
                raise EngineError(
                    f"the vLLM server at {self.url} does not serve '{self.base_model}' "
                    f"(it serves: {', '.join(sorted(served)) or 'nothing'})"
                )
            for name, root in served.items():
                if name != self.base_model:
                    self._adapters[name] = AdapterInfo(name=name, path=root)
            for name, path in self._initial_adapters.items():
                if name not in self._adapters:
                    await self.load_adapter(name, path)
        self._ready = True

    async def stop(self) -> None:
        self._ready = False
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self.process is not None:
            await asyncio.to_thread(self.process.stop)  # up to the grace period: keep the loop free

    async def _served_models(self) -> dict[str, str]:
        """Model id -> root (path) of everything the server lists in /v1/models."""
        try:
            response = await self._http().get("/v1/models")
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        if response.status_code != 200:
            raise EngineError(
                f"the vLLM server at {self.url} answered /v1/models with "
                f"{response.status_code}: {_error_message(response)}"
            )
        return {m["id"]: str(m.get("root") or m["id"]) for m in response.json().get("data", [])}

    def alive(self) -> bool:
        return self.process is None or self.process.is_running()

    def describe(self) -> EngineDescription:
        detail = None
        if self.process is not None and self.process.returncode is not None:
            detail = f"exited with status {self.process.returncode} (log: {self.process.log_path})"
        listening = self.process is None or self.process.port is not None
        return EngineDescription(kind=self.kind, url=self.url if listening else None, detail=detail)

    async def health(self) -> EngineHealth:
        detail = None
        ready = False
        if self.process is not None and self.process.port is not None and not self.process.is_running():
            detail = f"the vLLM server exited with status {self.process.returncode}"
        elif self._ready:
            try:
                ready = (await self._http().get("/health", timeout=5.0)).status_code == 200
                detail = None if ready else "the vLLM server is not healthy"
            except httpx.HTTPError as exc:
                detail = f"unreachable: {type(exc).__name__}"
        else:
            detail = "not started"
        return EngineHealth(
            kind=self.kind,
            ready=ready,
            base_model=self.base_model,
            url=self.url if (self.process is None or self.process.port) else None,
            adapters=sorted(self._adapters),
            detail=detail,
        )

    # --- generation ---------------------------------------------------------------------------
    def _payload(self, request: GenerationRequest) -> dict:
        payload: dict = {
            "model": self._check_model(request.adapter),
            "messages": [m.model_dump(exclude_none=True) for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.stop:
            payload["stop"] = request.stop
        if request.seed is not None:
            payload["seed"] = request.seed
        if request.ignore_eos:
            payload["ignore_eos"] = True
        if request.repetition_penalty != 1.0:
            payload["repetition_penalty"] = request.repetition_penalty
        payload.update({k: v for k, v in request.options.items() if k in OPENAI_OPTIONS and v is not None})
        return payload

    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamDelta | GenerationResult]:
        payload = self._payload(request)
        started = time.perf_counter()
        first_token_at: float | None = None
        pieces: list[str] = []
        usage = _Usage()
        finish_reason: str | None = None
        choices = _Choices()
        detailed = bool(request.options)
        try:
            async with self._streams().post("/v1/chat/completions", json=payload) as response:
                if response.status != 200:
                    raise self._request_error(response.status, await response.text(), payload["model"])
                async for line in response.content:  # one SSE line at a time, to the end of the body
                    if not line.startswith(b"data:"):  # so the connection goes back to the pool
                        continue
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        continue
                    chunk = json.loads(data)
                    if chunk.get("usage"):
                        usage = _Usage.model_validate(chunk["usage"])
                    for choice in chunk.get("choices") or []:
                        delta = choice.get("delta") or {}
                        text = delta.get("content") or ""
                        index = choice.get("index", 0)
                        if detailed:
                            calls = delta.get("tool_calls") or None
                            logprobs = (choice.get("logprobs") or {}).get("content") or None
                            choices.add(index, text, calls, logprobs, choice.get("finish_reason"))
                            if text or calls or logprobs:
                                if first_token_at is None:
                                    first_token_at = time.perf_counter()
                                if index == 0:
                                    pieces.append(text)
                                yield StreamDelta(text=text, index=index, tool_calls=calls, logprobs=logprobs)
                            if index == 0 and choice.get("finish_reason"):
                                finish_reason = choice["finish_reason"]
                            continue
                        if choice.get("finish_reason"):
                            finish_reason = choice["finish_reason"]
                        if text:
                            if first_token_at is None:
                                first_token_at = time.perf_counter()
                            pieces.append(text)
                            yield StreamDelta(text=text)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._unreachable(exc) from None
        finished = time.perf_counter()
        first = first_token_at if first_token_at is not None else finished
        details = usage.prompt_tokens_details
        yield GenerationResult(
            text="".join(pieces),
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            finish_reason=finish_reason,
            ttft_ms=(first - started) * 1000.0,
            total_ms=(finished - started) * 1000.0,
            cached_tokens=details.cached_tokens if details else None,
            choices=choices.outcomes(),
        )

    @staticmethod
    def _request_error(status: int, body: str, model: str) -> EngineError:
        message = _message_in(body, status)
        if status == 404:
            return AdapterNotFoundError(f"the vLLM server does not know model '{model}': {message}")
        if 400 <= status < 500:
            return EngineRequestError(f"the vLLM server refused the request: {message}")
        return EngineError(f"the vLLM server failed ({status}): {message}")

    # --- adapters -----------------------------------------------------------------------------
    async def load_adapter(self, name: str, path: Path) -> None:
        if name == self.base_model or name in self._adapters:
            raise AdapterExistsError(f"adapter '{name}' is already loaded; unload it first")
        path = adapter_folder.require(path, AdapterNotFoundError)
        if adapter_folder.is_full_model(path):
            raise EngineRequestError(
                f"'{name}' at {path} is a fully fine-tuned model, not a LoRA adapter: one vLLM server "
                "serves it only as its own model. Use the engine pool (RAGTUNE_ENGINE__ADAPTER_STRATEGY="
                "merged, the default on CPU), which starts an engine for it, or serve it with `vllm serve`"
            )
        try:
            response = await self._http().post(
                "/v1/load_lora_adapter", json={"lora_name": name, "lora_path": str(path.resolve())}
            )
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        if response.status_code != 200:
            message = _error_message(response)
            if "already" in message.lower():
                # another gateway replica, or vLLM's filesystem resolver, loaded it on this server
                # in between: it is served, which is what the caller asked for
                self._adapters[name] = AdapterInfo(name=name, path=str(path))
                return
            if response.status_code == 404:
                raise AdapterNotFoundError(f"vLLM could not load adapter '{name}' from {path}: {message}")
            raise EngineRequestError(f"vLLM could not load adapter '{name}' from {path}: {message}")
        self._adapters[name] = AdapterInfo(name=name, path=str(path))

    async def unload_adapter(self, name: str) -> None:
        if name not in self._adapters:
            raise AdapterNotFoundError(f"adapter '{name}' is not loaded")
        try:
            response = await self._http().post("/v1/unload_lora_adapter", json={"lora_name": name})
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        if response.status_code != 200 and response.status_code != 404:
            raise EngineError(f"vLLM could not unload adapter '{name}': {_error_message(response)}")
        del self._adapters[name]

    def adapters(self) -> list[AdapterInfo]:
        return sorted(self._adapters.values(), key=lambda a: a.name)
