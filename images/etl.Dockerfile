# ETL job: one load of a client's sources into its warehouse (Cloud Run job).
# The client stack passes B2BREC_BACKEND and the client's spec in B2BREC_CLIENT_SPEC; no arguments.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY b2brec ./b2brec
RUN pip install --no-cache-dir -c constraints.txt ".[etl]"
ENV B2BREC_BACKEND=gcp PYTHONUNBUFFERED=1
ENTRYPOINT ["python", "-m", "b2brec.etl"]
