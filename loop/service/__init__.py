"""The service layer: what the CLI and the API call. Thin callers, logic here."""
