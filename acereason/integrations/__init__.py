"""Integrations with other trainers (veRL: :mod:`acereason.integrations.verl`)."""
