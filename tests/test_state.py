"""The voice state machine, as pure code."""

import pytest

from roomvoice.events import VoiceState as S
from roomvoice.rooms.state import ALLOWED, InvalidTransition, VoiceStateMachine


def test_full_turn_emits_every_transition_with_audio_time():
    events = []
    m = VoiceStateMachine("kitchen", on_event=events.append)
    m.wake(1.04)
    m.speech_started(1.6)
    m.end_of_speech(3.2)
    m.transcribed(3.2)
    m.speaking(3.2)
    m.done(3.2)
    assert [(e.old, e.new) for e in events] == [
        (S.IDLE, S.LISTENING), (S.LISTENING, S.RECORDING), (S.RECORDING, S.TRANSCRIBING),
        (S.TRANSCRIBING, S.THINKING), (S.THINKING, S.SPEAKING), (S.SPEAKING, S.IDLE),
    ]
    assert [e.audio_time_s for e in events] == [1.04, 1.6, 3.2, 3.2, 3.2, 3.2]
    assert all(e.room == "kitchen" for e in events)
    assert m.state is S.IDLE


def test_no_speech_after_wake_returns_to_idle():
    m = VoiceStateMachine("office")
    m.wake(0.5)
    m.no_speech(5.5)
    assert m.state is S.IDLE
    assert m.history[-1].reason == "no-speech"


@pytest.mark.parametrize("start", [S.IDLE, S.LISTENING, S.RECORDING, S.TRANSCRIBING, S.THINKING, S.SPEAKING])
def test_error_from_any_state_then_recovery(start):
    m = VoiceStateMachine("r")
    path = {S.IDLE: [], S.LISTENING: ["wake"], S.RECORDING: ["wake", "speech_started"],
            S.TRANSCRIBING: ["wake", "speech_started", "end_of_speech"],
            S.THINKING: ["wake", "speech_started", "end_of_speech", "transcribed"],
            S.SPEAKING: ["wake", "speech_started", "end_of_speech", "transcribed", "speaking"]}[start]
    for step in path:
        getattr(m, step)(1.0)
    assert m.state is start
    ev = m.fail(2.0, "stt-failed")
    assert ev.new is S.ERROR and ev.reason == "stt-failed"
    assert m.fail(2.0, "again") is None  # already in ERROR
    m.recovered(2.0)
    assert m.state is S.IDLE


def test_invalid_transitions_raise():
    m = VoiceStateMachine("r")
    with pytest.raises(InvalidTransition):
        m.speech_started(0.0)
    with pytest.raises(InvalidTransition):
        m.end_of_speech(0.0)
    m.wake(0.1)
    with pytest.raises(InvalidTransition):
        m.wake(0.2)
    assert m.state is S.LISTENING


def test_every_state_can_reach_error_and_error_only_reaches_idle():
    for state, targets in ALLOWED.items():
        if state is not S.ERROR:
            assert S.ERROR in targets
    assert ALLOWED[S.ERROR] == frozenset({S.IDLE})


def test_barge_in_followup_wake_lost_and_announcement_paths():
    m = VoiceStateMachine("r")
    m.wake(1.0)
    m.speech_started(1.2)
    m.wake_lost(1.3)  # another room answers this wake
    assert m.state is S.IDLE and m.history[-1].reason == "wake-lost"
    for path in (["wake", "speech_started", "end_of_speech"], ["text_received"], ["text_received", "speaking"]):
        for step in path:
            getattr(m, step)(2.0)
        busy = m.state
        m.interrupted(2.5, "barge-in-stop")
        assert m.state is S.IDLE, busy
    m.text_received(3.0)
    m.speaking(3.0)
    m.interrupted(3.2, "barge-in-wake", listen=True)  # the wake word starts a new turn at once
    assert m.state is S.LISTENING
    m.no_speech(8.0)
    m.text_received(9.0)
    m.speaking(9.0)
    m.followup(10.0)  # the reply asked a question
    assert m.state is S.LISTENING and m.history[-1].reason == "followup"
    m.no_speech(15.0)
    m.announcing(16.0)
    assert m.state is S.SPEAKING
    m.done(17.0, "announcement-done")
    with pytest.raises(InvalidTransition):
        m.interrupted(18.0, "barge-in-stop")  # nothing to interrupt while IDLE
