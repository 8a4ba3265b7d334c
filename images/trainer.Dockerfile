# Pipeline stages (extractor, vocabulary builder, trainer, register) for Vertex AI CustomJobs.
# VertexJobRunner sets the command per stage: ["python", "-m", "<stage module>", ...args].
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY b2brec ./b2brec
COPY trainer ./trainer
RUN pip install --no-cache-dir -c constraints.txt ".[trainer]"
# Our buckets are flat (no hierarchical namespace): gcsfs skips its gRPC storage-layout look-up per bucket,
# which is retried on every call whenever it fails (a refused permission, or the GCS emulator in tests).
ENV B2BREC_BACKEND=gcp PYTHONUNBUFFERED=1 GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=2
ENTRYPOINT ["python", "-m"]
CMD ["trainer.train", "--help"]
