"""Herald's benchmark (not a test): `python -m bench [--quick]`.

Two parts, each against its own fresh redis-server and real subprocesses:

1. API latency: one uvicorn process, POST /v1/notifications from 50 concurrent keep-alive clients.
2. Delivery: uvicorn + one ARQ worker sending through a slow, sometimes-refusing SMTP server;
   counts what was sent, failed, lost and duplicated, and how much memory the processes used.
"""
