"""Reports: a sweep directory's records as rows (:mod:`~wnrl.harness.reports.rows`), scores,
summaries, tables, figures and markdown (:mod:`~wnrl.harness.reports.build`). The only part of
the harness that formats results."""
