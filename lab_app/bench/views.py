"""The benchmarked views: none of them touches the database.

- TestView: the seed's DRF APIView, verbatim (served at /drf/).
- sync_view: a plain sync Django view (/sync/); under ASGI Django runs it in
  a thread through sync_to_async, as it does the DRF view.
- async_view: an `async def` view (/async/); under ASGI it runs on the event
  loop, under WSGI Django runs it through async_to_sync.
- spin_view: busy-waits `?us=` microseconds on the CPU (/spin/): the planted,
  known extra cost per request of `lab calibrate`, and seed 002's CPU-bound
  sync view; spin_async_view (/spin/async/) is the same work in an
  `async def` view, which under ASGI holds the event loop.
- loop_view: a fixed Python loop `?n=` times (/loop/): the same instructions
  on every request, the instructions instrument's planted cost.
- StaticPage: a static HTML page through Django's template engine
  (/static-page/), seed 004's "static page" with sync views only.

The exact bytes each returns are registered in runner/catalog/views.py.
"""
import time

from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.views.generic import TemplateView
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

MESSAGE = {'message': "Test Message"}


class TestView(APIView):

    def get(self, request, *args, **kwargs):

        response_data = {'message': "Test Message"}

        return Response(response_data, status=status.HTTP_200_OK)


def sync_view(request):
    return JsonResponse(MESSAGE)


async def async_view(request):
    return JsonResponse(MESSAGE)


SPIN_MAX_US = 1_000_000


def _spin(request):
    """Hold the CPU for exactly ?us= microseconds (a busy loop on the
    monotonic clock, not a sleep: the cost is CPU work, as a slower view's
    would be, and its wall time is what was asked whatever the CPU's speed)."""
    raw = request.GET.get("us", "0")
    if not raw.isdigit() or int(raw) > SPIN_MAX_US:
        return HttpResponseBadRequest(f"us must be 0-{SPIN_MAX_US}, got {raw!r}",
                                      content_type="text/plain")
    end = time.perf_counter_ns() + int(raw) * 1000
    while time.perf_counter_ns() < end:
        pass
    return HttpResponse(b"spin", content_type="text/plain")


def spin_view(request):
    return _spin(request)


async def spin_async_view(request):
    return _spin(request)


LOOP_MAX = 10_000_000


def loop_view(request):
    """Run a fixed Python loop ?n= times: the same instructions on every
    request whatever the machine's speed (the instructions instrument's
    planted cost; spin's busy-wait on the clock is time, not work)."""
    raw = request.GET.get("n", "0")
    if not raw.isdigit() or int(raw) > LOOP_MAX:
        return HttpResponseBadRequest(f"n must be 0-{LOOP_MAX}, got {raw!r}",
                                      content_type="text/plain")
    total = 0
    for i in range(int(raw)):
        total += i
    return HttpResponse(b"loop", content_type="text/plain")


class StaticPage(TemplateView):
    template_name = "bench/static.html"
