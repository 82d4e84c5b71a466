"""Token accounting, cost model, rate limit and tenants (no model)."""

from __future__ import annotations

import pytest

from ragtune.settings import GatewaySettings, PriceSettings, TenantSettings
from services.gateway.accounting import SELF_HOSTED, TokenCounter, compute_cost, make_usage
from services.gateway.errors import AuthError, ForbiddenError, RateLimitError
from services.gateway.ratelimit import RateLimiter
from services.gateway.tenants import authenticate, bearer_token, check_bind_address, is_loopback

pytestmark = pytest.mark.unit


class WordTokenizer:
    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return list(range(len(text.split())))


def test_token_counter_and_usage() -> None:
    counter = TokenCounter(WordTokenizer())
    assert counter.count("") == 0 and counter.count("three little words") == 3
    usage = make_usage(question_tokens=3, context_tokens=10, prompt_tokens=40, completion_tokens=7)
    assert usage.total_tokens == 47


def test_configured_price_wins_adapter_first() -> None:
    prices = PriceSettings(per_model={"voice": (1.0, 2.0), "base": (10.0, 20.0)})
    cost = compute_cost(
        prices,
        model_names=["voice", "base"],
        prompt_tokens=1_000_000,
        completion_tokens=500_000,
        prefill_ms=5,
        decode_ms=5,
    )
    assert cost.price_source == "per_model:voice"
    assert (cost.input_usd, cost.output_usd, cost.usd) == pytest.approx((1.0, 1.0, 2.0))
    base_cost = compute_cost(
        prices, model_names=["other", "base"], prompt_tokens=1000, completion_tokens=0, prefill_ms=0, decode_ms=0
    )
    assert base_cost.price_source == "per_model:base" and base_cost.usd == pytest.approx(0.01)


def test_self_hosted_cost_is_engine_seconds_times_hourly_rate() -> None:
    cost = compute_cost(
        PriceSettings(usd_per_hour=3.6),
        model_names=["base"],
        prompt_tokens=10,
        completion_tokens=10,
        prefill_ms=1000,
        decode_ms=2000,
    )
    assert cost.price_source == SELF_HOSTED
    assert (cost.input_usd, cost.output_usd, cost.usd) == pytest.approx((0.001, 0.002, 0.003))


def test_rate_limiter_sliding_window() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    for _ in range(3):
        limiter.check("a", 3)
    with pytest.raises(RateLimitError) as err:
        limiter.check("a", 3)
    assert err.value.status_code == 429 and 0 < err.value.retry_after_s <= 60
    limiter.check("b", 3)  # other keys are independent
    now[0] = 60.5
    limiter.check("a", 3)
    assert limiter.remaining("a", 3) == 2


def test_tenants_from_keys() -> None:
    settings = GatewaySettings(
        api_keys={
            "key-a": TenantSettings(name="a", namespace="ns-a", adapters=["voice-a"]),
            "key-b": TenantSettings(name="b", namespace="ns-b"),
        }
    )
    tenant = authenticate(settings, "Bearer key-a", "10.0.0.5")
    assert tenant.name == "a" and tenant.restricted
    assert tenant.namespace_for(None) == "ns-a" and tenant.namespace_for("ns-a") == "ns-a"
    with pytest.raises(ForbiddenError):
        tenant.namespace_for("ns-b")
    assert tenant.may_use_adapter("voice-a") and not tenant.may_use_adapter("voice-b")
    with pytest.raises(ForbiddenError):
        tenant.check_adapter("voice-b")
    assert authenticate(settings, "bearer key-b", None).may_use_adapter("anything")
    for header in (None, "", "Basic key-a", "Bearer nope"):
        with pytest.raises(AuthError):
            authenticate(settings, header, "127.0.0.1")


def test_no_keys_means_loopback_only() -> None:
    settings = GatewaySettings()
    tenant = authenticate(settings, None, "127.0.0.1")
    assert not tenant.restricted and tenant.namespace_for("other") == "other"
    assert authenticate(settings, None, "::1").name == "local"
    with pytest.raises(ForbiddenError):
        authenticate(settings, None, "192.168.1.9")
    check_bind_address(settings, "127.0.0.1")
    for host in ("0.0.0.0", "192.168.1.9", "::"):
        with pytest.raises(ForbiddenError):
            check_bind_address(settings, host)
    check_bind_address(GatewaySettings(api_keys={"k": TenantSettings(name="t")}), "0.0.0.0")
    assert is_loopback("localhost") and not is_loopback("example.com")
    assert bearer_token("Bearer  abc ") == "abc" and bearer_token("Bearer") is None


def test_engine_time_shares_add_up_to_the_busy_time() -> None:
    from services.gateway.engine_time import EngineTimeLedger

    now = [0.0]
    ledger = EngineTimeLedger(clock=lambda: now[0])
    a = ledger.start()  # t=0: A alone
    now[0] = 1.0
    b = ledger.start()  # t=1: A and B share
    now[0] = 3.0
    share_a = ledger.stop(a)  # A: 1 s alone + 2 s / 2 = 2 s of its 3 s
    now[0] = 4.0
    share_b = ledger.stop(b)  # B: 2 s / 2 + 1 s alone = 2 s of its 3 s
    assert (share_a.share_ms, share_a.wall_ms, share_b.share_ms) == (2000.0, 3000.0, 2000.0)
    assert share_a.share_ms + share_b.share_ms == 4000.0  # the 4 s the engine was busy, not 3 s + 3 s
    assert share_a.fraction == pytest.approx(2 / 3)
    now[0] = 10.0  # idle time is nobody's
    c = ledger.start()
    now[0] = 10.5
    alone = ledger.stop(c)
    assert alone.share_ms == 500.0 and alone.fraction == 1.0 and ledger.in_flight == 0


async def test_concurrent_requests_share_the_wall_time() -> None:
    import asyncio

    from services.gateway.engine_time import EngineTimeLedger

    ledger = EngineTimeLedger()

    async def one() -> float:
        ticket = ledger.start()
        await asyncio.sleep(0.2)
        return ledger.stop(ticket).share_ms

    loop = asyncio.get_running_loop()
    started = loop.time()
    shares = await asyncio.gather(*(one() for _ in range(8)))
    wall_ms = (loop.time() - started) * 1000
    assert sum(shares) == pytest.approx(wall_ms, rel=0.2)  # not 8× the wall time


def test_roles_default_to_chat_and_admin_holds_all() -> None:
    from ragtune.settings import Role

    settings = GatewaySettings(
        api_keys={
            "plain": TenantSettings(name="p"),
            "docs": TenantSettings(name="d", roles=[Role.CHAT, Role.DOCUMENTS]),
            "root": TenantSettings(name="r", roles=[Role.ADMIN]),
        }
    )
    plain = authenticate(settings, "Bearer plain", None)
    assert plain.has(Role.CHAT) and not plain.has(Role.DOCUMENTS) and not plain.has(Role.ADMIN)
    with pytest.raises(ForbiddenError, match="'documents' role"):
        plain.check_role(Role.DOCUMENTS)
    docs = authenticate(settings, "Bearer docs", None)
    assert docs.has(Role.DOCUMENTS) and not docs.has(Role.ADAPTERS)
    root = authenticate(settings, "Bearer root", None)
    assert all(root.has(role) for role in Role)
    assert all(authenticate(GatewaySettings(), None, "127.0.0.1").has(role) for role in Role)
