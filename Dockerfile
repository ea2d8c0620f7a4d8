FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas schemas
COPY ingest ingest
COPY scoring scoring
COPY stream_processors stream_processors
COPY alerting alerting
COPY device_sim device_sim
COPY consult_bridge consult_bridge
COPY storage storage
COPY vigil vigil
RUN pip install --no-cache-dir ".[kafka]"
USER nobody
CMD ["vigil", "run"]
