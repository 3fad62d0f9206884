"""What stands between hostile input and execution: admission (``admission``, ``limits``,
``inputguard``), rate limits (``ratelimit``), persisted queries and allow-lists
(``persisted``) and webhook URL checks (``webhook_urls``).
"""
