from django.urls import path

from accounts.api import views

app_name = "accounts-api"

urlpatterns = [
    path("tokens/", views.ApiTokenListView.as_view(), name="token-list"),
    path("tokens/<int:token_id>/", views.ApiTokenDetailView.as_view(), name="token-detail"),
]
