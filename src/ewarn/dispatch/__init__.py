"""Dispatch: route alerts to subscriptions and deliver them (signed webhooks, e-mail) from a database outbox.

``worker.DispatchWorker`` is the stage; ``router`` decides who gets what; ``webhook``/``email`` are the
channels; ``ssrf`` and ``transport`` keep webhook requests on checked addresses; ``retry``/``breaker`` decide
when to try again; ``payload`` is the public webhook contract.
"""
