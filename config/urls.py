from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from payments.views import StripeWebhookView

# The admin's sign-in goes through allauth: the same throttling and two-factor step as the web app.
admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's init script as a file (/api/docs/?script=), not
    # inline, so the Content-Security-Policy allows scripts from 'self' only.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("rights.urls")),
    path("api/v1/", include("ledger.urls")),
    path("api/v1/", include("gateway.urls")),
    path("api/v1/", include("payments.urls")),
    path("stripe/webhook", StripeWebhookView.as_view(), name="stripe-webhook"),
    path("accounts/", include("allauth.urls")),
    path("", include("web.urls")),
]

# Errors Django answers itself (no view matched, a crash outside a view) are JSON
# in the API's error shape under /api/.
handler404 = "common.api.exceptions.api_not_found"
handler500 = "common.api.exceptions.api_server_error"
