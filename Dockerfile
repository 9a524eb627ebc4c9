# The gateway image used by compose.yaml: one image for `gateway serve`, `gateway worker`, `gateway db upgrade`
# and the fixtures. No data inside: settings come from GATEWAY_* variables, data from the database and /data.
# The wheel is built in a stage with a C compiler, so the validator is compiled by mypyc (setup.py); the image
# that runs it has no compiler.
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY gateway ./gateway
COPY mappings ./mappings
COPY fixtures ./fixtures
COPY profiles ./profiles
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
RUN useradd --system gateway && mkdir /data && chown gateway /data
USER gateway
ENV GATEWAY_DATA_DIR=/data
EXPOSE 8080
CMD ["gateway", "serve", "--host", "0.0.0.0", "--port", "8080"]
