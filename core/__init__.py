"""The platform's shared library: what every app builds on and nothing in it builds on an app.

API error handling and schema helpers, realtime pushes, secrets at rest, proxies, throttles, CSV
safety, websocket close codes, queueing tasks. The layers (docs/architecture.md): ``murano``
(project wiring) → the apps → ``core``; ``core`` imports Django and libraries only.
"""
