"""The allocation (stations/smart_charging.py), a pure function, by its properties
(hypothesis) and by a few cases a site manager would recognise."""

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from stations.smart_charging import (
    Allocation,
    ConnectorDemand,
    SiteLimit,
    _maximum,
    allocate,
    connector_phases,
    phase_loads,
    tenths,
    transition,
)

T0 = datetime(2026, 12, 1, 8, tzinfo=UTC)
D = Decimal

phase_sets = st.sampled_from([frozenset([1, 2, 3]), frozenset([1]), frozenset([2]), frozenset([3])])
tenth_amps = st.integers(min_value=0, max_value=800).map(lambda t: D(t) / 10)


maybe_amps = st.none() | tenth_amps
connector_fields = st.fixed_dictionaries(
    {
        "phases": phase_sets,
        "max_amps": st.sampled_from([D(6), D(10), D(16), D(32), D("63.5"), D(80)]),
        "priority": st.integers(min_value=0, max_value=2),
        "arrived_at": st.integers(min_value=0, max_value=3600).map(
            lambda s: T0 + timedelta(seconds=s)
        ),
        "running": st.sampled_from([True, True, False]),
        "online": st.sampled_from([True, True, True, False]),
        "rejected": st.sampled_from([False, False, False, True]),
        "previous_amps": maybe_amps,
        "drawn_amps": maybe_amps,
        "cap_amps": st.none() | st.none() | tenth_amps,
    }
)
site_limits = st.builds(
    SiteLimit,
    amps=st.integers(min_value=0, max_value=4000).map(lambda t: D(t) / 10),
    phases=st.sampled_from([1, 3]),
    min_amps=st.sampled_from([D(6), D(8), D(0)]),
    default_amps=st.sampled_from([D(0), D(0), D(6)]),
)


@st.composite
def sites(draw: st.DrawFn) -> tuple[SiteLimit, list[ConnectorDemand]]:
    fields = draw(st.lists(connector_fields, max_size=25))
    return draw(site_limits), [ConnectorDemand(key=f"c{i}", **f) for i, f in enumerate(fields)]


def _managed(site: SiteLimit, cs: list[ConnectorDemand], result: Allocation):
    return [c for c in cs if c.key in result.limits]


def _phases(site: SiteLimit, cs: list[ConnectorDemand]) -> dict:
    return {c.key: connector_phases(c.phases, site) for c in cs}


def _fixed_load(site: SiteLimit, cs: list[ConnectorDemand], result: Allocation) -> dict:
    loads = phase_loads(result.fixed, _phases(site, cs))
    return {p: loads.get(p, D(0)) for p in site.site_phases}


@settings(max_examples=100, deadline=None)
@given(sites())
def test_never_over_the_limit_on_any_phase(case):
    site, cs = case
    result = allocate(site, cs, T0)
    fixed = _fixed_load(site, cs, result)
    for p in site.site_phases:
        if fixed[p] > site.amps:
            # What cannot be changed is over it already: nobody else gets anything there.
            assert all(
                result.limits[c.key] == 0
                for c in _managed(site, cs, result)
                if p in connector_phases(c.phases, site)
            )
        else:
            assert result.load[p] <= site.amps
    assert all(limit >= 0 and limit == limit.quantize(D("0.1")) for limit in result.limits.values())


@settings(max_examples=100, deadline=None)
@given(sites())
def test_everyone_gets_the_minimum_unless_the_site_cannot_serve_them(case):
    site, cs = case
    result = allocate(site, cs, T0)
    minimum, margin = tenths(site.min_amps), tenths(site.lend_margin)
    fixed = _fixed_load(site, cs, result)
    managed = sorted(
        _managed(site, cs, result),
        key=lambda c: (-c.priority, c.arrived_at, str(c.key)),
    )
    served_before: dict[int, int] = dict.fromkeys(site.site_phases, 0)
    for c in managed:
        on = connector_phases(c.phases, site)
        if _maximum(c, minimum, margin) == 0:
            assert result.limits[c.key] == 0  # its own cap pauses it
            continue
        if c.key in result.waiting:
            assert result.limits[c.key] == 0
            # At its turn, some phase of it had less than the minimum left.
            assert any(
                fixed[p] + site.min_amps * served_before[p] + site.min_amps > site.amps for p in on
            )
        else:
            assert result.limits[c.key] >= site.min_amps
            for p in on:
                served_before[p] += 1


