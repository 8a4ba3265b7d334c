"""Two-tower retrieval model: query and candidate towers (separate Keras models) and the TFRS model."""
