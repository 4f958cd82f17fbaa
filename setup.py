"""Placeholder until the fastcore extension lands; everything else is in pyproject.toml."""
from setuptools import setup

setup()