@settings(max_examples=100, deadline=None)
@given(sites())
def test_a_higher_priority_below_its_maximum_has_a_phase_no_lower_one_gets_more_on(case):
    site, cs = case
    result = allocate(site, cs, T0)
    minimum, margin = tenths(site.min_amps), tenths(site.lend_margin)
    managed = [c for c in _managed(site, cs, result) if c.key not in result.waiting]
    for high in managed:
        most = _maximum(high, minimum, margin)
        if most == 0 or tenths(result.limits[high.key]) >= most:
            continue
        on = connector_phases(high.phases, site)
        assert any(
            all(
                result.limits[low.key] <= site.min_amps
                for low in managed
                if low.priority < high.priority and p in connector_phases(low.phases, site)
            )
            for p in on
        )


@settings(max_examples=100, deadline=None)
@given(sites())
def test_within_a_priority_the_share_is_fair(case):
    site, cs = case
    result = allocate(site, cs, T0)
    minimum, margin = tenths(site.min_amps), tenths(site.lend_margin)
    served = [c for c in _managed(site, cs, result) if c.key not in result.waiting]
    for a, b in itertools.permutations(served, 2):
        same = a.priority == b.priority and connector_phases(a.phases, site) == connector_phases(
            b.phases, site
        )
        if same and result.limits[a.key] < result.limits[b.key]:
            # The smaller one has all it may have.
            assert tenths(result.limits[a.key]) == _maximum(a, minimum, margin)


@settings(max_examples=100, deadline=None)
@given(sites())
def test_capacity_is_not_left_unused_while_someone_wants_more(case):
    site, cs = case
    result = allocate(site, cs, T0)
    minimum, margin = tenths(site.min_amps), tenths(site.lend_margin)
    served = [c for c in _managed(site, cs, result) if c.key not in result.waiting]
    for c in served:
        if tenths(result.limits[c.key]) >= _maximum(c, minimum, margin):
            continue
        # Below its maximum: some phase of it is full but for the tenths that fair
        # shares in whole tenths leave over (at most a tenth per connector there).
        on = connector_phases(c.phases, site)
        n_on = {p: sum(p in connector_phases(o.phases, site) for o in served) for p in on}
        assert any(site.amps - result.load[p] < D("0.1") * n_on[p] for p in on)


@settings(max_examples=100, deadline=None)
@given(sites(), sites(), st.randoms(use_true_random=False))
def test_lowering_first_then_raising_never_exceeds_the_old_or_new_load(old, new, rnd):
    site, cs = old
    _, other = new
    before = allocate(site, cs, T0).limits
    # The same connectors under another limit and other demands.
    site_after = SiteLimit(amps=new[0].amps, phases=site.phases, min_amps=site.min_amps)
    changed = [
        ConnectorDemand(key=c.key, phases=c.phases, max_amps=o.max_amps, priority=o.priority)
        for c, o in zip(cs, itertools.cycle(other or cs), strict=False)
    ]
    after = allocate(site_after, changed, T0).limits
    phases_of = _phases(site, cs)
    lower, raised = transition(before, after)
    rnd.shuffle(lower)
    rnd.shuffle(raised)
    state = dict(before)
    old_loads, new_loads = phase_loads(before, phases_of), phase_loads(after, phases_of)
    ceiling = {p: max(old_loads.get(p, D(0)), new_loads.get(p, D(0))) for p in site.site_phases}
    for key in lower + raised:
        state[key] = after[key]
        loads = phase_loads(state, phases_of)
        assert all(loads.get(p, D(0)) <= ceiling[p] for p in site.site_phases)
    assert {k: v for k, v in state.items() if k in after} == after


# --- Cases -------------------------------------------------------------------------------


