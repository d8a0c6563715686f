"""The HTTP server: an OpenAI-compatible API over one shared engine."""
