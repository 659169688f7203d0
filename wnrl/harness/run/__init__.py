"""Execution: one typed task per run (:mod:`~wnrl.harness.run.task`), which runs to start
(:mod:`~wnrl.harness.run.execute`), and the one executor with a local process-pool and a Ray
backend (:mod:`~wnrl.harness.run.backends`, :mod:`~wnrl.harness.run.pool`) that ``compare`` and
``tune`` both use."""
