"""The benchmarked views: none of them touches the database.

- TestView: the seed's DRF APIView, verbatim (served at /drf/).
- sync_view: a plain sync Django view (/sync/); under ASGI Django runs it in
  a thread through sync_to_async, as it does the DRF view.
- async_view: an `async def` view (/async/); under ASGI it runs on the event
  loop, under WSGI Django runs it through async_to_sync.

The exact bytes each returns are registered in runner/catalog/views.py.
"""
from django.http import JsonResponse
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
