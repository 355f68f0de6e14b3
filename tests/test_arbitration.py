"""Wake arbitration rules (pure logic, no Ray): windows per zone, loudest wins, score tie-break,
duplicates, leaving, bad input. The clock is a number passed in."""

from __future__ import annotations

import math
import random

import pytest

from roomvoice.events import WakeClaim, WakeDecision
from roomvoice.rooms.arbitration import ArbitrationBook, check_claim, pick_winner

WINDOW_S = 0.2
TIE_DB = 1.0


def claim(room: str, level: float, score: float = 0.8, zone: str = "home", n: int = 0) -> WakeClaim:
    return WakeClaim(room=room, zone=zone, score=score, level_dbfs=level, audio_time_s=100.0 + n,
                     claim_id=f"{room}:1:{n}")


def close_all(book: ArbitrationBook) -> list[WakeDecision]:
    """Decisions of every open window, taken at the book's own deadlines (as the actor does)."""
    out: list[WakeDecision] = []
    while (deadline := book.next_deadline()) is not None:
        out += book.due(deadline)
    return out


def test_random_wakes_loudest_room_wins_every_time():
    rng = random.Random(20240607)
    book = ArbitrationBook(WINDOW_S, TIE_DB)
    rooms = ["kitchen", "office", "living_room", "bedroom"]
    t = 1000.0
    for wake in range(40):
        n_rooms = rng.randint(2, 4)
        heard = rng.sample(rooms, n_rooms)
        loud = rng.uniform(-35.0, -10.0)
        levels = {heard[0]: loud, **{r: loud - rng.uniform(3.0, 15.0) for r in heard[1:]}}
        delays = {r: rng.uniform(0.0, 0.080) for r in heard}
        first = min(delays.values())
        for room in sorted(heard, key=delays.get):
            # the loudest room's score is not always the highest: the level decides
            book.submit(claim(room, levels[room], rng.uniform(0.5, 1.0), n=wake), t + delays[room])
            assert book.due(t + delays[room]) == []  # nothing closes before the window's end
        assert book.open_windows() == 1 and book.waiting() == n_rooms
        deadline = book.next_deadline()
        assert deadline == pytest.approx(t + first + WINDOW_S)
        assert book.due(deadline - 1e-6) == []
        decisions = book.due(deadline)
        assert len(decisions) == n_rooms and {d.room for d in decisions} == set(heard)
        winners = [d for d in decisions if d.won]
        assert [w.room for w in winners] == [heard[0]], (wake, levels)
        assert all(d.winner == heard[0] and d.rule == "level" for d in decisions)
        assert all(d.contenders[0] == heard[0] and set(d.contenders) == set(heard) for d in decisions)
        # decided_after_s: from each claim's receipt to the close, on the arbiter's clock
        for d in decisions:
            assert d.decided_after_s == pytest.approx(first + WINDOW_S - delays[d.room])
        assert book.waiting() == 0 and book.next_deadline() is None
        t += rng.uniform(1.0, 5.0)
    assert book.windows_total == 40 and book.decisions_by_rule["level"] == book.claims_total


def test_contenders_ranked_loudest_first():
    book = ArbitrationBook(WINDOW_S, TIE_DB)
    for i, (room, level) in enumerate([("a", -30.0), ("b", -12.0), ("c", -20.0)]):
        book.submit(claim(room, level), 10.0 + 0.01 * i)
    decisions = close_all(book)
    assert decisions[0].contenders == ("b", "c", "a")
    assert [d.room for d in decisions] == ["a", "b", "c"]  # in order of receipt


def test_lone_claim_is_alone():
    book = ArbitrationBook(WINDOW_S, TIE_DB)
    book.submit(claim("kitchen", -40.0, 0.55), 5.0)
    (d,) = close_all(book)
    assert (d.won, d.winner, d.rule, d.contenders, d.zone) == (True, "kitchen", "alone", ("kitchen",), "home")
    assert d.decided_after_s == pytest.approx(WINDOW_S)


def test_zones_never_compete():
    book = ArbitrationBook(WINDOW_S, TIE_DB)
    book.submit(claim("kitchen", -10.0, zone="down"), 1.00)
    book.submit(claim("bedroom", -30.0, zone="up"), 1.01)
    book.submit(claim("office", -20.0, zone="up"), 1.05)
    book.submit(claim("hall", -25.0, zone="down"), 1.10)
    assert book.open_windows() == 2
    by_room = {d.room: d for d in close_all(book)}
    assert by_room["kitchen"].won and by_room["kitchen"].rule == "level" and by_room["kitchen"].zone == "down"
    assert not by_room["hall"].won and by_room["hall"].winner == "kitchen"
    assert by_room["office"].won and by_room["office"].zone == "up"
    assert not by_room["bedroom"].won and by_room["bedroom"].contenders == ("office", "bedroom")


