"""deskbroker: per-user Linux desktops in the browser."""

__version__ = "0.1.0"
