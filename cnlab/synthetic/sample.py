"""The bundled sample (``cnlab/data/sample``): its config and :func:`make_sample`, which regenerates it
byte for byte (read by :func:`cnlab.io.load_sample`; checked by ``tests/test_synthetic.py``).
"""

from __future__ import annotations

from pathlib import Path

from cnlab.synthetic.config import SyntheticConfig, SyntheticTruth
from cnlab.synthetic.generator import generate

#: Directory of the bundled sample (read by ``cnlab.io.load_sample``).
# this file is cnlab/synthetic/sample.py: parents[1] is the cnlab package
SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "sample"

#: Config of the bundled sample (``make_sample``).
SAMPLE_CONFIG = SyntheticConfig(
    n_notes=1000, n_raters=800, n_ratings=32_000, n_factors=1, seed=20260501, gzip_level=9,
)


def make_sample(out_dir=None) -> SyntheticTruth:
    """Regenerate the bundled sample (``SAMPLE_CONFIG``, gzipped) in ``out_dir``
    (default :data:`SAMPLE_DIR`); the result is byte-identical to the shipped files."""
    return generate(SAMPLE_DIR if out_dir is None else out_dir, config=SAMPLE_CONFIG, compress=True)
