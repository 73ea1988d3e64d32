"""The explorer (``credsim serve``): a web page where anyone runs and compares regimes.

Needs the optional extra ``credsim[web]`` (FastAPI, uvicorn); importing ``credsim`` never
imports it. ``create_app`` (``credsim.web.app``) builds the ASGI app.
"""
