"""Watching Kore.ai jobs until they end: the engine (its façade, polling, delivery) and its store."""
