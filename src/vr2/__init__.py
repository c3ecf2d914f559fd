"""vr2: training and auditing grounded video reasoning (Video-R2: TAR, TAC, VAS)."""

__version__ = "0.1.0"
