"""Processors: frames in, per-frame observations out (the pure core and its Faust shell)."""
