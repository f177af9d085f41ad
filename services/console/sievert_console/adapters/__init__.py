"""The console's adapters: a client per service API, development tokens, OpenID Connect, the
live feed from Kafka."""
