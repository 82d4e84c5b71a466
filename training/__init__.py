"""Data preparation and LoRA training of brand-voice adapters (never imports ``services``)."""
