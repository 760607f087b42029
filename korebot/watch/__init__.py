"""Watching trainings until they end: store contract, polling, delivery and commands."""
