"""Simulated acoustics: the playback tap, the microphone's mixing math, clock and causality."""

from __future__ import annotations

import itertools
import threading
import time

import numpy as np
import pytest

from roomvoice.errors import AudioError
from roomvoice.rooms.acoustics import PlaybackTap, RoomAcoustics, SimulatedMicrophone, TalkerTimeline
from roomvoice.rooms.simulated_house import SimulatedHouse, play_into, play_while_listening
from roomvoice.rooms.audio import CHUNK_SAMPLES, SAMPLE_RATE, AudioChunk, rms_dbfs

SR = SAMPLE_RATE


def pulse(n: int = 16, value: int = 10_000) -> np.ndarray:
    return np.full(n, value, dtype=np.int16)


def collect(mic: SimulatedMicrophone, start_s: float = 0.0, n_chunks: int | None = None) -> list[AudioChunk]:
    it = mic.chunks(start_s)
    return list(it if n_chunks is None else itertools.islice(it, n_chunks))


def joined(chunks: list[AudioChunk]) -> np.ndarray:
    return np.concatenate([c.samples for c in chunks])


# ---------------------------------------------------------------------------- PlaybackTap


def test_tap_reads_back_what_was_played_and_zeros_elsewhere():
    tap = PlaybackTap()
    x = (np.arange(1_280) % 200 - 100).astype(np.int16)
    tap.write(AudioChunk(x, SR, 1.0))
    assert np.array_equal(tap.read(1.0, 1_280), x)
    # straddling the start: zeros before 1.0 s, then the first samples
    got = tap.read(1.0 - 100 / SR, 300)
    assert not got[:100].any() and np.array_equal(got[100:], x[:200])
    assert not tap.read(0.0, 1_000).any()  # before anything was played
    assert not tap.read(5.0, 1_000).any()  # not written (yet)
    assert not tap.read(-1.0, 100).any()  # before audio time 0
    assert tap.read(1.0, 10).dtype == np.int16
    assert tap.end_s == pytest.approx(1.08)


def test_tap_gap_between_writes_reads_as_silence_and_overwrites():
    tap = PlaybackTap(capacity_s=1.0)
    tap.write(AudioChunk(pulse(1_600), SR, 0.0))
    tap.write(AudioChunk(pulse(1_600, 7), SR, 0.5))  # 0.1 .. 0.5 s: nothing played
    assert not tap.read(0.1, 6_400).any()
    tap.write(AudioChunk(pulse(160, -3), SR, 0.5))  # played again over the same time: last write wins
    assert set(tap.read(0.5, 160).tolist()) == {-3} and set(tap.read(0.51, 1_440).tolist()) == {7}


def test_tap_memory_is_bounded_and_old_audio_reads_as_zeros():
    tap = PlaybackTap(capacity_s=1.0)
    assert tap._buf.nbytes == SR * 2  # 1 s of int16
    for i in range(40):  # 3.2 s of playback through a 1 s ring
        tap.write(AudioChunk(pulse(1_280, i + 1), SR, i * 0.08))
    assert not tap.read(0.0, 16_000).any()  # older than the last second
    assert set(tap.read(3.12, 1_280).tolist()) == {40}
    assert set(tap.read(2.4, 1_280).tolist()) == {31}  # 2.4 s = chunk 30: still inside the ring
    tap.write(AudioChunk(pulse(100, 9), SR, 0.5))  # a write far older than the ring is dropped
    assert not tap.read(0.5, 100).any()


def test_tap_rejects_audio_outside_the_contract():
    tap = PlaybackTap()
    with pytest.raises(AudioError) as err:
        tap.write(AudioChunk(np.zeros(160, dtype=np.float32), SR, 0.0))
    assert err.value.code == "audio-bad-format"
    with pytest.raises(AudioError):
        tap.write(AudioChunk(np.zeros(441, dtype=np.int16), 44_100, 0.0))


def test_tap_is_safe_with_a_writer_and_a_reader_thread():
    tap = PlaybackTap(capacity_s=2.0)
    errors: list[BaseException] = []

    def writer():
        for i in range(300):
            tap.write(AudioChunk(pulse(1_280, 5), SR, i * 0.08))

    def reader():
        try:
            for i in range(300):
                got = tap.read(i * 0.08, 1_280)
                assert set(got.tolist()) <= {0, 5}  # never a torn or foreign value
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors


# ---------------------------------------------------------------------------- microphone mixing math


def test_talker_reaches_the_mic_at_the_room_gain_and_delay():
    room = RoomAcoustics("kitchen", gain_db=-6.0, delay_s=0.0125)  # 200 samples
    house = SimulatedHouse([room], duration_s=1.0)
    house.add_utterance(0.5, pulse(16, 10_000))
    mic = joined(collect(house.microphone("kitchen")))
    nz = np.flatnonzero(mic)
    assert nz[0] == 8_000 + 200 and len(nz) == 16
    assert mic[nz[0]] == round(10_000 * 10 ** (-6 / 20))  # 5 012


