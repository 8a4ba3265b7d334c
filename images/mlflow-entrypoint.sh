#!/usr/bin/env sh
# Start the MLflow server from environment variables (Cloud Run passes PORT).
#   MLFLOW_BACKEND_STORE_URI       e.g. postgresql+psycopg://mlflow@/mlflow?host=/cloudsql/...
#   MLFLOW_ARTIFACTS_DESTINATION   e.g. gs://client-acme-prod-mlflow
set -eu
: "${MLFLOW_BACKEND_STORE_URI:?set MLFLOW_BACKEND_STORE_URI (the tracking database URL)}"
: "${MLFLOW_ARTIFACTS_DESTINATION:?set MLFLOW_ARTIFACTS_DESTINATION (the artifact bucket URL)}"
exec mlflow server \
  --backend-store-uri "$MLFLOW_BACKEND_STORE_URI" \
  --artifacts-destination "$MLFLOW_ARTIFACTS_DESTINATION" \
  --serve-artifacts \
  --host "${MLFLOW_HOST:-0.0.0.0}" \
  --port "${PORT:-8080}" \
  --workers "${MLFLOW_WORKERS:-2}"
