"""ragtune's shared core: settings, model provisioning, errors and the ``ragtune`` CLI root.

The product lives beside it: ``indexer`` (documents → FAISS), ``training`` (LoRA adapters) and
``services`` (engines and the HTTP gateway, composing the other two).
"""

__version__ = "0.1.0"
