"""Chargers by price: the connectors where a driver would pay at most so much per kWh.

A condition on Connector in SQL, for stations.finder (`StationFilter.connector_q`), so
that a search over 10,000 sites stays a few queries. It follows the selection rule of
billing/tariffs.py exactly: among the assignments for the connector, its charge point or
its site that are valid at `at` (the assignment's and its tariff's validity both), one
for a customer group of the driver beats one for everyone; then connector beats charge
point beats site; then the one that became valid last; then the newest. The winner's
energy price is the one in force at `at`: that of the time-of-use period running then by
the site's clock, else the tariff's base price; VAT included and rounded as
billing.tariffs.price_preview shows it.

Only the price per kWh counts (what a driver compares on a sign); a price per minute or
a start fee is not part of it. A connector without a tariff is left out. The amount is
compared in each tariff's own currency: a network prices in one.

How, so that it stays fast: the rule splits into tiers (group or everyone, times
connector, charge point or site), tried in that order. For each tier uncorrelated
subqueries give the places whose winning assignment (latest valid, newest) has a cheap
enough tariff, and the places the tier decides at all. A connector matches when the
first tier that has an assignment for it says cheap. Which
tariffs are cheap enough is decided here in Python, over the tariffs (few), with the
pricing code's own time-of-use rule; the database compares ids. Each subquery runs once
per search, not once per connector.
"""

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Case, CharField, F, IntegerField, Q, QuerySet, Value, When, Window
from django.db.models.functions import Coalesce, FirstValue, Greatest
from django.utils import timezone

from billing.models import CustomerGroup, Tariff, TariffAssignment

# One rule, one place: validity and the price in force as billing.tariffs has them.
from billing.tariffs import price_in_force, valid_at, with_vat
from stations.finder import StationFilter
from stations.models import Site
from users.models import User

# Stands for "valid since always" when comparing when assignments became valid.
EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
# Most specific first: (the assignment's place field, the same place seen from Connector,
# the place's time zone seen from TariffAssignment).
LEVELS = [
    ("connector", "pk", "connector__charge_point__site__time_zone"),
    ("charge_point", "charge_point", "charge_point__site__time_zone"),
    ("site", "charge_point__site", "site__time_zone"),
]


def station_filter(
    user: User | None,
    *,
    connector_type: str = "",
    min_power_kw: Decimal | None = None,
    available_now: bool = False,
    near: tuple[float, float] | None = None,
    place: str = "",
    max_price: Decimal | None = None,
) -> StationFilter:
    """The finder's filter for a driver's search (the portal's form, the API's query):
    `max_price` per kWh, VAT included, as `user` (None: anyone) would pay it."""
    return StationFilter(
        connector_type=connector_type,
        min_power_kw=min_power_kw,
        available_now=available_now,
        near=near,
        place=place,
        connector_q=None if max_price is None else connectors_priced_at_most(max_price, user),
    )


def connectors_priced_at_most(
    max_gross_per_kwh: Decimal, user: User | None, at: datetime | None = None
) -> Q:
    """Connectors whose energy price for `user` (None: anyone) at `at` (default now),
    VAT included, is at most `max_gross_per_kwh`."""
    at = at or timezone.now()
    cheap = _cheap_tariffs(max_gross_per_kwh, at)
    valid = TariffAssignment.objects.filter(valid_at(at), valid_at(at, "tariff__"))
    whoms = [Q(customer_group__isnull=True)]
    if user is not None and user.is_authenticated:
        groups = list(CustomerGroup.objects.filter(members=user).values_list("pk", flat=True))
        if groups:
            whoms.insert(0, Q(customer_group__in=groups))
    matches = Q(pk__in=[])  # no tier says cheap: nothing
    undecided = Q()  # no more specific tier has an assignment for the connector
    for whom in whoms:
        in_use = _levels_in_use(valid.filter(whom))
        for field, from_connector, time_zone in LEVELS:
            if field not in in_use:
                continue  # a tier without assignments decides nothing: less SQL to build
            tier = valid.filter(whom, **{f"{field}__isnull": False})
            matches |= undecided & _winner_is_cheap(
                tier, field, from_connector, cheap.condition(time_zone)
            )
            undecided &= ~Q(**{f"{from_connector}__in": tier.values(field)})
    return matches


