"""The console's pages, fragments, actions and server-sent events."""
