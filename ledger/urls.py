from django.urls import path

from ledger import views

urlpatterns = [
    path("ledger/transactions", views.LedgerTransactionListApi.as_view(), name="ledger-transactions"),
    path("ledger/balances", views.LedgerBalanceListApi.as_view(), name="ledger-balances"),
    path("ledger/tree-head", views.LedgerTreeHeadApi.as_view(), name="ledger-tree-head"),
    path("ledger/proofs/inclusion", views.LedgerInclusionProofApi.as_view(), name="ledger-inclusion-proof"),
    path("ledger/proofs/consistency", views.LedgerConsistencyProofApi.as_view(), name="ledger-consistency-proof"),
    path("ledger/statements", views.LedgerStatementApi.as_view(), name="ledger-statements"),
    path("usage", views.UsageReportApi.as_view(), name="usage"),
    path("sales", views.SaleCreateApi.as_view(), name="sales"),
]
