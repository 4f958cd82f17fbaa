"""Sinks for periodic stills: a folder, and Redis with its on-disk spool (a real redis-server)."""
from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from camdeck.drivers.base import Frame
from camdeck.drivers.errors import CameraDisconnected
from camdeck.drivers.stills.capture_job import run_periodic_capture
from camdeck.drivers.stills.redis_sink import RedisSink
from camdeck.drivers.stills.sinks import BadSink, FolderSink, StillImage, encode_still, parse_sink


def still(ts: float, seq: int = 0) -> StillImage:
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[..., 1] = seq * 10
    return StillImage(data=encode_still(rgb, "png"), format="png", camera="still", width=64, height=48,
                      timestamp=ts, seq=seq, metadata={"exposure_us": 10000, "gain": 1.0})


def redis_client(url):
    import redis

    return redis.Redis.from_url(url)


def test_parse_sink(tmp_path):
    folder = parse_sink("dir:out", data_dir=tmp_path)
    assert isinstance(folder, FolderSink) and folder.spool_dir.parent == tmp_path / "spool" / "dir"
    assert folder.spool_dir.name.startswith("out-")
    assert parse_sink(f"dir:{tmp_path}/a/out", data_dir=tmp_path).spool_dir != folder.spool_dir   # two "out"s
    sink = parse_sink("redis://127.0.0.1:6390/2", data_dir=tmp_path)
    assert isinstance(sink, RedisSink) and sink.spool_dir == tmp_path / "spool" / "redis" / "127.0.0.1_6390_2"
    assert parse_sink("redis", data_dir=tmp_path, default_redis_url="redis://h:1/3").url == "redis://h:1/3"
    assert parse_sink("redis://:pw@h/0?db=4", data_dir=tmp_path).spool_dir.name == "h_6379_4"   # as redis-py reads it
    assert parse_sink("unix:///run/redis.sock?db=2", data_dir=tmp_path).spool_dir.name == "unix_run_redis.sock_2"
    for bad in ("ftp://x", "", "dir:", "redis://h:1/notanumber", "redis://", "rediss://:pw@/0", "redis://h/1/2",
                "unix://"):
        with pytest.raises(BadSink) as info:
            parse_sink(bad, data_dir=tmp_path)
        assert info.value.bad_input


def test_folder_sink_writes_image_and_fields(tmp_path):
    sink = FolderSink(tmp_path / "stills")
    sink.open()
    result = sink.put(still(1_732_183_200.25, seq=3))
    assert result.stored and result.key == "image:1732183200"
    png = tmp_path / "stills" / "image_1732183200.png"
    assert png.read_bytes().startswith(b"\x89PNG")
    meta = json.loads((tmp_path / "stills" / "image_1732183200.json").read_text())
    assert meta["camera"] == "still" and meta["width"] == 64 and meta["metadata"]["exposure_us"] == 10000


def test_a_still_the_folder_cannot_take_waits_in_the_spool(tmp_path):
    """The sink folder vanishes mid-run (a file stands in its place): the still is kept in the
    spool, not lost, and written to the folder, before the next one, once it is back."""
    sink = FolderSink(tmp_path / "stills", spool_dir=tmp_path / "spool")
    sink.open()
    assert sink.put(still(6000.0, 1)).stored
    (tmp_path / "stills").rename(tmp_path / "stills.away")
    (tmp_path / "stills").write_text("not a folder")
    result = sink.put(still(6001.0, 2))
    assert result.spooled and not result.stored and sink.pending() == 1 and "stills" in result.error
    assert sink.replay() == 0 and sink.pending() == 1                     # still away: kept
    (tmp_path / "stills").unlink()
    (tmp_path / "stills.away").rename(tmp_path / "stills")
    result = sink.put(still(6002.0, 3))
    assert result.stored and result.replayed == 1 and sink.pending() == 0
    names = sorted(p.name for p in (tmp_path / "stills").glob("*.png"))
    assert names == ["image_6000.png", "image_6001.png", "image_6002.png"]
    meta = json.loads((tmp_path / "stills" / "image_6001.json").read_text())
    assert meta["seq"] == 2 and meta["metadata"] == {"exposure_us": 10000, "gain": 1.0}


def test_redis_sink_stores_a_hash(redis_server, tmp_path):
    sink = RedisSink(redis_server.url, tmp_path / "spool")
    sink.open()
    assert sink.put(still(1_732_183_200.5, seq=1)).stored
    h = redis_client(redis_server.url).hgetall("image:1732183200")
    assert h[b"image"].startswith(b"\x89PNG")
    assert h[b"camera"] == b"still" and h[b"width"] == b"64" and h[b"height"] == b"48"
    assert float(h[b"timestamp"]) == pytest.approx(1_732_183_200.5)
    assert json.loads(h[b"metadata"])["gain"] == 1.0
    sink.close()


