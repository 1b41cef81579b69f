"""Routing: the Guacamole tunnel to guacd and signed tokens for websockify."""
