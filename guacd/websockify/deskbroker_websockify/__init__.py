"""websockify for deskbroker: only broker-signed, single-use tokens open a desktop's VNC port.

Run with `python3 -m deskbroker_websockify [websockify options] [LISTEN]`; the token plugin
and the log redaction are added by `__main__`. Settings: see `settings.py`.
"""
