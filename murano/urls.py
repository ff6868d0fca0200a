from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts import views as accounts_views
from core import api
from murano import views

handler400 = api.bad_request
handler404 = api.page_not_found
handler500 = api.server_error

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    # Web UI: log in/out, password change and reset; connectors and their tabs.
    path("accounts/login/", accounts_views.LoginView.as_view(), name="login"),  # throttled
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("connectors/", include("connectors.urls")),
    path("connectors/", include("devices.urls")),
    path("connectors/", include("connectors.urls_content")),
    path("connectors/", include("firmware.urls")),
    path("connectors/", include("claiming.urls")),
    path("connectors/", include("portal.manage_urls")),
    path("connectors/", include("integrations.urls")),
    path("api/v1/", include("connectors.api.urls")),
    path("api/v1/", include("devices.api.urls")),
    path("api/v1/", include("accounts.api.urls")),
    path("api/v1/", include("jobs.api.urls")),
    path("api/v1/", include("firmware.api.urls")),
    path("api/v1/", include("claiming.api.management_urls")),
    path("api/v1/", include("portal.api.urls")),
    path("api/v1/", include("integrations.api.urls")),
    path("api:1/", include("devices.api.device2_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file of its own (?script): no inline code.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api/swagger_ui.html"),
        name="api-docs",
    ),
]
