"""Research tools on top of the pipeline.

* :mod:`cnlab.lab.parity` — compare two runs' output files column by column
  (:func:`~cnlab.lab.parity.compare_columns`), e.g. a run against the official outputs;
* :mod:`cnlab.lab.evaluation` — rule metrics against a planted truth with Wilson intervals, McNemar's test.
"""

__all__: list[str] = []
