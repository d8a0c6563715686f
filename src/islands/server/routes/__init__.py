"""The API's routes, one module per subject: completions, chat, models/health/metrics, embeddings."""
