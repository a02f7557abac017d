"""A read-only TAXII 2.1 server over the alerts a principal may read (routes: ``ewarn.api.routes.taxii``).

``collections`` names the collections, ``pages`` turns stored alerts into TAXII envelopes and manifests
(paging, ``added_after``, ``match[...]``), ``errors`` answers in TAXII's own error shape and media type.
"""
