"""Minimal peers for the side-by-side benchmark (`python -m bench --part peers`).

Each peer is what a team would write in an afternoon instead of Herald: a FastAPI app that answers
202 and hands the send to FastAPI's BackgroundTasks, Celery or ARQ. They share one message
(`mail`) and one request shape (`api`), so the only difference between them is how the send is run.
"""
