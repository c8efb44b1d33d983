from django.urls import path

from payments import views

urlpatterns = [
    path("payouts/account", views.PayoutAccountApi.as_view(), name="payouts-account"),
    path("payouts", views.PayoutListApi.as_view(), name="payouts"),
    path("billing", views.BillingApi.as_view(), name="billing"),
]
