"""Developer tooling: the local broker and cluster launchers, the stack of workers that tests and the
demo run on, the reliability harness, the gateway load test and the pinned test media.

No worker imports it; the command line imports it inside the commands that use it.
"""