def _levels_in_use(assignments: QuerySet[TariffAssignment]) -> set[str]:
    level = Case(
        When(connector__isnull=False, then=Value("connector")),
        When(charge_point__isnull=False, then=Value("charge_point")),
        default=Value("site"),
        output_field=CharField(),
    )
    levels = assignments.order_by().annotate(level=level).values_list("level", flat=True)
    return set(levels.distinct())


def _winner_is_cheap(
    tier: QuerySet[TariffAssignment], field: str, from_connector: str, cheap: Q
) -> Q:
    """Connectors whose place (`field` of the assignments) has a cheap winner in `tier`.

    A place whose assignments in the tier are all cheap, or all dear, is decided without
    ranking them (most places have one); only places with both are ranked, by a window
    ordered as the rule says. Ranking every place made the search three times slower.
    """
    cheap_places = tier.filter(cheap).values(field)
    dear_places = tier.exclude(cheap).values(field)
    mixed = tier.filter(**{f"{field}__in": cheap_places}).filter(**{f"{field}__in": dear_places})
    earliest = Value(EARLIEST)
    became_valid = Greatest(
        Coalesce("valid_from", earliest), Coalesce("tariff__valid_from", earliest)
    )
    verdict = Case(When(cheap, then=Value(1)), default=Value(0), output_field=IntegerField())
    ranked_cheap = (
        mixed.annotate(
            winner_is_cheap=Window(
                FirstValue(verdict),
                partition_by=[F(field)],
                order_by=[became_valid.desc(), F("pk").desc()],
            )
        )
        # On the window: Django filters after it is computed (an outer query).
        .filter(winner_is_cheap=1)
        .values(field)
    )
    return Q(**{f"{from_connector}__in": cheap_places}) & (
        ~Q(**{f"{from_connector}__in": dear_places}) | Q(**{f"{from_connector}__in": ranked_cheap})
    )


class CheapTariffs:
    """Which tariffs cost at most the amount at `at`: `everywhere` those without time of
    use, `by_zone` those with it, per time zone of the sites (the period in force there)."""

    def __init__(self) -> None:
        self.everywhere: list[int] = []
        self.by_zone: dict[str, list[int]] = {}

    def condition(self, time_zone: str) -> Q:
        """On TariffAssignment; `time_zone` is the path to its place's time zone."""
        cheap = Q(tariff__in=self.everywhere)
        for zone, tariffs in self.by_zone.items():
            cheap |= Q(**{time_zone: zone, "tariff__in": tariffs})
        return cheap


def _cheap_tariffs(max_gross_per_kwh: Decimal, at: datetime) -> CheapTariffs:
    cheap = CheapTariffs()
    tariffs = Tariff.objects.filter(valid_at(at)).prefetch_related("time_of_use")
    zones: list[tuple[str, ZoneInfo]] | None = None
    for tariff in tariffs:
        terms = tariff.terms()
        if not terms.time_of_use:
            if with_vat(terms.price_per_kwh, terms) <= max_gross_per_kwh:
                cheap.everywhere.append(tariff.pk)
            continue
        if zones is None:
            zones = _site_zones()
        for name, zone in zones:
            if price_in_force(terms, zone, at).per_kwh.gross <= max_gross_per_kwh:
                cheap.by_zone.setdefault(name, []).append(tariff.pk)
    if zones is not None and len(zones) == 1:
        # Every site on one clock (the usual network): no need to ask each place's zone.
        cheap.everywhere += cheap.by_zone.pop(zones[0][0], [])
    return cheap


def _site_zones() -> list[tuple[str, ZoneInfo]]:
    zones = []
    for name in Site.objects.order_by().values_list("time_zone", flat=True).distinct():
        try:
            zones.append((name, ZoneInfo(name)))
        except (ZoneInfoNotFoundError, ValueError):
            continue  # billing cannot price a session there either
    return zones
