"""Watching trainings until they end: persistence and the polling engine."""
