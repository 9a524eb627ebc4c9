# The gateway image used by compose.yaml: one image for `gateway serve`, `gateway worker`, `gateway db upgrade`
# and the fixtures. No data inside: settings come from GATEWAY_* variables, data from the database and /data.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY mappings ./mappings
COPY fixtures ./fixtures
COPY profiles ./profiles
RUN pip install --no-cache-dir .
RUN useradd --system gateway && mkdir /data && chown gateway /data
USER gateway
ENV GATEWAY_DATA_DIR=/data
EXPOSE 8080
CMD ["gateway", "serve", "--host", "0.0.0.0", "--port", "8080"]
