"""Landing page, the signed-in home, invitations (accept; a party admin invites colleagues)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from common.errors import DomainError, InvalidRequest, NotFound
from web import services
from web.access import party_page
from web.models import Invitation

HOME_OF = {"performer": "web:performer_home", "brand": "web:brand_home", "union": "web:union_home"}


def landing(request):
    return render(request, "web/landing.html", {"party": services.member_party(request.user)})


@party_page()
def home(request):
    target = HOME_OF.get(request.party.kind)
    try:
        return redirect(reverse(target))
    except Exception:  # that role's pages are not installed
        return render(request, "web/home.html", {"party": request.party})


class AcceptForm(forms.Form):
    name = forms.CharField(max_length=150, required=False, label="Your name")
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}), max_length=128,
                               label="Choose a password")
    password2 = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}), max_length=128,
                                label="The password again")

    def clean(self):
        data = super().clean()
        if data.get("password") and data.get("password") != data.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        return data


@require_http_methods(["GET", "POST"])
def invitation_accept(request, token: str):
    try:
        invitation = services.invitation_find(token=token)
    except NotFound as exc:
        raise Http404(exc.message) from None
    form = AcceptForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.invitation_accept(token=token, password=form.cleaned_data["password"],
                                              name=form.cleaned_data["name"])
        except InvalidRequest as exc:
            for field, errors in exc.fields.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        except DomainError as exc:
            raise Http404(exc.message) from None
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome to Doppel. You act for {invitation.party.name}.")
            return redirect("web:home")
    return render(request, "web/invitation_accept.html", {"invitation": invitation, "form": form}, status=200)


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254)
    is_admin = forms.BooleanField(required=False, label="May invite others too")


@party_page()
@require_http_methods(["GET", "POST"])
def colleagues(request):
    membership = request.user.membership
    if not membership.is_admin:
        raise PermissionDenied("Only your party's admins invite colleagues.")
    form = InviteForm(request.POST or None)
    link = None
    if request.method == "POST" and form.is_valid():
        try:
            _, token = services.invitation_create(party=request.party, email=form.cleaned_data["email"],
                                                  is_admin=form.cleaned_data["is_admin"], invited_by=request.user)
        except InvalidRequest as exc:
            for error in exc.fields.get("email", [exc.message]):
                form.add_error("email", error)
        else:
            link = request.build_absolute_uri(reverse("web:invitation_accept", args=[token]))
            services.invitation_send(email=form.cleaned_data["email"], party=request.party, link=link)
            form = InviteForm()
    members = request.party.people.select_related("user").order_by("created_at")
    invitations = Invitation.objects.filter(party=request.party, accepted_at__isnull=True).order_by("-created_at")[:50]
    return render(request, "web/colleagues.html", {"form": form, "link": link, "members": members,
                                                   "invitations": invitations})
