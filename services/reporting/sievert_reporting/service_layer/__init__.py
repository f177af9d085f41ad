"""Reporting's commands and the reads they share with the API: each command is one transaction
over the adapters, with the domain's rules deciding and the outbox carrying its events."""
