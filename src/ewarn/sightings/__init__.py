"""The sighting relay (issue 15): one hospital's attack warns every other hospital within seconds.

- ``observables`` reads a submission's observable (and ``stix`` a STIX 2.1 ``sighting``);
- ``guards`` are the poisoning guards (private/reserved ranges, the allow-list, providers' own assets,
  over-wide networks) that keep an observable off every blocklist;
- ``corroboration`` is the severity rule and the decay, pure;
- ``quota`` counts each provider's submissions per hour;
- ``relay`` stores a sighting, publishes it as a sector indicator and raises relay alerts;
- ``blocklist`` renders the firewall lists.
"""
