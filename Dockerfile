# syntax=docker/dockerfile:1
# One image for every component of the chart (helm/readiness-platform): the read API, Dagster (webserver,
# daemon, code server, run Jobs), the stream's Spark driver and executors, the exporter, the MLflow server.
#   docker build -t "$DOCKER_REGISTRY/readiness-platform:$IMAGE_TAG" . && docker push "$DOCKER_REGISTRY/readiness-platform:$IMAGE_TAG"
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- JVM jars: Delta and Spark's Kafka source (jvm/pom.xml, as `make setup` resolves them), the local file
# system (jvm/localfs, built), the pitchers' state (jvm/state, built), S3A (docker/s3a)
FROM maven:3.9-eclipse-temurin-17 AS jars
WORKDIR /build
COPY jvm/pom.xml jvm/pom.xml
COPY docker/s3a/pom.xml docker/s3a/pom.xml
COPY jvm/localfs/ jvm/localfs/
COPY jvm/state/ jvm/state/
RUN mvn -q -B -f jvm/pom.xml dependency:copy-dependencies -Djars.dir=/jars \
 && mvn -q -B -f jvm/localfs/pom.xml package -Djars.dir=/jars \
 && mvn -q -B -f jvm/state/pom.xml package -Djars.dir=/jars \
 && mvn -q -B -f docker/s3a/pom.xml dependency:copy-dependencies -Djars.dir=/s3a-jars

# --- The project in a virtual environment, pinned by constraints.txt (the lock the tests run on) ----------
FROM ${PYTHON_IMAGE} AS python
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY readiness_platform/ readiness_platform/
COPY spark_jobs/ spark_jobs/
COPY api/ api/
COPY expectations/ expectations/
COPY feature_repo/ feature_repo/
RUN /opt/venv/bin/pip install -q --upgrade pip wheel setuptools \
 && /opt/venv/bin/pip install -q -c constraints.txt .

# --- Runtime: Python 3.11, Java 17 for Spark, the environment and the jars; no build tools -----------------
FROM ${PYTHON_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 readiness \
 && useradd --uid 10001 --gid 10001 --home-dir /opt/readiness --shell /usr/sbin/nologin readiness \
 && mkdir -p /opt/readiness /opt/dagster/dagster_home /var/lib/readiness \
 && chown -R 10001:10001 /opt/readiness /opt/dagster /var/lib/readiness
COPY --from=python /opt/venv /opt/venv
# Delta and Kafka where readiness_platform.spark hands them to every session (spark.jars, READINESS_JARS_DIR);
# S3A and its AWS SDK (~690 MB) on Spark's own classpath: in every pod already, never shipped to executors
COPY --from=jars /jars /opt/readiness/jars
COPY --from=jars /s3a-jars/ /opt/venv/lib/python3.11/site-packages/pyspark/jars/
COPY --chmod=0755 docker/spark-entrypoint.sh /opt/readiness/entrypoint.sh
# pyspark's own bin/ and jars/ are Spark's home; settings.py reads READINESS_*, and the chart sets the rest
ENV PATH=/opt/venv/bin:$PATH \
    SPARK_HOME=/opt/venv/lib/python3.11/site-packages/pyspark \
    PYSPARK_PYTHON=/opt/venv/bin/python \
    PYSPARK_DRIVER_PYTHON=/opt/venv/bin/python \
    READINESS_JARS_DIR=/opt/readiness/jars \
    READINESS_HOME=/var/lib/readiness \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    PYTHONUNBUFFERED=1 \
    TZ=UTC
USER 10001:10001
WORKDIR /opt/readiness
ENTRYPOINT ["/usr/bin/tini", "--", "/opt/readiness/entrypoint.sh"]
CMD ["readiness", "--help"]
