# MLflow tracking server + model registry (Cloud Run): Cloud SQL PostgreSQL backend, GCS artifacts.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
RUN pip install --no-cache-dir -c constraints.txt "mlflow==3.17.2" "psycopg[binary]" "gcsfs"
COPY images/mlflow-entrypoint.sh /usr/local/bin/mlflow-entrypoint.sh
ENV PORT=8080
ENTRYPOINT ["/usr/local/bin/mlflow-entrypoint.sh"]
