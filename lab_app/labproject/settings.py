"""Django settings for the benchmark lab's app.

This is the file `django-admin startproject labproject` (Django 5.2) writes,
kept as close to that as possible because that is what the seed user ran:
the same INSTALLED_APPS and MIDDLEWARE (plus rest_framework and bench), the
same templates, i18n and static settings. Every line that differs from the
generated default is marked `# LAB:` with the reason.

The benchmarked endpoints (bench/views.py) never touch a database. To make
that a checked fact rather than a hope, DATABASES points at a file inside a
directory that does not exist: any query would fail with "unable to open
database file" and turn the response into a 500, which the runner's
byte-for-byte response check rejects before anything is measured. Only the
polls app (seed 003) uses a database, and only when the server is started
with LAB_DB=postgres (see the Database block).
"""

import os
import tempfile
from pathlib import Path

# Build paths inside the project like this: BASE_DIR / 'subdir'.
BASE_DIR = Path(__file__).resolve().parent.parent

# LAB: fixed and deliberately not secret, so every run and every host gets the
# same settings (no session or CSRF data is ever produced by the endpoints).
SECRET_KEY = "django-insecure-djlab-benchmark-key-not-a-secret"

# LAB: off by default, as the seed's production-like runs; LAB_DJANGO_DEBUG=1
# turns it on for a debugging session (never for a measured run: with DEBUG on
# Django keeps per-request state such as connection.queries).
DEBUG = os.environ.get("LAB_DJANGO_DEBUG") == "1"

# LAB: the servers bind to lab addresses (198.18.0.0/15) or 127.0.0.1 and the
# load generators send whatever Host they like; host validation is not what
# is measured.
ALLOWED_HOSTS = ["*"]


# Application definition

INSTALLED_APPS = [
    'django.contrib.admin',
    'django.contrib.auth',
    'django.contrib.contenttypes',
    'django.contrib.sessions',
    'django.contrib.messages',
    'django.contrib.staticfiles',
    'rest_framework',  # LAB: the seed's view is a DRF APIView.
    'bench',  # LAB: the app holding the benchmarked views.
    'polls',  # LAB: the tutorial's polls app (seed 003, the user-ramp scenario).
]

MIDDLEWARE = [
    'django.middleware.security.SecurityMiddleware',
    'django.contrib.sessions.middleware.SessionMiddleware',
    'django.middleware.common.CommonMiddleware',
    'django.middleware.csrf.CsrfViewMiddleware',
    'django.contrib.auth.middleware.AuthenticationMiddleware',
    'django.contrib.messages.middleware.MessageMiddleware',
    'django.middleware.clickjacking.XFrameOptionsMiddleware',
]

ROOT_URLCONF = 'labproject.urls'

TEMPLATES = [
    {
        'BACKEND': 'django.template.backends.django.DjangoTemplates',
        'DIRS': [],
        'APP_DIRS': True,
        'OPTIONS': {
            'context_processors': [
                'django.template.context_processors.request',
                'django.contrib.auth.context_processors.auth',
                'django.contrib.messages.context_processors.messages',
            ],
        },
    },
]

WSGI_APPLICATION = 'labproject.wsgi.application'


# Database
# LAB: a path under the temp dir whose parent directory is never created, so
# the endpoints provably make no query (see the module docstring). Nothing in
# the lab runs migrations against it.
DATABASES = {
    'default': {
        'ENGINE': 'django.db.backends.sqlite3',
        'NAME': Path(tempfile.gettempdir()) / 'djlab-no-database-here' / 'never.sqlite3',
    }
}

# LAB: the polls app (user-ramp scenario) needs a real database. Only a server
# started with LAB_DB=postgres gets one: PostgreSQL at LAB_DB_HOST:LAB_DB_PORT,
# database LAB_DB_NAME as LAB_DB_USER (trust auth inside the lab subnet, so no
# password). psycopg (3) must be in the cell's pins.
# CONN_MAX_AGE (LAB_DB_CONN_MAX_AGE, seconds) defaults to Django's own 0: a
# new connection per request, under WSGI and ASGI alike. Persistent
# connections are per thread, and under ASGI each request's sync code may run
# on another thread of the executor, so Django's docs advise against them
# there; keeping 0 keeps the comparison like for like.
if os.environ.get("LAB_DB") == "postgres":
    DATABASES = {
        'default': {
            'ENGINE': 'django.db.backends.postgresql',
            'HOST': os.environ.get("LAB_DB_HOST", "127.0.0.1"),
            'PORT': os.environ.get("LAB_DB_PORT", "5432"),
            'NAME': os.environ.get("LAB_DB_NAME", "polls"),
            'USER': os.environ.get("LAB_DB_USER", "polls"),
            'CONN_MAX_AGE': int(os.environ.get("LAB_DB_CONN_MAX_AGE", "0")),
            # libpq's connect_timeout: a database that accepts the TCP
            # connection but never answers fails the request instead of
            # hanging it.
            'OPTIONS': {'connect_timeout': int(os.environ.get("LAB_DB_CONNECT_TIMEOUT", "10"))},
        }
    }
elif os.environ.get("LAB_DB"):
    raise ValueError(f"LAB_DB={os.environ['LAB_DB']!r}: only 'postgres' is known")


# Password validation
# https://docs.djangoproject.com/en/5.2/ref/settings/#auth-password-validators

AUTH_PASSWORD_VALIDATORS = [
    {
        'NAME': 'django.contrib.auth.password_validation.UserAttributeSimilarityValidator',
    },
    {
        'NAME': 'django.contrib.auth.password_validation.MinimumLengthValidator',
    },
    {
        'NAME': 'django.contrib.auth.password_validation.CommonPasswordValidator',
    },
    {
        'NAME': 'django.contrib.auth.password_validation.NumericPasswordValidator',
    },
]


# Internationalization
# https://docs.djangoproject.com/en/5.2/topics/i18n/

LANGUAGE_CODE = 'en-us'

TIME_ZONE = 'UTC'

USE_I18N = True

USE_TZ = True


# Static files (CSS, JavaScript, Images)
# https://docs.djangoproject.com/en/5.2/howto/static-files/

STATIC_URL = 'static/'

# Default primary key field type
# https://docs.djangoproject.com/en/5.2/ref/settings/#default-auto-field

DEFAULT_AUTO_FIELD = 'django.db.models.BigAutoField'

# LAB: a 500 writes its traceback to stderr (the server's log in the run
# folder) even with DEBUG off; Django's default would only mail the admins.
# Nothing is logged for a successful request, so no per-request I/O.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["stderr"], "level": "ERROR", "propagate": False}},
}
# No REST_FRAMEWORK setting: DRF's defaults, as the seed. A request without an
# Accept header (wrk, locust, urllib) negotiates to JSONRenderer's compact JSON.
