"""Document ingestion and the FAISS store (never imports ``services``)."""
