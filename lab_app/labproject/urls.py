"""URL configuration of the lab app.

`admin/` is kept from the `startproject` default the seed user started from;
the three benchmarked endpoints follow it. Their paths and exact response
bytes are registered in runner/catalog/views.py, which must stay in step with this
file.
"""
from django.contrib import admin
from django.urls import include, path

from bench import io_views, views

urlpatterns = [
    path('admin/', admin.site.urls),
    path('polls/', include('polls.urls')),  # seed 003: only with LAB_DB=postgres
    path('drf/', views.TestView.as_view(), name='drf'),
    path('sync/', views.sync_view, name='sync'),
    path('async/', views.async_view, name='async'),
    path('spin/', views.spin_view, name='spin'),  # lab calibrate's planted cost
    path('spin/async/', views.spin_async_view, name='spin-async'),  # seed 002
    path('loop/', views.loop_view, name='loop'),  # the instructions instrument's planted cost
    path('static-page/', views.StaticPage.as_view(), name='static-page'),  # seed 004
    path('io/sync/fast', io_views.sync_fast, name='io-sync-fast'),
    path('io/sync/slow', io_views.sync_slow, name='io-sync-slow'),
    path('io/async/fast', io_views.async_fast, name='io-async-fast'),
    path('io/async/slow', io_views.async_slow, name='io-async-slow'),
]
