"""Event contracts of liveness-stream: records, topic names, reason codes and codecs."""
