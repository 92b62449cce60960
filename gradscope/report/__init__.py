"""Rendering: rich console text, strict JSON, CSV and PNG. Nothing here computes findings."""
