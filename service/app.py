"""The ASGI entry point of the Procfile's `web` process."""

from service.factory import create_app

app = create_app(settle_heap=True)