def test_echo_comes_back_at_the_echo_gain_and_delay():
    room = RoomAcoustics("office", echo_gain_db=-12.0, echo_delay_s=0.03)  # 480 samples
    house = SimulatedHouse([room], duration_s=1.0)
    play_into(house.tap("office"), pulse(16, 20_000), at_s=0.25)
    mic = joined(collect(house.microphone("office")))
    nz = np.flatnonzero(mic)
    assert nz[0] == 4_000 + 480 and len(nz) == 16
    assert mic[nz[0]] == round(20_000 * 10 ** (-12 / 20))  # 5 024


def test_talker_echo_and_noise_add_up_and_clip_to_int16():
    room = RoomAcoustics("hall", gain_db=0.0, echo_gain_db=0.0, echo_delay_s=0.0, noise_dbfs=-40.0, seed=3)
    house = SimulatedHouse([room], duration_s=2.0)
    house.add_utterance(0.0, pulse(8_000, 20_000))
    house.add_utterance(0.0, pulse(4_000, 20_000))  # overlapping speech adds
    play_into(house.tap("hall"), pulse(16_000, 1_000), at_s=1.0)
    mic = joined(collect(house.microphone("hall")))
    assert mic.dtype == np.int16
    assert mic[:4_000].min() >= 32_000 and mic[:4_000].max() == 32_767  # 40 000 clipped
    assert abs(np.median(mic[4_000:8_000]) - 20_000) < 20
    assert abs(np.median(mic[16_000:32_000]) - 1_000) < 20  # echo at 0 dB
    assert rms_dbfs(mic[10_000:16_000]) == pytest.approx(-40.0, abs=0.3)  # the noise floor


def test_noise_depends_only_on_seed_and_audio_time():
    room = RoomAcoustics("den", noise_dbfs=-50.0, seed=7)
    house = SimulatedHouse([room], duration_s=2.0)
    whole = joined(collect(house.microphone("den")))
    resumed = joined(collect(house.microphone("den"), start_s=0.8))
    assert np.array_equal(whole[12_800:], resumed)  # a restart hears the same noise
    other = joined(collect(SimulatedHouse([RoomAcoustics("den", noise_dbfs=-50.0, seed=8)], 2.0).microphone("den")))
    assert not np.array_equal(whole, other)


def test_rooms_share_the_talker_timeline_at_their_own_levels():
    near = RoomAcoustics("kitchen", gain_db=0.0)
    far = RoomAcoustics("bedroom", gain_db=-20.0, delay_s=0.02)
    house = SimulatedHouse([near, far], duration_s=1.0)
    speech = (np.sin(np.arange(8_000) * 0.05) * 8_000).astype(np.int16)
    house.add_utterance(0.2, speech)
    k = joined(collect(house.microphone("kitchen")))
    b = joined(collect(house.microphone("bedroom")))
    assert rms_dbfs(k[3_200:11_200]) - rms_dbfs(b[3_520:11_520]) == pytest.approx(20.0, abs=0.1)
    assert not house.tap("bedroom").read(0.0, 16_000).any()  # each room has its own tap


def test_reverberant_echo_path_keeps_the_energy_and_spreads_in_time():
    room = RoomAcoustics("living", echo_gain_db=0.0, echo_delay_s=0.01, echo_rt60_s=0.3, seed=1)
    h = room.echo_response()
    assert len(h) == int(0.15 * SR) and np.sum(h * h) == pytest.approx(1.0)
    house = SimulatedHouse([room], duration_s=1.0)
    play_into(house.tap("living"), np.array([16_000], dtype=np.int16), at_s=0.1)
    mic = joined(collect(house.microphone("living")))
    start = 1_600 + 160
    assert not mic[:start].any()
    np.testing.assert_allclose(mic[start : start + len(h)], np.round(16_000 * h), atol=1)


def test_utterances_at_other_rates_are_resampled_and_bad_input_refused():
    house = SimulatedHouse([RoomAcoustics("k")], duration_s=1.0)
    start, end = house.add_utterance(0.25, np.zeros(22_050, dtype=np.int16), rate=22_050)
    assert (start, end) == (0.25, pytest.approx(1.25))
    with pytest.raises(ValueError):
        house.add_utterance(-1.0, pulse())
    with pytest.raises(AudioError):
        house.add_utterance(0.0, np.zeros(0, dtype=np.int16))
    with pytest.raises(KeyError, match="rooms: k"):
        house.microphone("garage")
    with pytest.raises(ValueError):
        SimulatedHouse([RoomAcoustics("k"), RoomAcoustics("k")])
    with pytest.raises(ValueError):
        RoomAcoustics("k", echo_delay_s=-0.01)


