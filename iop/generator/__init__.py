"""Synthetic data generator, with ground truth, for the IOP pipeline.

`generate(out_dir, clients, seed, **options)` writes landing files per docs/input_layouts.md and
the truth the pipeline's results are compared with; `iop-generate` is its command line.
"""

from iop.generator.build import GenerationSummary, generate

__all__ = ["GenerationSummary", "generate"]
