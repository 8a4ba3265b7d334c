# Pipeline stages on a GPU (Vertex AI CustomJobs of environments with infra.training.accelerator_type):
# the trainer image plus TensorFlow's CUDA libraries. The client stack picks it for GPU environments
# (stacks/client_project.py trainer_image_name); CPU environments run images/trainer.Dockerfile.
# tensorflow[and-cuda] is pinned to the TensorFlow of constraints.txt (the trainer extra's version): the
# extra adds the nvidia-* CUDA/cuDNN wheels, which TensorFlow loads only when it finds a GPU.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY b2brec ./b2brec
COPY trainer ./trainer
RUN pip install --no-cache-dir -c constraints.txt ".[trainer]" "tensorflow[and-cuda]==2.21.0"
# tensorflow-cpu (the trainer extra) and tensorflow (tf-keras needs it) install the same files; keep only the
# CUDA-enabled build's.
RUN pip uninstall -y tensorflow-cpu && pip install --no-cache-dir --no-deps --force-reinstall -c constraints.txt "tensorflow==2.21.0"
# Our buckets are flat (no hierarchical namespace): gcsfs skips its gRPC storage-layout look-up per bucket,
# which is retried on every call whenever it fails (a refused permission, or the GCS emulator in tests).
ENV B2BREC_BACKEND=gcp PYTHONUNBUFFERED=1 GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=2
ENTRYPOINT ["python", "-m"]
CMD ["trainer.train", "--help"]
