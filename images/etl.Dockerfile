# ETL job: one load of a client's sources into its warehouse (Cloud Run job).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY b2brec ./b2brec
RUN pip install --no-cache-dir -c constraints.txt .
ENV B2BREC_BACKEND=gcp PYTHONUNBUFFERED=1
# With no argument it loads the ClientSpec from $B2BREC_CLIENT_SPEC (set by the client stack).
ENTRYPOINT ["python", "-m", "b2brec.etl"]
