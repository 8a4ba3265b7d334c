"""Client projects: the local folder-backed kind (embedded default)."""
