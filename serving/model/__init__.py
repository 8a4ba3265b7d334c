"""Model versions in memory: the immutable ModelState, the registry that swaps it, the loaders."""
