# The platform's own image, used by the api, worker and init services of docker-compose.yml.
# Build stage: wheels for the package and its dependencies. Run stage: slim, non-root, no compilers.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY fraudwatch ./fraudwatch
COPY streams ./streams
COPY sinks ./sinks
COPY dashboards ./dashboards
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 fraudwatch
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER fraudwatch
WORKDIR /home/fraudwatch
ENV FRAUDWATCH_DATA_DIR=/home/fraudwatch/data PYTHONUNBUFFERED=1
ENTRYPOINT ["fraudwatch"]
CMD ["--help"]
