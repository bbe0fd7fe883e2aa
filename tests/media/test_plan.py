"""The forwarding plan: layouts, one-way video, blocks and the participant cap."""

import pytest

from media.plan import MAX_PARTICIPANTS, Receives, RoomPolicy, can_join, compute_plan

pytestmark = pytest.mark.timeout(10)

HOST, COHOST, G1, G2 = "host", "cohost", "g1", "g2"
PRESENT = {HOST, COHOST, G1, G2}


def plan_for(**kw):
    return compute_plan(RoomPolicy(hosts={HOST, COHOST}, **kw), PRESENT)


@pytest.mark.parametrize("layout", ["tiles", "host_large"])
def test_tiles_and_host_large_forward_everyone_to_everyone_else(layout):
    plan = plan_for(layout=layout)
    for r in PRESENT:
        others = frozenset(PRESENT - {r})
        assert plan[r] == Receives(audio=others, video=others)


def test_nobody_receives_own_media_in_any_layout():
    for layout in ["tiles", "host_large", "host_only"]:
        for one_way in (False, True):
            plan = plan_for(layout=layout, one_way_video=one_way)
            for r, got in plan.items():
                assert r not in got.audio and r not in got.video


def test_host_only_guests_get_only_hosts_and_hosts_get_everyone():
    plan = plan_for(layout="host_only")
    for g in (G1, G2):
        assert plan[g].video == {HOST, COHOST}
        assert plan[g].audio == {HOST, COHOST}
    assert plan[HOST].video == {COHOST, G1, G2}
    assert plan[HOST].audio == {COHOST, G1, G2}


def test_one_way_video_guests_get_no_video_but_keep_audio():
    plan = plan_for(one_way_video=True)
    for g in (G1, G2):
        assert plan[g].video == frozenset()
        assert plan[g].audio == PRESENT - {g}
    assert plan[HOST].video == {COHOST, G1, G2}
    assert plan[COHOST].video == {HOST, G1, G2}


def test_audio_blocked_guest_is_heard_by_nobody_but_still_sees_and_hears():
    plan = plan_for(audio_blocked={G1})
    for r in PRESENT - {G1}:
        assert G1 not in plan[r].audio
        assert G1 in plan[r].video
    assert plan[G1].audio == PRESENT - {G1}


def test_video_blocked_guest_is_seen_by_nobody_but_still_heard():
    plan = plan_for(video_blocked={G2})
    for r in PRESENT - {G2}:
        assert G2 not in plan[r].video
        assert G2 in plan[r].audio
    assert plan[G2].video == PRESENT - {G2}


def test_blocked_host_is_blocked_too():
    plan = plan_for(layout="host_only", audio_blocked={HOST}, video_blocked={HOST})
    assert plan[G1] == Receives(audio={COHOST}, video={COHOST})


def test_blocks_of_absent_participants_are_harmless():
    plan = plan_for(audio_blocked={"gone"}, video_blocked={"gone"})
    assert plan[G1].audio == PRESENT - {G1}


def test_empty_and_single_rooms():
    assert compute_plan(RoomPolicy(), set()) == {}
    assert compute_plan(RoomPolicy(), {"a"}) == {"a": Receives()}


def test_unknown_layout_is_refused():
    with pytest.raises(ValueError):
        RoomPolicy(layout="cinema")


def test_cap_of_max_participants():
    present = {f"p{i}" for i in range(MAX_PARTICIPANTS - 1)}
    assert can_join(present, "new")
    present.add("p_last")
    assert len(present) == MAX_PARTICIPANTS
    assert not can_join(present, "new")
    assert can_join(present, "p_last")  # a rejoin is not a new participant


def test_full_team_training_tiles_room_has_32_sources_per_receiver():
    present = {f"p{i}" for i in range(33)}
    plan = compute_plan(RoomPolicy(), present)
    assert all(len(r.video) == 32 and len(r.audio) == 32 for r in plan.values())


def test_breakout_groups_only_hear_and_see_their_own_group():
    from media.plan import RoomPolicy, compute_plan

    policy = RoomPolicy(hosts={"h"}, groups={"a": "Group 1", "b": "Group 1", "c": "Group 2", "h": "Group 2"})
    plan = compute_plan(policy, {"a", "b", "c", "d", "h"})
    assert plan["a"].audio == {"b"} and plan["a"].video == {"b"}
    assert plan["c"].audio == {"h"} and plan["h"].video == {"c"}  # the visiting host is in group 2
    assert plan["d"].audio == frozenset() and plan["d"].video == frozenset()  # alone in the main room


def test_screen_goes_to_everyone_in_the_sharers_group():
    from media.plan import RoomPolicy, screen_receivers

    policy = RoomPolicy(layout="host_only", hosts={"h"}, screen="g1", groups={"g3": "Group 1"})
    assert screen_receivers(policy, {"h", "g1", "g2", "g3"}) == {"h", "g2"}
    assert screen_receivers(RoomPolicy(), {"h"}) == frozenset()


def test_policy_message_carries_groups_and_screen():
    from media.messages import PolicyMsg, encode, parse

    line = encode(PolicyMsg(room="1", layout="tiles", one_way_video=False, groups={"a": "G"}, screen="a"))
    msg = parse(line)
    assert msg.groups == {"a": "G"} and msg.screen == "a"
    import pytest

    from media.messages import MessageError

    with pytest.raises(MessageError):
        parse(b'{"type":"policy","room":"1","policy":{"groups":{"a":5}}}')
