"""Development tools: run the console beside the four services (``make console``, browser tests)."""
