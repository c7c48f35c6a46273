"""The browser gateway: HTTP and WebSocket ingress for the web client, in front of Kafka."""
