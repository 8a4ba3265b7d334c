# Serving API: FastAPI + uvicorn (Cloud Run service). No arguments: `python -m serving` reads the
# client's spec from B2BREC_CLIENT_SPEC (set by the client stack) and listens on Cloud Run's $PORT.
# No environments/ (it would ship every client's spec to every client), no CLI, stacks, Beam or TF.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY b2brec ./b2brec
COPY serving ./serving
RUN pip install --no-cache-dir -c constraints.txt ".[serving]"
# Our buckets are flat (no hierarchical namespace): gcsfs skips its gRPC storage-layout look-up per bucket,
# which is retried on every call whenever it fails (a refused permission, or the GCS emulator in tests).
ENV B2BREC_BACKEND=gcp PYTHONUNBUFFERED=1 GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false
EXPOSE 8080
ENTRYPOINT ["python", "-m", "serving"]
