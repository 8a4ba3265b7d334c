# MLflow tracking server + model registry (Cloud Run): Cloud SQL PostgreSQL backend, GCS artifacts.
# The database is reached through the Cloud SQL Auth Proxy sidecar the client stack adds to the
# service (IAM login, mTLS), so the URI the stack gives is postgresql+psycopg://USER@127.0.0.1:5432/mlflow.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY b2brec ./b2brec
RUN pip install --no-cache-dir -c constraints.txt ".[mlflow]"
COPY images/mlflow-entrypoint.sh /usr/local/bin/mlflow-entrypoint.sh
ENV PORT=8080
ENTRYPOINT ["/usr/local/bin/mlflow-entrypoint.sh"]
