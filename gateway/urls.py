from django.urls import path

from gateway import views

urlpatterns = [
    path("generations", views.GenerationListCreateApi.as_view(), name="generations"),
    path("generations/<str:generation_id>", views.GenerationDetailApi.as_view(), name="generation-detail"),
    path("generations/<str:generation_id>/asset", views.GenerationAssetApi.as_view(), name="generation-asset"),
    path("generations/<str:generation_id>/approve", views.GenerationApproveApi.as_view(),
         name="generation-approve"),
    path("generations/<str:generation_id>/reject", views.GenerationRejectApi.as_view(), name="generation-reject"),
    path("generations/<str:generation_id>/cancel", views.GenerationCancelApi.as_view(), name="generation-cancel"),
    path("verify", views.VerifyApi.as_view(), name="verify"),
    path("webhooks", views.WebhookEndpointListCreateApi.as_view(), name="webhooks"),
    path("webhooks/deliveries", views.WebhookDeliveryListApi.as_view(), name="webhook-deliveries"),
    path("webhooks/<str:endpoint_id>", views.WebhookEndpointDisableApi.as_view(), name="webhook-detail"),
]
