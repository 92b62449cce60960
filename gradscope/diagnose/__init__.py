"""Core: the diagnosis of a trace, from the catalogue of pure detectors in `symptoms/`."""
