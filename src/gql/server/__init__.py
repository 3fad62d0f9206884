"""The server: the ASGI app and what carries a request to the schema and back.

``app`` builds the Starlette application; ``view`` answers GraphQL over HTTP and
``websocket`` over graphql-transport-ws / graphql-ws; ``middleware`` holds the request
plumbing (body, persisted queries, Idempotency-Key); ``boundary`` turns any failure into a
coded GraphQL error; ``shutdown``, ``gcpolicy``, ``metrics``, ``logs`` and ``observe`` are
the process's lifecycle and observability.
"""
