"""Stills: the periodic capture job and where its stills go (``sinks.py``: a folder, or Redis
with an on-disk spool). Nothing is imported here; redis loads only when a Redis sink opens."""
