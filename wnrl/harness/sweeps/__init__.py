"""Sweeps: the sweep file (:mod:`~wnrl.harness.sweeps.spec`), the values sweep and tune files share
(:mod:`~wnrl.harness.sweeps.values`), the agent argument names known without SB3
(:mod:`~wnrl.harness.sweeps.agent_args`), the expansion into runs with stable ids, the sweep
directory and its ``index.json`` (:mod:`~wnrl.harness.sweeps.directory`,
:mod:`~wnrl.harness.sweeps.index`). Parsing a sweep imports neither torch nor SB3."""
