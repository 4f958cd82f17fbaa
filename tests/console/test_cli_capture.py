"""`camdeck capture`: stills into a folder or Redis (a real redis-server), surviving a restart."""
from __future__ import annotations

import json

import pytest

from tests.conftest import ServerProcess, _binary, free_port

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


def assert_bad_input(r, words: str) -> None:
    """Exit 2, exactly one error line with its fix, no traceback."""
    assert r.code == 2, r.err
    errors = [line for line in r.err.splitlines() if line.startswith("camdeck: error:")]
    assert len(errors) == 1 and "fix:" in errors[0], r.err
    assert words in errors[0] and "Traceback" not in r.err + r.out


@pytest.mark.parametrize("args, words", [
    (["--sink", "ftp://x"], "not a sink"),
    (["--sink", "redis://h:1/x"], "not a number"),
    (["--sink", "redis://h:1/1/2"], "not a number"),
    (["--sink", "redis://"], "no host"),                 # once spooled to None_6379_0
    (["--sink", "redis://:6379/0"], "no host"),
    (["--sink", "redis://h:0/0"], "port 0"),
    (["--sink", "redis://h:99999/0"], "Port out of range"),
    (["--every", "0.5s"], "from 1s to 24h"),
    (["--every", "100000000h"], "out of range"),       # once a traceback
    (["--every", "nan"], "not a duration"),
    (["--count", "0"], "--count"),
    (["--count", "99999999999999999999"], "--count"),
    (["--format", "gif"], "not an image format"),
    (["--camera", "nope"], "unknown camera"),
])
def test_bad_input_exits_2(cli, rig, args, words):
    r = cli("capture", *(["--count", "1"] if "--count" not in args else []), *args)
    assert_bad_input(r, words)


def test_an_every_s_out_of_range_in_the_config_exits_2(cli, rig):
    (rig / "config.toml").write_text(RIG.replace("every_s = 10.0", "every_s = 0.25"))
    assert_bad_input(cli("capture", "--count", "1", "--sink", "dir:stills"), "rigs.capture.every_s")
    assert not (rig / "stills").exists()


@pytest.fixture
def redis_with_password(tmp_path):
    """A real redis-server that wants the password "s3cret-pw" (requirepass)."""
    binary = _binary("redis-server")
    server = ServerProcess(lambda port: [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                         "--appendonly", "no", "--requirepass", "s3cret-pw"], free_port(), tmp_path)
    yield server.start()
    server.stop()


def spooled(user_data_dir) -> list:
    return sorted((user_data_dir / "spool" / "redis").rglob("*.still"))


@pytest.mark.parametrize("url, words", [
    ("redis://:wrong-pw@127.0.0.1:{port}/0", "refused the login"),     # WRONGPASS
    ("redis://127.0.0.1:{port}/0", "refused the login"),               # NOAUTH
])
def test_a_wrong_redis_password_exits_2_before_any_still(cli, rig, redis_with_password, user_data_dir, url, words):
    r = cli("capture", "--count", "1", "--sink", url.format(port=redis_with_password.port))
    assert_bad_input(r, words)
    assert "wrong-pw" not in r.err + r.out and "s3cret-pw" not in r.err
    assert not (user_data_dir / "spool").exists()                  # refused, not "spooled for the next run"


def test_the_right_redis_password_stores(cli, rig, redis_with_password):
    url = f"redis://:s3cret-pw@127.0.0.1:{redis_with_password.port}/0"
    r = cli("capture", "--count", "1", "--sink", url, "--json")
    assert r.code == 0, r.err
    assert "s3cret-pw" not in r.out + r.err                        # shown as redis://:***@...
    assert redis_client(url).exists(json_lines(r.out)[0]["key"])


def test_a_database_out_of_range_exits_2(cli, rig, redis_server, user_data_dir):
    r = cli("capture", "--count", "1", "--sink", f"redis://127.0.0.1:{redis_server.port}/99")
    assert_bad_input(r, "no such database")
    assert not (user_data_dir / "spool").exists()                  # and no empty spool folder left behind


def test_tls_to_a_plain_redis_exits_2(cli, rig, redis_server):
    r = cli("capture", "--count", "1", "--sink", f"rediss://127.0.0.1:{redis_server.port}/0")
    assert_bad_input(r, "plain Redis, not TLS")


def test_a_password_changed_mid_run_keeps_the_still_and_exits_2(cli, rig, redis_server, user_data_dir, monkeypatch):
    """The first still is stored; then the server starts wanting a password and drops its
    clients: the second still goes to the spool, the run ends with exit 2 naming the login."""
    from camdeck.drivers.stills import redis_sink as sinks

    admin = redis_client(redis_server.url)

    original = sinks.RedisSink.put
    calls = {"n": 0}

    def put_then_lock(self, still):
        calls["n"] += 1
        if calls["n"] == 2:      # between the two stills, as an admin would
            admin.config_set("requirepass", "new-pw")
            admin.execute_command("CLIENT", "KILL", "TYPE", "normal")
        return original(self, still)

    monkeypatch.setattr(sinks.RedisSink, "put", put_then_lock)
    r = cli("capture", "--count", "2", "--every", "1s", "--sink", redis_server.url, "--json")
    assert_bad_input(r, "refused the login")
    events = json_lines(r.out)
    assert [e["event"] for e in events[:3]] == ["stored", "spooled", "done"]
    assert len(spooled(user_data_dir)) == 1 and events[2]["pending"] == 1


def test_a_full_spool_disk_exits_1_with_a_summary_and_keeps_the_spool(cli, rig, monkeypatch, user_data_dir):
    """Redis away, then the spool's disk fills: an "error" line, the "done" line, exit 1; the
    still spooled by the earlier run is still there."""
    import errno

    import camdeck.drivers.stills.spool as sinks

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


def test_a_redis_restart_mid_run_loses_no_still(cli, rig, redis_server, monkeypatch):
    """Redis goes away after the first still and comes back after the second: the second waits
    in the spool and goes out before the third; all three end in Redis, exit 0, no traceback."""
    from camdeck.drivers.stills import redis_sink

    original = redis_sink.RedisSink.put
    calls = {"n": 0}

    def put_around_a_restart(self, still):
        calls["n"] += 1
        if calls["n"] == 2:
            redis_server.stop()
        elif calls["n"] == 3:
            redis_server.start()           # same port, empty: only what the sink sends is there
        return original(self, still)

    monkeypatch.setattr(redis_sink.RedisSink, "put", put_around_a_restart)
    r = cli("capture", "--count", "3", "--every", "1s", "--sink", redis_server.url, "--json")
    assert r.code == 0, r.err
    assert "Traceback" not in r.err
    events = json_lines(r.out)
    assert [e["event"] for e in events] == ["stored", "spooled", "stored", "done"]
    assert events[2]["replayed"] == 1 and events[-1]["pending"] == 0
    keys = {k.decode() for k in redis_client(redis_server.url).keys("image:*")}
    assert {events[1]["key"], events[2]["key"]} <= keys and len(keys) == 2   # the first went with the old server
