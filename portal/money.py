"""The driver's money pages: card, wallet, subscription, API token, statistics.

Thin views over billing (payments, wallet, subscriptions, accounts) and
portal/statistics.py. Every page shows only the logged-in driver's own data. Without
Stripe keys the card pages still answer 200 with the reason and the forms disabled; a
POST that would need Stripe answers 503 with the same message. Stripe out of reach is
a 503 too.
"""

import logging
import uuid
from typing import Any

import stripe
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from billing import accounts, payments, subscriptions, wallet
from billing.models import SubscriptionPlan, WalletEntry
from portal import statistics
from portal.money_forms import ApiTokenForm, PaymentMethodForm, PlanForm, TopUpForm
from users import api_tokens
from users.admin_mfa import lacks_required_second_factor
from users.models import ApiToken, User

logger = logging.getLogger(__name__)

WALLET_ENTRIES = 50
GET_POST = ["GET", "HEAD", "POST"]
TOKEN_PAGE = "portal/money/api_token.html"


def _configured() -> bool:
    """Both keys: the server's to talk to Stripe, the browser's for Stripe.js."""
    return payments.payments_configured() and bool(settings.STRIPE_PUBLISHABLE_KEY)


def _not_configured_message() -> str:
    return _("Card payments are not configured on this site.")


def topup_help() -> str:
    """How else to top up (PORTAL_TOPUP_HELP, the operator's words), else a sentence."""
    return settings.PORTAL_TOPUP_HELP or _(
        "Staff can also credit your wallet, for example after a payment at the desk or by "
        "bank transfer: ask the operator."
    )


def _unreachable_message() -> str:
    return _("The card payment service cannot be reached. Please try again in a moment.")


