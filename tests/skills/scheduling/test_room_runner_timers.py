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
