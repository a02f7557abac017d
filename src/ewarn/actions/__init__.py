"""What a SOC should do about an alert: the source's remediations, next steps, references and playbooks.

Pure functions over models (no I/O): the correlator calls them when it builds an alert, so every channel
(webhook, e-mail, API, SSE, exports) carries the same actions.
"""
