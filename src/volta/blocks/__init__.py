"""OCPP functional blocks, one package each, as the specification groups them.

Each block has a version-neutral `service.py` and thin `v16.py` / `v201.py`
adapters that translate one version's messages to service calls. An adapter
module fills a `HandlerTable` (`volta.services`) of its own, named `handlers`;
`volta.app` combines the tables.
"""
