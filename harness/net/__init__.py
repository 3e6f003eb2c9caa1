"""Talking to the world safely: AWS clients, HTTP with its watchdog, TLS evidence, redaction, Hermes URLs."""