def _running(key: str, minutes: int = 0, **fields) -> ConnectorDemand:
    return ConnectorDemand(key=key, arrived_at=T0 + timedelta(minutes=minutes), **fields)


def test_ten_three_phase_cars_on_63_a_share_it_evenly():
    site = SiteLimit(amps=D(63))
    result = allocate(site, [_running(f"c{i}", i) for i in range(10)], T0)
    assert set(result.limits.values()) == {D("6.3")}
    assert result.waiting == []


def test_when_the_site_cannot_serve_everyone_the_latest_lowest_priority_waits():
    site = SiteLimit(amps=D(17))
    cs = [
        _running("early", 0),
        _running("late", 10),
        _running("vip-late", 20, priority=1),
        _running("later", 30),
    ]
    result = allocate(site, cs, T0)
    assert result.waiting == ["late", "later"]
    assert result.limits["vip-late"] >= D(6) and result.limits["early"] >= D(6)
    assert result.limits["late"] == result.limits["later"] == 0


def test_higher_priority_is_served_first_then_the_rest_shares():
    site = SiteLimit(amps=D(50))
    cs = [_running("fleet", priority=2, max_amps=D(32)), _running("a"), _running("b")]
    result = allocate(site, cs, T0)
    assert result.limits == {"fleet": D(32), "a": D(9), "b": D(9)}


def test_a_car_drawing_less_lends_the_rest_and_takes_it_back_when_it_draws_again():
    site = SiteLimit(amps=D(40))
    lending = _running("full", previous_amps=D(20), drawn_amps=D(4))
    result = allocate(site, [lending, _running("other")], T0)
    assert result.limits == {"full": D(6), "other": D(32)}
    drawing = _running("full", previous_amps=D(6), drawn_amps=D(6))
    result = allocate(site, [drawing, _running("other")], T0)
    assert result.limits == {"full": D(20), "other": D(20)}


def test_one_phase_chargers_on_different_phases_each_get_the_phase_limit():
    site = SiteLimit(amps=D(16))
    cs = [_running(f"L{p}", phases=frozenset([p])) for p in (1, 2, 3)]
    result = allocate(site, cs, T0)
    assert result.limits == {"L1": D(16), "L2": D(16), "L3": D(16)}


def test_an_offline_charger_keeps_its_last_limit_counted_and_a_rejecting_one_its_maximum():
    site = SiteLimit(amps=D(63))
    cs = [
        _running("offline", online=False, previous_amps=D(20)),
        _running("rejecting", rejected=True, max_amps=D(16)),
        _running("other"),
    ]
    result = allocate(site, cs, T0)
    assert result.fixed == {"offline": D(20), "rejecting": D(16)}
    assert result.limits == {"other": D(27)}


def test_idle_connectors_count_at_the_default_and_a_booked_one_as_running():
    site = SiteLimit(amps=D(32), default_amps=D(6))
    cs = [
        ConnectorDemand(key="idle", running=False),
        ConnectorDemand(key="booked", running=False, reserved_from=T0 - timedelta(minutes=1)),
        _running("car"),
    ]
    result = allocate(site, cs, T0)
    assert result.fixed == {"idle": D(6)}
    assert result.limits == {"booked": D(13), "car": D(13)}


def test_a_limit_below_the_sum_of_minimums_is_reported_not_refused():
    result = allocate(SiteLimit(amps=D(10)), [_running("a"), _running("b", 1)], T0)
    assert result.waiting == ["b"] and result.limits == {"a": D(10), "b": D(0)}


def test_a_cap_from_the_scheduler_below_the_minimum_pauses_the_car():
    result = allocate(SiteLimit(amps=D(32)), [_running("a", cap_amps=D(3)), _running("b")], T0)
    assert result.limits == {"a": D(0), "b": D(32)} and result.waiting == []


def test_tenths_a_higher_priority_leaves_over_do_not_go_to_a_lower_one():
    site = SiteLimit(amps=D("25.1"))
    cs = [_running("h1", priority=1), _running("h2", priority=1), _running("low")]
    assert allocate(site, cs, T0).limits == {"h1": D("9.5"), "h2": D("9.5"), "low": D(6)}
