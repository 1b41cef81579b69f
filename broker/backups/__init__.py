"""Backup and restore of an installation: the database and every volume of the instance (homes,
the public space, assignment folders) in one tar file, taken while the service runs, restorable
on a fresh machine (`broker backup`, `broker restore`; docs/operations.md "Backups").

database.py moves the rows (in one snapshot transaction, as JSON: the same file restores into
SQLite or PostgreSQL), volumes.py the volumes' files (through the engine's archive API, so any
engine the broker reaches will do), service.py puts both into the archive and back.
"""
