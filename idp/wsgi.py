"""The WSGI application for production servers: gunicorn -w 4 -b 0.0.0.0:5000 idp.wsgi:app"""
from __future__ import annotations

from config.settings import Settings
from idp import configure_logging, create_app

settings = Settings.from_env()
configure_logging(settings.log_level, settings.log_format)
app = create_app(settings)
