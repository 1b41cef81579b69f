"""Routing: the Guacamole tunnel to guacd and signed tokens for websockify.

Keep this file free of imports: the websockify image copies it with `vnc_token.py` alone.
"""
