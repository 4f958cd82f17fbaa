"""File helpers every package shares: ``atomic.py`` (atomic writes, a folder's fsync).

fileio imports no other camdeck package, so it is the rightmost in the import order and
any package, fastcore included, may use it.
"""
