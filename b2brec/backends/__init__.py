"""Backend boundaries (storage, warehouse, secrets, jobs), each with a local and a GCP side."""
