"""Daily budgets per API key: tokens and/or USD per UTC day (``TenantSettings.tokens_per_day`` /
``usd_per_day``).

The day's spend is read from the request log (``FeedbackStore.spend_since``: every answered
generation, each of ``/v1/compare``'s modes and streamed answers included, with its tokens and
cost), so it survives a restart and is shared by every process that writes the same log. A request
is checked before it generates: one that starts under budget finishes even if it ends over it (the
budget is exceeded by at most the requests in flight), and the next one gets 429.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ragtune.errors import RagtuneError
from ragtune.settings import GatewaySettings, TenantSettings

SpendReader = Callable[[str, float], tuple[int, float]]
"""(tenant, since epoch seconds) → (tokens, USD) spent since then."""


class BudgetExceededError(RagtuneError):
    """The key's daily budget is spent (429 until midnight UTC)."""

    status_code = 429
    code = "budget_exceeded"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Budget:
    """One tenant's daily limits (None: unlimited)."""

    tokens_per_day: int | None = None
    usd_per_day: float | None = None


def day_bounds(now: float) -> tuple[float, float]:
    """The start of the UTC day holding ``now`` and the start of the next one (epoch seconds)."""
    start = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return start.timestamp(), (start + timedelta(days=1)).timestamp()


def _tenants(api_keys: object) -> Iterable[TenantSettings]:
    """The tenants of ``gateway.api_keys`` (a mapping key → tenant, or a list of tenants)."""
    values: Iterable[object] = api_keys.values() if isinstance(api_keys, dict) else api_keys  # type: ignore[assignment]
    return [t for t in values if isinstance(t, TenantSettings)]


class Budgets:
    """Checks a tenant's spend of the current UTC day against its budget."""

    def __init__(self, budgets: dict[str, Budget], spend: SpendReader, clock: Callable[[], float] = time.time) -> None:
        self.budgets = {name: b for name, b in budgets.items() if b.tokens_per_day or b.usd_per_day}
        self.spend = spend
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: GatewaySettings, spend: SpendReader) -> Budgets:
        """The budgets of the configured keys (by tenant name)."""
        return cls(
            {t.name: Budget(t.tokens_per_day, t.usd_per_day) for t in _tenants(settings.api_keys)},
            spend,
        )

    def check(self, tenant: str, budget: Budget | None = None) -> None:
        """BudgetExceededError (429, Retry-After = seconds to midnight UTC) when ``tenant`` has
        spent its tokens or USD of the day. ``budget``: the caller's own (a key of the keys file);
        default: the configured one of that tenant name."""
        budget = budget if budget is not None and (budget.tokens_per_day or budget.usd_per_day) else None
        budget = budget or self.budgets.get(tenant)
        if budget is None:
            return
        now = self.clock()
        start, reset = day_bounds(now)
        tokens, usd = self.spend(tenant, start)
        over = None
        if budget.tokens_per_day is not None and tokens >= budget.tokens_per_day:
            over = f"{tokens} of its {budget.tokens_per_day} tokens per day"
        elif budget.usd_per_day is not None and usd >= budget.usd_per_day:
            over = f"${usd:.4f} of its ${budget.usd_per_day:g} per day"
        if over is None:
            return
        wait = reset - now
        hours, minutes = int(wait // 3600), int(wait % 3600 // 60)
        raise BudgetExceededError(
            f"daily budget spent: this API key has used {over}; it resets at 00:00 UTC (in {hours} h {minutes} min)",
            retry_after_s=wait,
        )