def test_redis_sink_survives_a_restart(redis_server, tmp_path):
    """Stills taken while Redis is down wait in the spool and go, in order, once it is back."""
    sink = RedisSink(redis_server.url, tmp_path / "spool", timeout_s=1.0)
    sink.open()
    assert sink.put(still(1000.0, 0)).stored
    redis_server.stop()
    r1, r2 = sink.put(still(1001.0, 1)), sink.put(still(1002.0, 2))
    assert r1.spooled and r2.spooled and not r1.stored and sink.pending() == 2
    assert sink.replay() == 0                                             # still down: nothing lost
    redis_server.start()                                                  # a fresh, empty server, same port
    r3 = sink.put(still(1003.0, 3))                                       # the client reconnects by itself
    assert r3.stored and r3.replayed == 2 and sink.pending() == 0
    client = redis_client(redis_server.url)
    assert sorted(k.decode() for k in client.keys("image:*")) == ["image:1001", "image:1002", "image:1003"]
    assert client.hget("image:1002", "seq") == b"2"
    sink.close()


def test_a_full_redis_keeps_stills_in_the_spool_until_it_has_room(redis_server, tmp_path):
    """An out-of-memory Redis (OOM on HSET, a ResponseError) is "away", not a crash: the
    stills wait in the spool and go once it has room again."""
    admin = redis_client(redis_server.url)
    sink = RedisSink(redis_server.url, tmp_path / "spool")
    sink.open()
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", "1")
    result = sink.put(still(4000.0, 1))
    assert result.spooled and not result.stored and "maxmemory" in result.error and sink.pending() == 1
    admin.config_set("maxmemory", "0")
    result = sink.put(still(4001.0, 2))
    assert result.stored and result.replayed == 1 and sink.pending() == 0
    assert admin.exists("image:4000") and admin.exists("image:4001")
    sink.close()


def test_a_key_held_by_another_type_is_passed_over(redis_server, tmp_path):
    admin = redis_client(redis_server.url)
    admin.set("image:5000", "not a hash")
    sink = RedisSink(redis_server.url, tmp_path / "spool")
    sink.open()
    assert sink.put(still(5000.0)).key == "image:5000-1"
    assert admin.get("image:5000") == b"not a hash"


def test_two_stills_in_one_second_do_not_overwrite(redis_server, tmp_path):
    sink = RedisSink(redis_server.url, tmp_path / "spool")
    sink.open()
    first, second = sink.put(still(3000.1, 1)), sink.put(still(3000.6, 2))
    assert (first.key, second.key) == ("image:3000", "image:3000-1")
    assert sink.put(still(3000.1, 1)).key == "image:3000"             # the same still again: same key
    assert redis_client(redis_server.url).hget("image:3000-1", "seq") == b"2"


def test_spool_left_by_an_earlier_run_is_sent(redis_server, tmp_path):
    down = RedisSink("redis://127.0.0.1:1/0", tmp_path / "spool", timeout_s=0.5)   # nothing listens on port 1
    down.open()
    assert down.put(still(2000.0)).spooled
    later = RedisSink(redis_server.url, tmp_path / "spool")
    later.open()
    assert later.replay() == 1 and later.pending() == 0
    assert redis_client(redis_server.url).exists("image:2000")


class ScriptedCamera:
    """A camera that gives numbered frames and can be told to vanish after some."""

    name = "still"
    dropped_frames = 0

    def __init__(self, vanish_after: int | None = None):
        self.seq = 0
        self.vanish_after = vanish_after
        self.started = self.stopped = 0

    def start(self):
        self.started += 1

    def stop(self):
        self.stopped += 1

    def capture(self, timeout_s=None):
        if self.vanish_after is not None and self.seq >= self.vanish_after:
            raise CameraDisconnected("still: unplugged", "reconnect it")
        self.seq += 1
        return Frame(np.full((48, 64, 3), self.seq, np.uint8), self.seq * 1000, self.seq, "still",
                     {"format": "RGB", "exposure_us": 5000})


class FakeTime:
    """Clock and wall that move only when the job waits (no real sleeping)."""

    def __init__(self):
        self.now = 0.0

    def clock(self):
        return self.now

    def wall(self):
        return 1_700_000_000.0 + self.now


class AdvancingEvent(threading.Event):
    def __init__(self, t: FakeTime):
        super().__init__()
        self.t = t

    def wait(self, timeout=None):
        self.t.now += timeout or 0
        return self.is_set()


