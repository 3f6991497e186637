"""URL configuration of the lab app.

`admin/` is kept from the `startproject` default the seed user started from;
the three benchmarked endpoints follow it. Their paths and exact response
bytes are registered in runner/views.py, which must stay in step with this
file.
"""
from django.contrib import admin
from django.urls import path

from bench import views

urlpatterns = [
    path('admin/', admin.site.urls),
    path('drf/', views.TestView.as_view(), name='drf'),
    path('sync/', views.sync_view, name='sync'),
    path('async/', views.async_view, name='async'),
]
