"""`camdeck capture`: stills into a folder or Redis (a real redis-server), surviving a restart."""
from __future__ import annotations

import json

import pytest

RIG = """
[sim]
seed = 0

[cameras.still]
driver = "sim"
model = "IMX708"
label = "capture camera"
camera_num = 0
resolution = [320, 240]

[rigs.capture]
type = "capture"
cameras = ["still"]
every_s = 10.0
format = "png"
"""

@pytest.fixture
def rig(workdir):
    (workdir / "config.toml").write_text(RIG)
    return workdir


def json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def redis_client(url):
    import redis

    return redis.Redis.from_url(url)


def test_stills_into_a_folder(cli, rig):
    r = cli("capture", "--camera", "still", "--every", "1s", "--count", "2", "--sink", "dir:stills", "--format", "jpeg",
            "--json")
    assert r.code == 0, r.err
    events = json_lines(r.out)
    assert [e["event"] for e in events] == ["stored", "stored", "done"]
    assert events[0]["width"] == 320 and events[0]["height"] == 240
    jpgs = sorted((rig / "stills").glob("image_*.jpg"))
    assert len(jpgs) == 2 and all(p.read_bytes()[:2] == b"\xff\xd8" for p in jpgs)
    meta = json.loads(jpgs[0].with_suffix(".json").read_text())
    assert meta["camera"] == "still" and meta["format"] == "jpeg" and "exposure_us" in meta["metadata"]


def test_stills_into_redis_from_redis_url(cli, rig, redis_server, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_server.url)             # --sink redis: the configured URL, REDIS_URL wins
    r = cli("capture", "--count", "1", "--json")                   # camera, interval, format from the capture rig
    assert r.code == 0, r.err
    key = json_lines(r.out)[0]["key"]
    h = redis_client(redis_server.url).hgetall(key)
    assert key.startswith("image:") and key[6:].isdigit()
    assert h[b"image"].startswith(b"\x89PNG") and h[b"format"] == b"png"
    assert h[b"camera"] == b"still" and h[b"width"] == b"320" and h[b"height"] == b"240"
    assert int(float(h[b"timestamp"])) == int(key[6:])
    assert "ExposureTime" in json.loads(h[b"metadata"])


def test_stills_taken_while_redis_is_down_are_sent_later(cli, rig, redis_server):
    redis_server.stop()
    down = cli("capture", "--count", "1", "--sink", redis_server.url, "--json")
    events = json_lines(down.out)
    assert events[0]["event"] == "spooled" and events[-1]["pending"] == 1
    assert "spool" in down.err
    redis_server.start()                                           # back, on the same port
    up = cli("capture", "--count", "1", "--sink", redis_server.url, "--json")
    assert up.code == 0, up.err
    events = json_lines(up.out)
    assert events[-1]["event"] == "done" and events[-1]["pending"] == 0 and events[-1]["replayed"] == 1
    client = redis_client(redis_server.url)
    keys = sorted(k.decode() for k in client.keys("image:*"))
    spooled = json_lines(down.out)[0]
    assert len(keys) == 2 and spooled["key"] in keys              # both stills, even within one second
    assert float(client.hget(spooled["key"], "timestamp")) == pytest.approx(spooled["timestamp"], abs=1e-5)


def test_stills_left_in_the_spool_exit_1(cli, rig):
    assert cli("capture", "--count", "1", "--sink", "redis://127.0.0.1:1/0").code == 1


@pytest.mark.parametrize("args, words", [
    (["--sink", "ftp://x"], "not a sink"),
    (["--sink", "redis://h:1/x"], "not a number"),
    (["--every", "0.5s"], "at least 1s"),
    (["--format", "gif"], "not an image format"),
    (["--camera", "nope"], "unknown camera"),
])
def test_bad_input_exits_2(cli, rig, args, words):
    r = cli("capture", "--count", "1", *args)
    assert r.code == 2, r.err
    assert words in r.err


def test_a_full_spool_disk_exits_1_with_a_summary_and_keeps_the_spool(cli, rig, monkeypatch, user_data_dir):
    """Redis away, then the spool's disk fills: an "error" line, the "done" line, exit 1; the
    still spooled by the earlier run is still there."""
    import errno

    import camdeck.drivers.stills.sinks as sinks

    first = cli("capture", "--count", "1", "--sink", "redis://127.0.0.1:1/0", "--json")
    assert json_lines(first.out)[-1]["pending"] == 1

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sinks, "_write_bytes_atomic", full)
    r = cli("capture", "--count", "1", "--sink", "redis://127.0.0.1:1/0", "--json")
    assert r.code == 1, r.err
    events = json_lines(r.out)
    assert [e["event"] for e in events] == ["error", "done"]
    assert "nor kept in the spool" in events[0]["message"] and events[-1]["pending"] == 1
    assert len(list((user_data_dir / "spool" / "redis").rglob("*.still"))) == 1


def test_the_sink_is_closed_when_the_camera_cannot_open(cli, rig, monkeypatch):
    from camdeck.drivers import registry as _registry
    import camdeck.drivers.stills.sinks as sinks
    from camdeck.drivers.errors import CameraNotFound

    closed = []

    def no_camera(*args, **kwargs):
        raise CameraNotFound("camera 'still' is not connected", "plug it in")

    monkeypatch.setattr(_registry, "open_camera", no_camera)
    monkeypatch.setattr(sinks.FolderSink, "close", lambda self: closed.append(self.folder))
    r = cli("capture", "--count", "1", "--sink", "dir:stills")
    assert r.code == 1 and "not connected" in r.err
    assert [p.resolve() for p in closed] == [(rig / "stills").resolve()]
