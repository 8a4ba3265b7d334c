# Serving API: FastAPI + uvicorn (Cloud Run service). The service passes `--client ENV-NAME`;
# Cloud Run's $PORT is used when --port is not given; the model loads from the client's models bucket.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY b2brec ./b2brec
COPY serving ./serving
COPY environments ./environments
RUN pip install --no-cache-dir -c constraints.txt .
ENV B2BREC_BACKEND=gcp B2BREC_ENVIRONMENTS_DIR=/app/environments PYTHONUNBUFFERED=1
EXPOSE 8080
ENTRYPOINT ["python", "-m", "cli.main", "serve", "--host", "0.0.0.0"]
CMD ["--help"]
