from django.urls import path

from accounts.api import views

app_name = "accounts-api"

_business = "businesses/<int:business_id>/"

urlpatterns = [
    path("tokens/", views.ApiTokenListView.as_view(), name="token-list"),
    path("tokens/<int:token_id>/", views.ApiTokenDetailView.as_view(), name="token-detail"),
    path("businesses/", views.BusinessListView.as_view(), name="business-list"),
    path(_business, views.BusinessDetailView.as_view(), name="business-detail"),
    path(_business + "members/", views.MemberListView.as_view(), name="member-list"),
    path(_business + "members/<int:member_id>/", views.MemberDetailView.as_view(), name="member-detail"),
    path("invitations/accept/", views.InvitationAcceptView.as_view(), name="invitation-accept"),
]
