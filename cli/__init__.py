"""The ``b2brec`` command line."""
