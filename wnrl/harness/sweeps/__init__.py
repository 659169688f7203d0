"""Sweeps: the sweep file (:mod:`~wnrl.harness.sweeps.spec`), its expansion into runs with stable
ids, the sweep directory and its ``index.json`` (:mod:`~wnrl.harness.sweeps.directory`,
:mod:`~wnrl.harness.sweeps.index`). Parsing a sweep imports neither torch nor SB3."""
