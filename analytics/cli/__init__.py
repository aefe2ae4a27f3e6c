"""`python -m analytics`: the command line, thin callers of the library."""
