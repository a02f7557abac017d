"""Dispatch: route alerts to subscriptions and deliver them (signed webhooks, e-mail) from a database outbox.

``worker.DispatchWorker`` is the stage, wiring ``intake_store`` (alerts into the outbox), ``claims`` (the
claim/lease loop), ``job_runner`` and ``send`` (one job through its channel: add a channel's branch there),
``outcomes`` (recording attempts) and ``gone`` (410 disables); ``router`` decides who gets what;
``webhook``/``email`` are the channels; ``ssrf`` and ``transport`` keep webhook requests on checked addresses;
``retry``/``breaker`` decide when to try again; ``payload`` is the public webhook contract.
"""
