# leerID and its two demo platforms in one image, for docker-compose.yml.
#   leerID:        gunicorn -c python:config.gunicorn idp.wsgi:app   (the default command; config/gunicorn.py)
#   migrations:    leerid db upgrade
#   demo platform: python -m examples.serve rekenrups|schoolportaal
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY idp ./idp
COPY clients ./clients
COPY mandates ./mandates
COPY config ./config
COPY migrations ./migrations
COPY examples ./examples

# requests: Authlib's Flask OAuth client, which the demo platforms use, sends its requests with it.
RUN pip install . "requests>=2.31" \
 && useradd --system --uid 10001 --home-dir /var/lib/leerid --shell /usr/sbin/nologin leerid \
 && mkdir -p /var/lib/leerid && chown leerid:leerid /var/lib/leerid

# Runs from a directory that holds no source: the installed package is what runs.
WORKDIR /var/lib/leerid
USER leerid
ENV LEERID_VAR_DIR=/var/lib/leerid
EXPOSE 5000
CMD ["gunicorn", "-c", "python:config.gunicorn", "idp.wsgi:app"]
