"""Generation engines and the FastAPI gateway; composes ``indexer`` and ``training``."""
