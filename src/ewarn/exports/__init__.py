"""Alerts exported for a filter as STIX 2.1, CSV or a MISP event, written piece by piece (``formats``)."""