def test_periodic_capture_into_a_folder(tmp_path):
    t = FakeTime()
    sink = FolderSink(tmp_path)
    sink.open()
    events = []
    summary = run_periodic_capture(ScriptedCamera(), sink, every_s=10.0, count=3, image_format="jpeg",
                                   stop_event=AdvancingEvent(t), progress=events.append, clock=t.clock, wall=t.wall)
    assert summary.ok and summary.captured == 3 and summary.stored == 3
    assert sorted(p.name for p in tmp_path.glob("*.jpg")) == ["image_1700000000.jpg", "image_1700000010.jpg",
                                                             "image_1700000020.jpg"]
    assert [e.kind for e in events] == ["stored", "stored", "stored", "done"]


class SlowFirstFrameCamera(ScriptedCamera):
    """Its first frame takes 3 s (a sensor waking up, auto-exposure settling); later ones none."""

    def __init__(self, t: FakeTime):
        super().__init__()
        self.t = t

    def capture(self, timeout_s=None):
        if self.seq == 0:
            self.t.now += 3.0
        return super().capture(timeout_s)


def test_the_second_still_comes_a_full_interval_after_the_first(tmp_path):
    t = FakeTime()
    sink = FolderSink(tmp_path)
    sink.open()
    events = []
    run_periodic_capture(SlowFirstFrameCamera(t), sink, every_s=10.0, count=3, stop_event=AdvancingEvent(t),
                         progress=events.append, clock=t.clock, wall=t.wall)
    stamps = [e.timestamp - 1_700_000_000.0 for e in events if e.kind == "stored"]
    assert stamps == [3.0, 13.0, 23.0]        # was 3, 10, 20: the first interval came 3 s short


def test_periodic_capture_stops_when_the_camera_vanishes(tmp_path):
    t = FakeTime()
    sink = FolderSink(tmp_path)
    sink.open()
    cam = ScriptedCamera(vanish_after=2)
    summary = run_periodic_capture(cam, sink, every_s=1.0, count=5, stop_event=AdvancingEvent(t),
                                   clock=t.clock, wall=t.wall)
    assert summary.captured == 2 and not summary.ok and summary.stopped_by == "camera"
    assert "unplugged" in summary.errors[0] and cam.stopped == 1


def test_a_full_spool_disk_stops_the_job_cleanly_and_keeps_the_spool(tmp_path, monkeypatch):
    """Redis is away and the spool's disk fills: the still that cannot be kept is reported (an
    "error" event), the job stops with its "done" event and summary, and what the spool
    already held stays there for the next run."""
    import errno

    import camdeck.drivers.stills.spool as sinks

    sink = RedisSink("redis://127.0.0.1:1/0", tmp_path / "spool", timeout_s=0.5)   # nothing listens on port 1
    sink.open()
    real_write = sinks._write_bytes_atomic
    writes = {"n": 0}

    def fills_up(path, data):
        writes["n"] += 1
        if writes["n"] > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(sinks, "_write_bytes_atomic", fills_up)
    t = FakeTime()
    events = []
    summary = run_periodic_capture(ScriptedCamera(), sink, every_s=1.0, count=5, stop_event=AdvancingEvent(t),
                                   progress=events.append, clock=t.clock, wall=t.wall)
    assert [e.kind for e in events] == ["spooled", "error", "done"]
    assert "nor kept in the spool" in events[1].message and "No space left" in events[1].message
    assert summary.stopped_by == "sink" and not summary.ok
    assert summary.captured == 2 and summary.spooled == 1 and summary.lost == 1 and summary.pending == 1
    assert events[-1].pending == 1 and sink.pending() == 1                 # the first still is still there
    assert not list((tmp_path / "spool").glob("*.part"))                  # no half-written file


def test_a_full_folder_sink_stops_the_job_cleanly(tmp_path, monkeypatch):
    import errno

    import camdeck.drivers.stills.sinks as sinks

    sink = FolderSink(tmp_path / "stills")
    sink.open()
    real_write = sinks._write_bytes_atomic

    def full_at_the_second_json(path, data):
        if path.name == "image_1700000001.json":
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(sinks, "_write_bytes_atomic", full_at_the_second_json)
    t = FakeTime()
    events = []
    summary = run_periodic_capture(ScriptedCamera(), sink, every_s=1.0, count=5, stop_event=AdvancingEvent(t),
                                   progress=events.append, clock=t.clock, wall=t.wall)
    assert [e.kind for e in events] == ["stored", "error", "done"] and summary.stopped_by == "sink"
    assert sorted(p.name for p in (tmp_path / "stills").iterdir()) == ["image_1700000000.json",
                                                                       "image_1700000000.png"]   # no half still
