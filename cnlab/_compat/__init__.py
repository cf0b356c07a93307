"""Replicas of pinned library behaviour: one module per replica.

The official run pinned scikit-learn 1.0.2, numpy 1.26.4 and pandas 2.2.2 (spec 06 header). Where the
installed versions compute something differently and the official outputs depend on it, cnlab
reproduces the pinned behaviour here, by default, and the code that uses a replica cites it (most
can be switched to the installed behaviour; bench/RESULTS.md "What the pinned versions change"
measures each switch, README "Decisions where the spec is UNSURE" summarises them).

=============================  ===========================================  ====================================
module                         reproduces                                   why cnlab needs it
=============================  ===========================================  ====================================
``numpy126_argsort``           numpy 1.26 ``argsort(kind="quicksort")`` of  tie order of pandas' unstable sort
                               int64 keys on an AVX-512 CPU                 of the pflip training rows: decides
                                                                            the train/validation split and so
                                                                            the pflip threshold (spec 06 §A.9)
``numpy1_argpartition``        numpy 1.x ``argpartition`` (introselect)     which points k-means moves into an
                                                                            empty cluster (used by the next)
``sklearn102_kmeans``          scikit-learn 1.0.2 1-D ``KMeans`` (Lloyd,    pflip's k-means bin edges on tied
                               float32 kept, numpy 1.x relocation order)    float32 features (spec 06 §A.8)
``sklearn102_kbins``           scikit-learn 1.0.2 ``KBinsDiscretizer``      pflip's binned feature blocks,
                               (kmeans, onehot; ``x + 1e-8 + 1e-5·|x|``     incl. 1.0.2's transform epsilon
                               in ``transform``)                            (spec 06 §A.8)
``sklearn102_hist_binning``    scikit-learn 1.0.2 histogram-boosting bin    PCRH's trees: ≥ 1.4 picks other
                               thresholds (``_find_binning_thresholds``)    edges (spec 06 §B.4)
``pandas22_skew``              pandas 2.2 / numpy 1.26 ``skew()`` of        PCRH's ``_skewness`` features on
                               float32 values (value-based casting)         float32 factors (spec 06 §B.3)
``sklearn102_logistic``        scikit-learn 1.0.2's lbfgs stopping point    topic assignments: 1.0.2 minimised
                               (sum, not mean, of the log-losses)           the summed loss (spec 05 §A.6)
=============================  ===========================================  ====================================

Users: :mod:`cnlab.models.pflip` (``PFlipConfig.tie_order``, ``.kmeans_algorithm``,
``.legacy_bin_transform``), :mod:`cnlab.models.pcrh` (``PCRHConfig.legacy_binning``),
:mod:`cnlab.models.topics` (``TopicConfig.tol_per_sample``).

A replica is checked against the pinned version (recorded outputs in ``tests/test_confidence.py``,
parity in ``tests/test_confidence_parity.py``); change one only with such a check.
"""
