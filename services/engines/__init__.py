"""Generation engines: one protocol, a vLLM and a local transformers+peft implementation."""
