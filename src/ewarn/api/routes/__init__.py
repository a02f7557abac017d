"""One module per resource; each exposes ``router`` and is mounted by ``ewarn.api.app``."""
