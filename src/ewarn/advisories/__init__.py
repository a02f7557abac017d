"""Advisories as ewarn reads them: the check report of ``ewarn advisories check``."""
