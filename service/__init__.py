"""Herald: the web app and the domain code shared with the worker."""
