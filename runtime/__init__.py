"""What every worker process runs on: ``processors``, ``verifier`` and ``producers`` import it as siblings.

Today it holds the Faust app options the workers share; settings, logs, metrics and the topic list
are to move here from ``liveness/`` (see docs/architecture.md).
"""
