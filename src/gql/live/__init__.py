"""Live updates: pub/sub across instances (``pubsub``, ``backends``), streams read from the
outbox (``stream``), shared execution for many subscribers (``fanout``), the pace of live reports
(``reports``), token revocations (``revocations``) and webhook delivery (``delivery``).
"""
