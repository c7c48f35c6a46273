"""liveness-stream: active face liveness as a streaming pipeline on Apache Kafka."""
