"""Camera: file and still-image sources, snapshots, presence on a real photo, clear errors."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from roomvoice.config import load_config
from roomvoice.errors import CameraError, ConfigError
from roomvoice.rooms.camera import SAMPLE_IMAGE, Camera, PresenceDetector, camera_from_config


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """A 1 s, 10 fps MJPG video of the bundled photo, brightened frame by frame."""
    path = tmp_path_factory.mktemp("cam") / "clip.avi"
    bgr = cv2.imread(str(SAMPLE_IMAGE))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (bgr.shape[1], bgr.shape[0]))
    assert writer.isOpened()
    for i in range(10):
        writer.write(cv2.convertScaleAbs(bgr, alpha=1.0, beta=i * 3))
    writer.release()
    return path


def test_still_image_is_a_one_frame_source(tmp_path):
    with Camera(SAMPLE_IMAGE, name="kitchen") as cam:
        frame = cam.latest_frame()
        assert frame is not None and frame.image.dtype == np.uint8 and frame.image.shape == (256, 256, 3)
        assert abs(frame.captured_at - time.time()) < 5
        # RGB, not BGR: the photo's orange suit makes red dominate blue overall
        assert frame.image[..., 0].mean() > frame.image[..., 2].mean()
        path = cam.snapshot(tmp_path / "snaps")
    assert path.parent == tmp_path / "snaps" and path.name.startswith("kitchen-") and path.suffix == ".jpg"
    saved = cv2.imread(str(path))
    assert saved is not None and saved.shape == (256, 256, 3)


def test_video_file_is_sampled_and_loops(video):
    with Camera(video, fps=50, name="hall") as cam:
        first = cam.latest_frame()
        frames = [cam.read() for _ in range(25)]  # more than the 10 frames in the file
        assert all(f.image.shape == (256, 256, 3) for f in frames)
        assert frames[-1].index == 25 and first.index == 0
        deadline = time.monotonic() + 5
        while cam.latest_frame().index < 30 and time.monotonic() < deadline:  # the thread samples too
            time.sleep(0.02)
        assert cam.latest_frame().index >= 30 and cam.running and cam.last_error is None
    assert not cam.running


def test_presence_finds_the_person_in_the_photo_and_nobody_in_noise():
    with Camera(SAMPLE_IMAGE, detector=PresenceDetector("face")) as cam:
        result = cam.presence()
    assert result.people == 1 and result.boxes[0].kind == "face"
    box = result.boxes[0]
    assert 60 < box.x + box.w / 2 < 150 and 30 < box.y + box.h / 2 < 90  # her face, upper middle
    assert "1 person in view" in result.describe()
    rng = np.random.default_rng(0)
    both = PresenceDetector("both")
    for blank in (np.zeros((240, 320, 3), np.uint8), np.full((240, 320, 3), 200, np.uint8),
                  rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)):
        assert both.detect(blank).people == 0
    assert both.detect(cv2.cvtColor(cv2.imread(str(SAMPLE_IMAGE)), cv2.COLOR_BGR2RGB)).people == 1


@pytest.mark.parametrize("source,needle", [
    ("/no/such/video.mp4", "no such file"),
    (SAMPLE_IMAGE.parent / "README.md", "not a video"),
    (97, "cannot open device 97"),
])
def test_bad_sources_give_a_clear_error(source, needle):
    with pytest.raises(CameraError) as err:
        Camera(source).start()
    assert err.value.code == "camera-open-failed" and needle in err.value.message


def test_bad_frames_and_unstarted_cameras():
    det = PresenceDetector("face")
    for bad in (np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32), np.zeros((4, 4, 3), np.uint8)):
        with pytest.raises(CameraError) as err:
            det.detect(bad)
        assert err.value.code == "camera-bad-frame"
    cam = Camera(SAMPLE_IMAGE)
    with pytest.raises(CameraError, match="no frame yet"):
        cam.snapshot("/tmp")
    with pytest.raises(CameraError, match="unknown detector"):
        PresenceDetector("cat")


def test_camera_config(tmp_path):
    cfg = load_config([])
    assert cfg.rooms["kitchen"].camera.source is None and camera_from_config(cfg.rooms["kitchen"].camera, "kitchen") is None
    cfg = load_config([f"rooms.kitchen.camera.source={SAMPLE_IMAGE}", "rooms.kitchen.camera.fps=5"])
    cam = camera_from_config(cfg.rooms["kitchen"].camera, "kitchen")
    assert cam is not None and cam.fps == 5 and cam.source == SAMPLE_IMAGE
    with pytest.raises(ConfigError, match=r"rooms.kitchen.camera.source: .*no such file"):
        load_config(["rooms.kitchen.camera.source=/nope.jpg"])
    with pytest.raises(ConfigError, match=r"rooms.kitchen.camera.fps"):
        load_config(["rooms.kitchen.camera.fps=0"])
    assert load_config(["rooms.kitchen.camera.source=0"]).rooms["kitchen"].camera.source == "0"
