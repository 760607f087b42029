"""Watching Kore.ai jobs until they end: the engine (façade, polling, delivery) and its store."""
