"""Reading and ordering versions as advisories write them (a low-level package: imports only ``ewarn.models``).

``order``: the generic order for versions no package ecosystem defines, wildcard families.
``dates``: dates written as version bounds (``distributed < april 1, 2018``).
``reader``: product/version expressions → ``VersionRange`` values of a ``RangeKind``.
The public entry points are ``ewarn.ingest.versions`` (reading) and ``ewarn.correlate.versions`` (deciding).
"""
