"""Ingress: issue challenges and publish sessions' frames to Kafka."""
