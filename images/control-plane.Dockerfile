# Control plane: Flask UI + JSON API behind IAP (Cloud Run service), served by gunicorn on $PORT.
# Its Celery worker (a Cloud Run worker pool, stacks/control_plane.py) runs the same image with:
#   python -m control_plane.manage control-plane worker
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY b2brec ./b2brec
COPY control_plane ./control_plane
# its health probe reads each client's pipeline run records (trainer.runs: no TensorFlow)
COPY trainer ./trainer
# it provisions clients: provisioning -> stacks -> modules (cdktn). Each client's spec comes from the control
# plane's database (control_plane.clients), never from environments/, which the image does not hold.
COPY provisioning ./provisioning
COPY stacks ./stacks
COPY modules ./modules
RUN pip install --no-cache-dir -c constraints.txt ".[control-plane]"
# On GCP its provisioner synthesizes each client's stack (cdktn runs on Node.js >= 20) and runs terraform on it
COPY --from=node:20-bookworm-slim /usr/local/bin/node /usr/local/bin/node
COPY --from=hashicorp/terraform:1.9.8 /bin/terraform /usr/local/bin/terraform
ENV B2BREC_BACKEND=gcp B2BREC_CP_LOCAL_DEV=0 PYTHONUNBUFFERED=1
EXPOSE 8080
ENTRYPOINT ["gunicorn", "--workers", "2", "--threads", "4", "--access-logfile", "-", "control_plane.wsgi:app"]