def _page(
    request: HttpRequest, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    context.setdefault("configured", _configured())
    context.setdefault("not_configured", _not_configured_message())
    context.setdefault("topup_help", topup_help())
    context.setdefault("topup_help_set", bool(settings.PORTAL_TOPUP_HELP))
    response = render(request, template, context, status=status)
    # Balances, cards and tokens: never kept by a shared cache or the back button.
    patch_cache_control(response, private=True, no_store=True)
    return response


# --- 1. Payment methods ---------------------------------------------------------------------


@login_required
@require_http_methods(GET_POST)
def card(request: HttpRequest) -> HttpResponse:
    """The saved card, and how the driver pays (wallet, card or monthly invoice)."""
    user = request.user
    fleet = accounts.fleet_account(user)
    account = accounts.own_account(user)
    context: dict[str, Any] = {"fleet": fleet, "account": account, "card": None, "error": None}
    if _configured():
        context["card"] = payments.saved_card(user)
    form = PaymentMethodForm(
        request.POST if request.method == "POST" else None,
        initial={"payment_method": account.payment_method},
        has_card=context["card"] is not None,
        cards_offered=_configured(),
    )
    context["form"] = form
    if request.method == "POST":
        if fleet is not None:
            # The fleet's account pays (billing.accounts.payer_for): nothing to choose.
            context["error"] = _("Your fleet pays for your charging: ask its administrator.")
            return _page(request, "portal/money/card.html", context, status=403)
        if not form.is_valid():
            return _page(request, "portal/money/card.html", context, status=400)
        account.payment_method = form.cleaned_data["payment_method"]
        account.save(update_fields=["payment_method"])
        messages.success(
            request,
            _("You now pay by: %(method)s.") % {"method": account.get_payment_method_display()},
        )
        return redirect("portal:money-card")
    return _page(request, "portal/money/card.html", context)


@login_required
@require_POST
def add_card(request: HttpRequest) -> HttpResponse:
    """Start saving a card: a SetupIntent, confirmed on this page by Stripe.js."""
    if not _configured():
        return _page(request, "portal/money/card_setup.html", {}, status=503)
    try:
        setup_intent = payments.save_card(request.user)
    except stripe.StripeError:
        logger.exception("SetupIntent for driver %s not created", request.user.pk)
        context = {"error": _unreachable_message()}
        return _page(request, "portal/money/card_setup.html", context, status=503)
    context = {
        # Read by the page's script (json_script), never put into the HTML as text.
        "stripe_config": {
            "publishableKey": settings.STRIPE_PUBLISHABLE_KEY,
            "intent": "setup",
            "clientSecret": setup_intent.client_secret,
            "email": request.user.email,
            "returnUrl": request.build_absolute_uri(reverse("portal:money-card-done"))
            + f"?setup_intent={setup_intent.id}",
        }
    }
    return _page(request, "portal/money/card_setup.html", context)


@login_required
@require_safe
def card_done(request: HttpRequest) -> HttpResponse:
    """Where Stripe.js returns: make the confirmed card the one charged."""
    if not _configured():
        return _page(request, "portal/money/card_setup.html", {}, status=503)
    setup_intent_id = request.GET.get("setup_intent", "")
    try:
        if not payments.setup_intent_belongs_to(request.user, setup_intent_id):
            context = {"error": _("This card setup is not yours, or it does not exist.")}
            return _page(request, "portal/money/card_setup.html", context, status=404)
        saved = payments.card_saved(setup_intent_id)
    except stripe.StripeError:
        logger.exception("SetupIntent %s not checked", setup_intent_id)
        context = {"error": _unreachable_message()}
        return _page(request, "portal/money/card_setup.html", context, status=503)
    if saved:
        messages.success(request, _("Your card is saved. It is the one charged from now on."))
    else:
        messages.error(request, _("The card was not saved: please try again."))
    return redirect("portal:money-card")


# --- 2. Wallet ------------------------------------------------------------------------------


def _wallet_context(user: User, form: TopUpForm) -> dict[str, Any]:
    return {
        "form": form,
        "balance": wallet.wallet_balance(user),
        "entries": WalletEntry.objects.filter(user=user).order_by("-created_at", "-id")[
            :WALLET_ENTRIES
        ],
        "minimum": payments.MINIMUM_CHARGE,
    }


@login_required
@require_http_methods(GET_POST)
def wallet_page(request: HttpRequest) -> HttpResponse:
    """Balance, entries, and a top-up by card."""
    user = request.user
    if request.method != "POST":
        context = _wallet_context(user, TopUpForm())
        context["returned"] = "paid" in request.GET
        return _page(request, "portal/money/wallet.html", context)
    form = TopUpForm(request.POST)
    context = _wallet_context(user, form)
    if not _configured():
        return _page(request, "portal/money/wallet.html", context, status=503)
    if not form.is_valid():
        return _page(request, "portal/money/wallet.html", context, status=400)
    # The driver's id in the key: another driver's key can never collide with it.
    key = f"portal-topup:{user.pk}:{form.cleaned_data['idempotency_key']}"
    try:
        intent = payments.top_up_wallet(user, form.cleaned_data["topup"], idempotency_key=key)
    except payments.PaymentError as error:
        # A new key for the next try: under this one the decline is final (a repeated
        # key answers with the first outcome), and the driver may fix the card first.
        retry = request.POST.copy()
        retry["idempotency_key"] = str(uuid.uuid4())
        context["form"] = form = TopUpForm(retry)
        form.is_valid()
        form.add_error(None, str(error))
        return _page(request, "portal/money/wallet.html", context, status=400)
    except stripe.StripeError:
        logger.exception("Top-up of driver %s not made", user.pk)
        context["error"] = _unreachable_message()
        return _page(request, "portal/money/wallet.html", context, status=503)
    if intent.status in ("succeeded", "processing"):
        messages.success(
            request,
            _(
                "Your card was charged %(amount)s SEK. The wallet is credited as soon as Stripe "
                "confirms the payment, usually within a minute."
            )
            % {"amount": form.cleaned_data["topup"]},
        )
        return redirect("portal:money-wallet")
    # No saved card, or the bank wants the driver to confirm (3-D Secure): Stripe.js.
    context = {
        "amount": form.cleaned_data["topup"],
        "needs_card": intent.status == "requires_payment_method",
        "stripe_config": {
            "publishableKey": settings.STRIPE_PUBLISHABLE_KEY,
            "clientSecret": intent.client_secret,
            "email": user.email,
            "needsCard": intent.status == "requires_payment_method",
            "returnUrl": request.build_absolute_uri(reverse("portal:money-wallet")) + "?paid=1",
        },
    }
    return _page(request, "portal/money/wallet_pay.html", context)


# --- 3. API token ---------------------------------------------------------------------------


@login_required
@require_http_methods(GET_POST)
def api_token(request: HttpRequest) -> HttpResponse:
    """The driver's token for apps and integrations (the API's token auth).

    The key of a new token is shown on the answer to the POST that made it, once: only
    its hash is kept (users/api_tokens.py).
    """
    user = request.user
    token = ApiToken.objects.filter(user=user).first()
    if request.method != "POST":
        return _page(request, TOKEN_PAGE, {"token": token, "form": ApiTokenForm()})
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        error = _("Unknown action.") if "action" in form.errors else form.errors["days"][0]
        context = {"token": token, "form": ApiTokenForm(), "error": error}
        return _page(request, TOKEN_PAGE, context, status=400)
    action = form.cleaned_data["action"]
    if action == "delete":
        ApiToken.objects.filter(user=user).delete()
        messages.success(
            request, _("Your API token is deleted: apps using it no longer have access.")
        )
        return redirect("portal:money-api-token")
    if action == "create" and token is not None:
        # A double click is not a rotation.
        return redirect("portal:money-api-token")
    if lacks_required_second_factor(user):
        # Else a stolen staff password alone would make a token that outlives the factor
        # the staff member sets up later.
        error = _("Set up a second factor at /accounts/2fa/ before you make an API token.")
        context = {"token": token, "form": ApiTokenForm(), "error": error}
        return _page(request, TOKEN_PAGE, context, status=403)
    token, key = api_tokens.issue(user, form.cleaned_data["days"])
    context = {"token": token, "key": key, "form": ApiTokenForm(), "replaced": action == "rotate"}
    return _page(request, TOKEN_PAGE, context)


# --- 4. Subscription ------------------------------------------------------------------------


def _plans() -> list[dict[str, Any]]:
    plans = SubscriptionPlan.objects.filter(is_active=True).exclude(stripe_price_id="")
    return [{"plan": plan, "monthly": subscriptions.monthly_amount(plan)} for plan in plans]


def _subscription_context(user: User, **extra: Any) -> dict[str, Any]:
    context = {
        "plans": _plans(),
        "subscription": subscriptions.active_subscription(user),
        "error": None,
        "no_card": False,
    }
    context.update(extra)
    return context


@login_required
@require_safe
def subscription(request: HttpRequest) -> HttpResponse:
    return _page(request, "portal/money/subscription.html", _subscription_context(request.user))


@login_required
@require_POST
def subscription_action(request: HttpRequest, action: str) -> HttpResponse:
    """subscribe, change or cancel (at the end of the period paid for)."""
    user = request.user
    if action not in ("subscribe", "change", "cancel"):
        raise Http404
    if not _configured():
        context = _subscription_context(user)
        return _page(request, "portal/money/subscription.html", context, status=503)
    current = subscriptions.active_subscription(user)
    form = PlanForm(request.POST)
    try:
        if action == "cancel":
            if current is None:
                raise payments.PaymentError(_("You have no subscription to cancel."))
            subscriptions.cancel(current, at_period_end=True)
            message = _("Your subscription ends with the current period; until then it applies.")
        elif not form.is_valid():
            raise payments.PaymentError(_("This plan cannot be subscribed to."))
        elif action == "subscribe":
            subscriptions.subscribe(user, form.cleaned_data["plan"])
            message = _("You now subscribe to %(plan)s.") % {"plan": form.cleaned_data["plan"]}
        else:  # change
            if current is None:
                raise payments.PaymentError(_("You have no subscription to change."))
            subscriptions.change_plan(current, form.cleaned_data["plan"])
            message = _("Your plan is now %(plan)s.") % {"plan": form.cleaned_data["plan"]}
    except payments.PaymentError as error:
        context = _subscription_context(
            user, error=str(error), no_card=isinstance(error, payments.NoCardOnFile)
        )
        return _page(request, "portal/money/subscription.html", context, status=400)
    except stripe.StripeError:
        logger.exception("Subscription %s of driver %s failed", action, user.pk)
        context = _subscription_context(user, error=_unreachable_message())
        return _page(request, "portal/money/subscription.html", context, status=503)
    messages.success(request, message)
    return redirect("portal:money-subscription")


# --- 5. Statistics --------------------------------------------------------------------------


@login_required
@require_safe
def statistics_page(request: HttpRequest) -> HttpResponse:
    months = statistics.monthly(request.user)
    context = {"months": months, "totals": statistics.total(months)}
    return _page(request, "portal/money/statistics.html", context)
