FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared shared
COPY services services
COPY cli cli
RUN pip install --no-cache-dir .
ENV LIANJIE_VAR_DIR=/var/lib/lianjie
EXPOSE 8000
# The service to run is the first argument: needs, resources or matcher.
ENTRYPOINT ["sh", "-c", "exec uvicorn --factory services.$0.app:create_app --host 0.0.0.0 --port 8000 --no-proxy-headers"]
CMD ["needs"]
