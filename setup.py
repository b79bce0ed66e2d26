# setup.py - the minimal hook that lets setuptools build pygru's cffi extension
# (everything else is declared in pyproject.toml).
from setuptools import setup

setup(cffi_modules=["build_ffi.py:ffibuilder"])
