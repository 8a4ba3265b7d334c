# Client app: Flask UI of one client (Cloud Run service), served by gunicorn on Cloud Run's $PORT.
# No arguments: the client stack passes the spec (B2BREC_CLIENT_SPEC), the database URL (Cloud SQL through
# the Auth Proxy sidecar) and MLflow's URI; the secret key is read (or created) in Secret Manager at start.
# It tests connections and previews sources (b2brec.etl), submits Vertex AI training runs (trainer.runs) and
# scores bundles with serving's code before it deploys them (serving, b2brec.ranking).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY b2brec ./b2brec
COPY trainer ./trainer
COPY serving ./serving
COPY client_app ./client_app
RUN pip install --no-cache-dir -c constraints.txt ".[client-app]"
ENV B2BREC_BACKEND=gcp PYTHONUNBUFFERED=1
EXPOSE 8080
ENTRYPOINT ["gunicorn", "--workers", "2", "--threads", "4", "--access-logfile", "-", "client_app.wsgi:create()"]
