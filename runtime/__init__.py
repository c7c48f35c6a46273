"""What every worker process runs on: ``processors``, ``verifier`` and ``producers`` import it as siblings.

Settings (the one reader of the environment), logs, metrics, the Faust app options the workers
share, and the topic list with every topic's settings.
"""
