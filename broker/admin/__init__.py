"""The admin dashboard's JSON API: live connections and their kill, connection history, audit log, users."""