def test_zone_windows_close_at_their_own_deadlines():
    book = ArbitrationBook(WINDOW_S, TIE_DB)
    book.submit(claim("kitchen", -10.0, zone="down"), 1.0)
    book.submit(claim("bedroom", -30.0, zone="up"), 1.1)
    assert book.next_deadline() == pytest.approx(1.2)
    assert [d.room for d in book.due(1.25)] == ["kitchen"]
    assert book.next_deadline() == pytest.approx(1.3)
    assert [d.room for d in book.due(1.3)] == ["bedroom"]


def test_levels_within_tie_margin_go_to_higher_score():
    book = ArbitrationBook(WINDOW_S, TIE_DB)
    book.submit(claim("kitchen", -20.0, score=0.60), 1.00)
    book.submit(claim("office", -20.8, score=0.95), 1.02)   # 0.8 dB quieter: a tie, better score
    book.submit(claim("hall", -26.0, score=0.99), 1.03)     # far quieter: out of the tie band
    decisions = {d.room: d for d in close_all(book)}
    assert decisions["office"].won and decisions["office"].rule == "score"
    assert not decisions["kitchen"].won and not decisions["hall"].won
    assert decisions["kitchen"].contenders == ("office", "kitchen", "hall")


def test_pick_winner_rules_and_determinism():
    a, b = claim("a", -20.0, 0.7), claim("b", -21.5, 0.9)
    assert pick_winner([a, b], 1.0) == (a, "level")
    assert pick_winner([b, a], 2.0) == (b, "score")
    assert pick_winner([a], 1.0) == (a, "alone")
    # identical level and score: the room name that sorts first, whatever the order
    x, y = claim("x", -20.0, 0.8), claim("y", -20.0, 0.8)
    assert pick_winner([y, x], 1.0)[0] is x and pick_winner([x, y], 1.0)[0] is x
    # equal scores inside the tie band: the louder one
    p, q = claim("p", -20.5, 0.8), claim("q", -20.0, 0.8)
    assert pick_winner([p, q], 1.0) == (q, "score")
    with pytest.raises(ValueError, match="claims"):
        pick_winner([], 1.0)
    with pytest.raises(ValueError, match="one claim per room"):
        pick_winner([a, claim("a", -10.0, n=1)], 1.0)


def test_claim_just_after_the_window_opens_a_new_one():
    book = ArbitrationBook(WINDOW_S, TIE_DB)
    book.submit(claim("kitchen", -30.0), 1.0)
    book.submit(claim("office", -10.0), 1.0 + WINDOW_S - 0.001)   # just inside
    book.submit(claim("hall", -5.0), 1.0 + WINDOW_S)              # at the close: next window
    assert book.open_windows() == 2
    first = book.due(1.0 + WINDOW_S)
    assert {d.room for d in first} == {"kitchen", "office"} and [d.room for d in first if d.won] == ["office"]
    (second,) = book.due(1.0 + 2 * WINDOW_S)
    assert second.room == "hall" and second.won and second.rule == "alone"


def test_claim_after_close_but_before_due_is_not_joined():
    book = ArbitrationBook(WINDOW_S, TIE_DB)
    book.submit(claim("kitchen", -30.0), 1.0)
    book.submit(claim("office", -10.0), 1.5)  # the first window closed at 1.2 but nobody asked yet
    decisions = book.due(1.5)
    assert [(d.room, d.rule) for d in decisions] == [("kitchen", "alone")]
    assert book.next_deadline() == pytest.approx(1.7)


def test_duplicate_claim_does_not_compete_twice():
    book = ArbitrationBook(WINDOW_S, TIE_DB)
    book.submit(claim("kitchen", -15.0, n=0), 1.00)
    book.submit(claim("office", -25.0, n=0), 1.02)
    book.submit(claim("kitchen", -14.0, n=1), 1.10)   # second wake within the cooldown
    book.submit(claim("office", -5.0, n=1), 1.12)     # louder duplicate: still does not compete
    decisions = {d.claim_id: d for d in close_all(book)}
    assert len(decisions) == 4
    assert decisions["kitchen:1:0"].won and decisions["kitchen:1:0"].rule == "level"
    for dup in ("kitchen:1:1", "office:1:1"):
        d = decisions[dup]
        assert (d.won, d.winner, d.rule) == (False, "kitchen", "duplicate")
        assert d.contenders == ("kitchen", "office")
    assert not decisions["office:1:0"].won and decisions["office:1:0"].rule == "level"
    assert sum(d.won for d in decisions.values()) == 1


def test_lone_room_duplicate():
    book = ArbitrationBook(WINDOW_S, TIE_DB)
    book.submit(claim("kitchen", -15.0, n=0), 1.00)
    book.submit(claim("kitchen", -15.0, n=1), 1.05)
    first, dup = close_all(book)
    assert (first.won, first.rule) == (True, "alone")
    assert (dup.won, dup.rule, dup.winner) == (False, "duplicate", "kitchen")


def test_same_claim_id_twice_is_refused():
    book = ArbitrationBook(WINDOW_S, TIE_DB)
    book.submit(claim("kitchen", -15.0), 1.0)
    with pytest.raises(ValueError, match="claim_id"):
        book.submit(claim("kitchen", -15.0), 1.01)
    close_all(book)
    book.submit(claim("kitchen", -15.0), 2.0)  # decided ids may come back (a new incarnation's counter)


