"""Session recordings: guacd records the owner's sessions of the desktop types whose admins turned
`record_sessions` on; admins find, play, download and delete them; retention deletes old ones."""
