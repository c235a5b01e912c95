"""Studies: one subpackage or module per study (uci, spectra, frequency, conv, largescale) that
orchestrates runs, writes records atomically, and builds tables and figures; no kernel math.
"""
