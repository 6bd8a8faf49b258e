"""Settings for leerID, read from the environment."""
from config.settings import ConfigError, Settings

__all__ = ["ConfigError", "Settings"]
