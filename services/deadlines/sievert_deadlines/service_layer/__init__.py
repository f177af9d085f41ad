"""Use cases of the deadlines service: one transaction each, events through the outbox."""
