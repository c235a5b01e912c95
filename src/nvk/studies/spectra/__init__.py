"""The spectral study (Geifman et al. 2020, Figures 1, 2 and 4): `study.run` is
`python evaluate.py task=spectra`; `figures` draws the PNGs from its record (docs/spectral.md)."""
