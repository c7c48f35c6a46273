from __future__ import annotations

import orjson

from devtools.trails import (
    TopicTrail,
    add_record,
    format_trails,
    notable_lines,
    problem_sessions,
    record_kind,
)


def test_record_kind_names_type_outcome_and_reason() -> None:
    assert record_kind(orjson.dumps({"kind": "session_started", "x": 1})) == "session_started"
    letter = orjson.dumps({"kind": "dead_letter", "reason": "UNKNOWN_SESSION"})
    assert record_kind(letter) == "dead_letter/UNKNOWN_SESSION"
    assert record_kind(orjson.dumps({"outcome": "fail", "reason": "EXPIRED"})) == "fail/EXPIRED"


def test_record_kind_of_image_bytes_and_broken_json() -> None:
    assert record_kind(b"\xff\xd8\xff\xe0jpeg") is None
    assert record_kind(None) is None
    assert record_kind(b"{not json") == "undecodable"


def test_add_record_follows_only_the_given_sessions() -> None:
    trails: dict[str, dict[str, TopicTrail]] = {"s1": {}}
    start = orjson.dumps({"kind": "session_started"})
    add_record(trails, "liveness.sessions", b"s1", 1, 40, start)
    add_record(trails, "liveness.sessions", b"s1", 1, 37, orjson.dumps({"kind": "session_ended"}))
    add_record(trails, "liveness.sessions", b"s2", 1, 41, start)
    trail = trails["s1"]["liveness.sessions"]
    assert (trail.count, trail.partitions, trail.first_offset, trail.last_offset) == (2, {1}, 37, 40)
    assert trail.kinds == {"session_started": 1, "session_ended": 1}
    assert "s2" not in trails


def test_changelog_rows_are_counted_without_a_kind() -> None:
    trails: dict[str, dict[str, TopicTrail]] = {"s1": {}}
    add_record(trails, "liveness-verifier-sessions-changelog", b"s1", 0, 5, orjson.dumps({"kind": "x"}))
    assert trails["s1"]["liveness-verifier-sessions-changelog"].kinds == {}


def test_format_trails_shows_committed_offsets_and_silent_sessions() -> None:
    trails: dict[str, dict[str, TopicTrail]] = {"s1": {}, "s2": {}}
    add_record(trails, "liveness.observations", b"s1", 3, 10, orjson.dumps({"kind": "observation"}))
    text = format_trails(trails, {("liveness.observations", 3): 12})
    assert "liveness.observations: 1 on partition 3, offsets 10..10 observationx1 committed[3]=12" in text
    assert "trail of s2:\n  no record on any pipeline topic" in text


def test_problem_sessions_reads_the_ids_of_a_report() -> None:
    problems = ["vk-0008-27 (02-two_faces): no decision", "vk-0011-1e (05-turn_away): ('fail', 'EXPIRED')"]
    assert problem_sessions(problems) == ["vk-0008-27", "vk-0011-1e"]


def test_notable_lines_keep_rebalances_warnings_and_sessions_not_routine_noise() -> None:
    log = "\n".join(
        [
            '{"level":"INFO","message":"Joined group (generation 2)"}',
            '{"level":"WARNING","message":"Timer commit is overlapping"}',
            '{"level":"INFO","message":"fetched 12 records"}',
            '{"level":"INFO","message":"decided vk-0008-27"}',
            '{"level":"ERROR","message":"send failed"}',
        ]
    )
    kept = notable_lines(log, ["vk-0008-27"]).splitlines()
    assert kept == [
        '{"level":"INFO","message":"Joined group (generation 2)"}',
        '{"level":"INFO","message":"decided vk-0008-27"}',
        '{"level":"ERROR","message":"send failed"}',
    ]
    assert notable_lines(log, limit=1) == '{"level":"ERROR","message":"send failed"}'
