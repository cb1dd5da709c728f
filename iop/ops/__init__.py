"""Operating the pipeline without an operator: runs whose process died, a damaged warehouse, and
the `iop` command line."""