def test_leave_mid_window():
    book = ArbitrationBook(WINDOW_S, TIE_DB)
    book.submit(claim("kitchen", -10.0, n=0), 1.00)
    book.submit(claim("office", -20.0), 1.02)
    book.submit(claim("kitchen", -10.0, n=1), 1.05)
    assert sorted(book.leave("kitchen")) == ["kitchen:1:0", "kitchen:1:1"]
    (d,) = close_all(book)
    assert (d.room, d.won, d.rule, d.contenders) == ("office", True, "alone", ("office",))
    assert book.waiting() == 0


def test_leave_of_the_only_claimant_leaves_nothing_to_decide():
    book = ArbitrationBook(WINDOW_S, TIE_DB)
    book.submit(claim("kitchen", -10.0), 1.0)
    assert book.leave("kitchen") == ["kitchen:1:0"]
    assert book.next_deadline() is None and book.due(5.0) == [] and book.open_windows() == 0
    assert book.leave("nobody") == []
    book.submit(claim("kitchen", -10.0), 6.0)  # its claim id is free again
    assert [d.rule for d in close_all(book)] == ["alone"]


@pytest.mark.parametrize(("changes", "field"), [
    ({"level_dbfs": math.nan}, "level_dbfs"),
    ({"level_dbfs": math.inf}, "level_dbfs"),
    ({"level_dbfs": "loud"}, "level_dbfs"),
    ({"score": math.nan}, "score"),
    ({"score": 1.5}, "score"),
    ({"score": -0.1}, "score"),
    ({"room": ""}, "room"),
    ({"room": "  "}, "room"),
    ({"zone": ""}, "zone"),
    ({"claim_id": ""}, "claim_id"),
])
def test_bad_claims_are_refused_naming_the_field(changes, field):
    import dataclasses

    bad = dataclasses.replace(claim("kitchen", -20.0), **changes)
    with pytest.raises(ValueError, match=rf"^{field}:"):
        check_claim(bad)
    book = ArbitrationBook(WINDOW_S, TIE_DB)
    with pytest.raises(ValueError, match=rf"^{field}:"):
        book.submit(bad, 1.0)
    assert book.waiting() == 0 and book.open_windows() == 0 and book.claims_total == 0


def test_not_a_claim_and_bad_settings():
    with pytest.raises(ValueError, match="claim"):
        check_claim({"room": "kitchen"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="window_s"):
        ArbitrationBook(-0.1, TIE_DB)
    with pytest.raises(ValueError, match="level_tie_db"):
        ArbitrationBook(WINDOW_S, math.nan)
    with pytest.raises(ValueError, match="now_s"):
        ArbitrationBook(WINDOW_S, TIE_DB).submit(claim("kitchen", -20.0), math.nan)
    assert check_claim(claim("kitchen", -20.0, score=1.0)).score == 1.0


def test_zero_window_decides_each_claim_alone():
    book = ArbitrationBook(0.0, TIE_DB)
    book.submit(claim("kitchen", -10.0), 1.0)
    book.submit(claim("office", -5.0), 1.0)
    assert [(d.room, d.rule) for d in book.due(1.0)] == [("kitchen", "alone"), ("office", "alone")]


def test_a_late_claim_of_the_same_wake_loses_to_the_window_it_missed():
    """Under a stalled CPU one room's claim can reach the arbiter after the window of that wake closed:
    within late_s it loses to that window's winner (one answer per wake) instead of winning alone."""
    from roomvoice.rooms.arbitration import ArbitrationBook

    book = ArbitrationBook(0.2, 1.0, late_s=1.0)
    book.submit(WakeClaim("kitchen", "home", 0.9, -20.0, 5.0, "k1"), 10.0)
    book.submit(WakeClaim("office", "home", 0.9, -30.0, 5.0, "o1"), 10.05)
    assert {d.claim_id: d.won for d in book.due(10.2)} == {"k1": True, "o1": False}
    book.submit(WakeClaim("den", "home", 0.95, -10.0, 5.0, "d1"), 10.7)  # louder, but 0.5 s late
    [late] = book.due(10.7)
    assert (late.won, late.winner, late.rule) == (False, "kitchen", "late")
    book.submit(WakeClaim("garage", "cellar", 0.9, -20.0, 5.0, "g1"), 10.7)  # another zone: its own wake
    [g] = book.due(10.9)
    assert g.won and g.rule == "alone"
    book.submit(WakeClaim("kitchen", "home", 0.9, -20.0, 9.0, "k2"), 10.8)  # the winner's next wake
    book.submit(WakeClaim("den", "home", 0.9, -25.0, 9.0, "d2"), 12.5)  # past late_s: a new wake
    decisions = {d.claim_id: d for d in book.due(13.0)}
    assert decisions["k2"].won and decisions["k2"].rule == "alone"
    assert decisions["d2"].won and decisions["d2"].rule == "alone"
