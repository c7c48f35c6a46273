"""The stateful verifier: observations and session starts in, one decision per session out."""
