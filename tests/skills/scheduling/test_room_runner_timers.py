"""A room runner with its schedule: a timer set for the kitchen rings in the kitchen, spoken by
the real voice, at the right point of the kitchen's audio (a file played faster than real time)."""

from __future__ import annotations

import json

import pytest

from roomvoice.actors.room_actor import RoomRunner
from roomvoice.config import RoomConfig, SinkConfig, SourceConfig
from roomvoice.rooms.audio import AudioClip, read_audio_file, rms_dbfs, silence, write_wav
from roomvoice.skills.room_schedule import RoomSchedule
from roomvoice.skills.timers import TimerSkill
from roomvoice.store.schedule import ReminderStore, TimerStore
from tests.skills.test_announcements import SpeechOnly


def test_timer_rings_in_the_runner_on_audio_time(db, tmp_path):
    quiet = tmp_path / "quiet.wav"
    write_wav(quiet, AudioClip(silence(4.0), 16000))
    timers = TimerStore(db)
    TimerSkill(timers).start("kitchen", 2.5, "tea")  # set before the room starts: picked up at audio 0
    TimerSkill(timers).start("office", 1.0, "post")
    cfg = RoomConfig(name="kitchen", source=SourceConfig(type="file", paths=[str(quiet)], lead_s=0.0, tail_s=0.0),
                     sink=SinkConfig(type="wav"))
    runner = RoomRunner(cfg, SpeechOnly(), tmp_path / "run", "Sorry.",
                        schedule=RoomSchedule("kitchen", timers, ReminderStore(db)))
    runner.start()
    assert runner.wait(60)
    runner.stop()
    events = [json.loads(line) for line in (runner.dir / "events.jsonl").read_text().splitlines()]
    said = [e for e in events if e["type"] == "Announcement"]
    assert [(e["text"], e["source"]) for e in said] == [("Your tea timer is done.", "timer")]
    assert said[0]["audio_time_s"] == pytest.approx(2.56, abs=0.001)  # first 80 ms chunk end >= 2.5 s
    clip = read_audio_file(said[0]["path"])
    assert rms_dbfs(clip.samples) > -40 and len(clip.samples) / clip.rate > 0.5
    assert [t.label for t in timers.active()] == ["post"]  # the office's timer stays for the office
    assert runner.status().turns == 0


def test_microphone_room_restarted_keeps_its_clock_and_a_reloaded_timer_rings_on_time(db, tmp_path, monkeypatch):
    """A live (microphone) room crashes and comes back 1 s later: its audio clock goes on from where it
    was plus the downtime (it does not restart at 0), and a timer reloaded from PostgreSQL rings on
    time by the wall clock."""
    import sys
    import time

    from roomvoice.testing import FakePyAudio

    monkeypatch.setitem(sys.modules, "pyaudio", FakePyAudio(realtime=True))
    timers = TimerStore(db)
    t0 = time.time()
    TimerSkill(timers).start("kitchen", 4.0, "tea")
    cfg = RoomConfig(name="kitchen", source=SourceConfig(type="microphone"), sink=SinkConfig(type="wav"))

    def runner():
        monkeypatch.setitem(sys.modules, "pyaudio", FakePyAudio(realtime=True))  # a fresh device after a restart
        r = RoomRunner(cfg, SpeechOnly(), tmp_path / "run", "Sorry.",
                       schedule=RoomSchedule("kitchen", timers, ReminderStore(db)))
        r.start()
        return r

    first = runner()
    time.sleep(1.6)
    first.stop()  # the actor dies; its progress (audio time, wall time) is on disk
    before = first.status().audio_time_s
    assert 1.0 < before < 2.5
    time.sleep(1.0)
    second = runner()
    assert second.incarnation == 2
    deadline = time.time() + 8
    said = []
    while time.time() < deadline and not said:
        time.sleep(0.1)
        if (second.dir / "events.jsonl").exists():
            events = [json.loads(line) for line in (second.dir / "events.jsonl").read_text().splitlines()]
            said = [e for e in events if e["type"] == "Announcement"]
    second.stop()
    assert [(e["text"], e["source"]) for e in said] == [("Your tea timer is done.", "timer")]
    rang_at = said[0]["at"] - t0
    assert 3.5 < rang_at < 4.8, rang_at  # on time by the wall clock (chunks are 80 ms; the timer sync is 1 s)
    # the clock went on through the downtime: ~4 s of audio when it rang (a loaded box lags a little), not
    # ~2.4 s as when the microphone's clock restarted at 0
    assert rang_at - 1.2 < said[0]["audio_time_s"] <= rang_at + 0.2
    assert second.status().audio_time_s > before + 1.0
