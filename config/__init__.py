"""The one settings object (GRIDGOV_ prefix), built by `get_settings()`, never at import."""

from config.settings import Settings, get_settings

__all__ = ["Settings", "get_settings"]
