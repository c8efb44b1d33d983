"""The web app's URLs. Each role's module (``web/views/<role>.py``) lists its own
``urlpatterns``; every view is decorated with ``web.access.party_page`` except the
public ones (landing, verify, invitations)."""

from django.urls import path

from web.views import brand, common, performer, public, union

app_name = "web"

urlpatterns = [
    path("", common.landing, name="landing"),
    path("app/", common.home, name="home"),
    path("app/colleagues/", common.colleagues, name="colleagues"),
    path("invitations/<str:token>/", common.invitation_accept, name="invitation_accept"),
    *performer.urlpatterns,
    *brand.urlpatterns,
    *union.urlpatterns,
    *public.urlpatterns,
]
