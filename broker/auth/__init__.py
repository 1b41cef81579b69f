"""Sign-in: OpenID Connect and local accounts, server-side sessions, CSRF."""
