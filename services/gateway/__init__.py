"""The FastAPI gateway: chat in base / rag / ft / hybrid / auto modes with citations, usage by kind,
latency by stage and cost; OpenAI-compatible routes; adapters, documents, feedback at run time.

Modules: ``app`` (create_app + lifespan), ``server`` (serve, BackgroundGateway), ``schemas`` (every
JSON body), ``pipeline`` (retrieve → prompt → generate → cite → account, shared by all answer
routes), ``prompts``, ``citations``, ``accounting`` (tokens, cost), ``tenants`` (API keys),
``ratelimit``, ``feedback`` (SQLite + KPIs), ``metrics`` (Prometheus), ``errors``, ``middleware``
(request id, body limit), ``sse``, ``adapters`` (run-time registry), ``routes/`` (one module per
route group).
"""