# ---------------------------------------------------------------------------- clock, laziness, end


def test_clock_continues_from_start_s_with_the_talker_on_the_same_time():
    house = SimulatedHouse([RoomAcoustics("k")])
    house.add_utterance(120.5, pulse(16))
    chunks = collect(house.microphone("k"), start_s=120.0, n_chunks=10)
    assert [c.start_s for c in chunks[:3]] == pytest.approx([120.0, 120.08, 120.16])
    assert all(len(c.samples) == CHUNK_SAMPLES and c.rate == SR for c in chunks)
    assert np.flatnonzero(joined(chunks))[0] == 8_000  # 0.5 s after 120.0


def test_microphone_is_lazy_so_the_echo_path_is_causal():
    room = RoomAcoustics("k", echo_gain_db=0.0, echo_delay_s=0.0)
    house = SimulatedHouse([room])
    tap = house.tap("k")
    it = house.microphone("k").chunks()
    first = next(it)
    assert not first.samples.any()
    # the room decides to play only after it got the first chunk: heard in the next one
    tap.write(AudioChunk(pulse(1_280, 1_234), SR, first.end_s))
    second = next(it)
    assert set(second.samples.tolist()) == {1_234}
    # playback stamped in the past is in the tap (the AEC reference) but not in chunks handed out
    tap.write(AudioChunk(pulse(1_280, 99), SR, first.start_s))
    assert not first.samples.any() and set(tap.read(0.0, 1_280).tolist()) == {99}


def test_play_while_listening_writes_one_chunk_ahead_and_returns_the_reference():
    room = RoomAcoustics("k", echo_gain_db=-6.0, echo_delay_s=0.03)
    house = SimulatedHouse([room], duration_s=1.0)
    clip = (np.sin(np.arange(4_000) * 0.1) * 10_000).astype(np.int16)
    pairs = list(play_while_listening(house.microphone("k"), [(0.32, clip)]))
    far = joined([f for _, f in pairs])
    near = joined([n for n, _ in pairs])
    assert np.array_equal(far[5_120:9_120], clip) and not far[:5_120].any() and not far[9_120:].any()
    expected = np.round(clip * 10 ** (-6 / 20)).astype(np.int16)
    assert np.array_equal(near[5_600:9_600], expected)  # echo 30 ms after the reference
    assert [n.start_s for n, _ in pairs] == [f.start_s for _, f in pairs]


def test_duration_ends_the_stream_and_makes_it_finite():
    live = SimulatedHouse([RoomAcoustics("k")]).microphone("k")
    assert live.finite is False
    assert len(collect(live, n_chunks=50)) == 50  # it would go on
    mic = SimulatedHouse([RoomAcoustics("k", noise_dbfs=-30.0)], duration_s=1.0).microphone("k")
    assert mic.finite is True
    chunks = collect(mic)
    assert len(chunks) == 13  # ceil(1.0 / 0.08)
    assert chunks[-1].start_s == pytest.approx(0.96)
    assert not chunks[-1].samples[640:].any()  # zero-padded past 1.0 s
    assert len(collect(mic, start_s=0.5)) == 7  # a restart ends at the same audio time


def test_close_stops_a_live_stream():
    mic = SimulatedHouse([RoomAcoustics("k")]).microphone("k")
    it = mic.chunks()
    next(it)
    mic.close()
    assert list(it) == []


def test_realtime_pacing_and_capture_stamps():
    mic = SimulatedHouse([RoomAcoustics("k")], duration_s=0.4, realtime=True).microphone("k")
    t0 = time.monotonic()
    chunks = collect(mic)
    elapsed = time.monotonic() - t0
    assert len(chunks) == 5 and elapsed >= 0.38
    stamps = [getattr(c, "captured_at", None) for c in chunks]
    if hasattr(chunks[0], "captured_at"):
        assert all(s is not None for s in stamps) and stamps == sorted(stamps)
        assert stamps[-1] - t0 >= 0.38  # stamped when computed, after the wait
    fast = SimulatedHouse([RoomAcoustics("k")], duration_s=0.4).microphone("k")
    t0 = time.monotonic()
    collect(fast)
    assert time.monotonic() - t0 < 0.3


def test_microphone_without_a_tap_hears_no_echo():
    timeline = TalkerTimeline()
    timeline.add(0.0, pulse(100))
    mic = SimulatedMicrophone(RoomAcoustics("k"), timeline, None, duration_s=0.08)
    assert np.count_nonzero(joined(collect(mic))) == 100
    with pytest.raises(ValueError):
        next(play_while_listening(mic, []))
