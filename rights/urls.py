from django.urls import path

from rights import views

urlpatterns = [
    path("contracts", views.ContractListCreateApi.as_view(), name="contracts"),
    path("contracts/<str:contract_id>", views.ContractDetailApi.as_view(), name="contract-detail"),
    path("contracts/<str:contract_id>/accept", views.contract_action_view("accept"), name="contract-accept"),
    path("contracts/<str:contract_id>/suspend", views.contract_action_view("suspend"), name="contract-suspend"),
    path("contracts/<str:contract_id>/resume", views.contract_action_view("resume"), name="contract-resume"),
    path("contracts/<str:contract_id>/terminate", views.contract_action_view("terminate"),
         name="contract-terminate"),
    path("parties/me", views.PartyMeApi.as_view(), name="party-me"),
    path("parties/me/portrait", views.PortraitUploadApi.as_view(), name="party-portrait"),
    path("parties/<str:party_id>", views.PartyDetailApi.as_view(), name="party-detail"),
    path("performers", views.PerformerListApi.as_view(), name="performers"),
    path("keys", views.ApiKeyListCreateApi.as_view(), name="keys"),
    path("keys/<str:key_id>/revoke", views.ApiKeyRevokeApi.as_view(), name="key-revoke"),
]
