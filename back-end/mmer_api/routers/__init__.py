"""HTTP routes; each one is a few lines over :mod:`app.inference`."""
