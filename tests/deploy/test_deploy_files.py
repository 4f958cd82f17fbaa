"""deploy/: the fleet image, the systemd units and the Kubernetes CronJob, each run as far as this machine allows.

Without a Docker daemon the Dockerfile's recipe is executed step by step: the build context its
.dockerignore gives, the builder stage's COPY lines and wheel build, the runtime stage's install
(resolved for real into a fresh virtual environment) and its ENTRYPOINT + CMD. The systemd units
go through `systemd-analyze verify`, and their commands through the real CLI on the simulated rig
(capture into a real redis-server). The CronJob is checked against Kubernetes' own schema, and
every shard's container arguments run through the real CLI.
"""
from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.deploy.conftest import (
    CAMDECK, CRONJOB, DOCKERFILE, FAST_CONFIG, SIM_DEVICES, UNITS, VERSION, clean_env, run, tomllib,
)
from tests.deploy.formats import (
    build_context, copy_args, env_pairs, exec_argv, exec_form, expand_k8s, is_ignored, read_dockerignore,
    read_unit, unit_value,
)

# Packages that have no place in the fleet image: the torch extra and its CUDA wheels, build tools.
HEAVY = re.compile(r"^(torch|torchvision|kornia|triton|nvidia-.*|cython|setuptools-scm)$")
# Shared libraries every python:*-slim image has (glibc); any other a wheel links must be installed.
BASE_LIBS = {"libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libgcc_s.so.1"}
DEBIAN_PACKAGE_OF = {"libgomp.so.1": "libgomp1", "libstdc++.so.6": "libstdc++6"}


def apt_packages(stage) -> set[str]:
    found: set[str] = set()
    for text in stage.all("RUN"):
        for m in re.finditer(r"apt-get install ([^&;|]*)", text):
            found |= {w for w in m.group(1).split() if not w.startswith("-")}
    return found


# ---------------------------------------------------------------- Dockerfile

def test_dockerfile_builds_in_one_stage_and_runs_in_another(stages):
    builder, runtime = stages["builder"], stages["runtime"]
    assert builder.base == runtime.base == "python:3.11-slim-bookworm"
    assert "build-essential" in apt_packages(builder)
    compilers = {"build-essential", "gcc", "g++", "clang", "make", "cython3", "python3-dev"}
    assert not apt_packages(runtime) & compilers
    pip_lines = [t for t in runtime.all("RUN") if "pip install" in t]
    assert pip_lines and not any(re.search(r"torch|kornia|\[[^]]*\ball\b", t) for t in pip_lines), pip_lines
    assert exec_form(runtime.last("ENTRYPOINT")) == ["camdeck"]
    assert exec_form(runtime.last("CMD")) == ["monitor", "run", "--json"]
    user = runtime.last("USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {user}: not a numeric non-root uid"
    assert any(f"--uid {uid}" in t for t in runtime.all("RUN")), "the USER uid is never created"


def test_build_context_leaves_local_builds_out_and_keeps_every_source():
    rules = read_dockerignore(REPO / ".dockerignore")
    for local in (".venv/bin/python", "build/lib/x.py", "data/history.sqlite", ".git/HEAD",
                  "fastcore/_carve.c", "fastcore/_carve.cpython-311-x86_64-linux-gnu.so",
                  "console/__pycache__/config.cpython-311.pyc", "camdeck.egg-info/PKG-INFO"):
        assert is_ignored(local, rules), f".dockerignore lets {local} into the build context"
    context = set(build_context(REPO, rules))
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    needed = [f for f in tracked if f.split("/")[0] in ("console", "drivers", "fastcore", "calibration", "monitoring",
                                                          "themes") or f in ("pyproject.toml", "setup.py", "README.md",
                                                                             "LICENSE")]
    missing = [f for f in needed if f not in context]
    assert not missing, f".dockerignore drops sources the wheel is built from: {missing[:5]}"


@pytest.fixture(scope="module")
def built_wheel(stages, tmp_path_factory) -> Path:
    """The builder stage executed here: its COPY lines from the build context, then its wheel build."""
    builder = stages["builder"]
    root = tmp_path_factory.mktemp("builder")
    context = build_context(REPO, read_dockerignore(REPO / ".dockerignore"))
    workdir = root / builder.last("WORKDIR").lstrip("/")
    for text in builder.all("COPY"):
        flags, sources, dest = copy_args(text)
        assert not flags, f"builder COPY {text}: no flags expected"
        target = workdir / dest
        for src in sources:
            src = src.rstrip("/")
            inside = [f for f in context if f == src or f.startswith(src + "/")]
            assert inside, f"COPY {src}: not in the build context"
            for f in inside:
                # a folder's contents go into DEST; a file goes into DEST/ (DEST ends with /)
                out = target / f[len(src) + 1:] if f != src else target / Path(f).name
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / f, out)
    (build,) = [shlex.split(t) for t in builder.all("RUN") if "pip wheel" in t]
    assert build[:4] == ["python", "-m", "pip", "wheel"] and "--no-deps" in build and build[-1] == "."
    wheel_dir = build[build.index("--wheel-dir") + 1]
    out = root / wheel_dir.lstrip("/")
    argv = [sys.executable] + build[1:]
    argv[argv.index(wheel_dir)] = str(out)
    # The one change: build against this venv's setuptools/Cython/numpy instead of fetching them.
    res = run(argv[:-1] + ["--no-build-isolation", "."], cwd=workdir, env=clean_env(), timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    (wheel,) = out.glob("camdeck-*.whl")
    return wheel


@pytest.mark.timeout(1200)  # the module's wheel build (cythonize + compile) runs in this test's setup
def test_builder_stage_builds_the_kernel_into_the_wheel(built_wheel, stages):
    names = zipfile.ZipFile(built_wheel).namelist()
    kernels = [n for n in names if n.startswith("camdeck/fastcore/_carve") and n.endswith(".so")]
    assert len(kernels) == 1, names
    assert {"camdeck/console/default_config.toml", "camdeck/themes/camdeck.tcss"} <= set(names)
    assert not [n for n in names if n.endswith((".pyx", ".c", ".h"))]
    # every library the kernel links must be in the slim base or installed by the runtime stage
    kernel = Path(zipfile.ZipFile(built_wheel).extract(kernels[0], built_wheel.parent / "unpacked"))
    dynamic = subprocess.run(["readelf", "-d", str(kernel)], capture_output=True, text=True, check=True).stdout
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", dynamic))
    runtime_apt = apt_packages(stages["runtime"])
    for lib in needed - BASE_LIBS:
        assert DEBIAN_PACKAGE_OF.get(lib) in runtime_apt, f"the kernel links {lib}; the runtime stage lacks its package"
    copied = [copy_args(t) for t in stages["runtime"].all("COPY")]
    assert any(f.get("from") == "builder" and src == ["/wheels/"] for f, src, _ in copied), copied


@pytest.mark.slow
@pytest.mark.timeout(1200)  # a fresh venv with the fleet extra from the registry: minutes on a busy machine
def test_runtime_stage_installs_the_fleet_extra_without_torch_and_runs_its_command(built_wheel, stages,
                                                                                    tmp_path_factory):
    runtime = stages["runtime"]
    root = tmp_path_factory.mktemp("runtime")
    (install,) = [t for t in runtime.all("RUN") if "pip install" in t]
    extras = re.search(r'\}(\[[a-z,]+\])"', install).group(1)
    venv = root / "venv"
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        report = root / "report.json"
        res = run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--report", report,
                   f"{built_wheel}{extras}"], cwd=root, env=clean_env(), timeout=900)
        assert res.returncode == 0, res.stderr[-3000:]
        installed = {item["metadata"]["name"].lower().replace("_", "-")
                     for item in json.loads(report.read_text())["install"]}
        assert not {n for n in installed if HEAVY.match(n)}, sorted(installed)
        assert {"camdeck", "boto3", "slack-sdk", "openpyxl", "numpy", "opencv-python-headless", "av"} <= installed

        env = clean_env(**env_pairs(" ".join(runtime.all("ENV"))))
        data = root / "data"
        env["CAMDECK_DATA_DIR"] = str(data)                       # /data, here
        home = root / "home"
        home.mkdir()
        argv = [venv / "bin" / exec_form(runtime.last("ENTRYPOINT"))[0]] + exec_form(runtime.last("CMD"))
        res = run(argv, cwd=home, env=env)
        # the built-in simulated fleet, no reference scans yet: every device fails with the fix
        assert res.returncode == 1, res.stderr
        out = json.loads(res.stdout)
        assert [f"{d['deployment']}/{d['camera']}" for d in out["devices"]] == SIM_DEVICES
        assert all("collect-references" in d["error"] for d in out["devices"])
        assert (data / "history.sqlite").is_file()
        kernel = run([venv / "bin" / "python", "-c", "import camdeck.fastcore._carve as k; print(k.__file__)"],
                     cwd=home, env=env)
        assert kernel.returncode == 0 and str(venv) in kernel.stdout, kernel.stderr
    finally:
        shutil.rmtree(root, ignore_errors=True)                   # about 500 MB


def _docker_daemon() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _docker_daemon(), reason="no Docker daemon here; the recipe is run step by step above")
def test_docker_builds_the_image_and_its_command_runs(tmp_path):
    tag = "camdeck-deploy-test:latest"
    res = run(["docker", "build", "-f", DOCKERFILE, "-t", tag, "."], cwd=REPO, env=clean_env(), timeout=1800)
    assert res.returncode == 0, res.stderr[-3000:]
    res = run(["docker", "run", "--rm", tag], cwd=tmp_path, env=clean_env())
    assert res.returncode == 1 and len(json.loads(res.stdout)["devices"]) == 2, res.stderr
    assert run(["docker", "run", "--rm", "--entrypoint", "which", tag, "gcc"], cwd=tmp_path,
               env=clean_env()).returncode != 0


# ---------------------------------------------------------------- systemd

SERVICES = ("camdeck-capture.service", "camdeck-monitor.service")
UNIT_PATHS = {"config": "/etc/camdeck/config.toml", "data": "/var/lib/camdeck"}


def _systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.fail("systemd-analyze is not installed; `make test` installs it (apt-get install systemd)")
    return path


def _unit_command(name: str, config: Path, data: Path) -> list[str]:
    """The unit's ExecStart with camdeck from this venv and its config and data paths moved here."""
    argv = exec_argv(unit_value(read_unit(UNITS / name), "Service", "ExecStart"))
    assert Path(argv[0]).is_absolute() and Path(argv[0]).name == "camdeck", argv[0]
    argv = [str(CAMDECK)] + argv[1:]
    assert argv[argv.index("--config") + 1] == UNIT_PATHS["config"]
    assert argv[argv.index("--data-dir") + 1] == UNIT_PATHS["data"]
    argv[argv.index("--config") + 1] = str(config)
    argv[argv.index("--data-dir") + 1] = str(data)
    return argv


def test_units_pass_systemd_analyze_verify(tmp_path):
    analyze = _systemd_analyze()
    names = [p.name for p in sorted(UNITS.glob("camdeck-*"))]
    assert names == ["camdeck-capture.service", "camdeck-monitor.service", "camdeck-monitor.timer"]
    for name in names:
        # verify checks that ExecStart's program exists: point it at this venv's camdeck
        text = (UNITS / name).read_text().replace("/opt/camdeck/bin/camdeck", str(CAMDECK))
        (tmp_path / name).write_text(text)
    res = run([analyze, "verify", *names], cwd=tmp_path, env=clean_env(SYSTEMD_LOG_COLOR="0"))
    assert res.returncode == 0 and not res.stderr.strip(), res.stderr


def test_timer_starts_the_monitor_run_hourly(tmp_path):
    timer = read_unit(UNITS / "camdeck-monitor.timer")
    service = read_unit(UNITS / "camdeck-monitor.service")
    assert unit_value(service, "Service", "Type") == "oneshot"
    assert unit_value(timer, "Timer", "Unit") in (None, "camdeck-monitor.service")
    calendar = run([_systemd_analyze(), "calendar", unit_value(timer, "Timer", "OnCalendar")], cwd=tmp_path,
                   env=clean_env())
    assert calendar.returncode == 0, calendar.stderr
    assert re.search(r"Normalized form: \*-\*-\* \*:00:00\n", calendar.stdout), calendar.stdout
    assert unit_value(timer, "Timer", "Persistent") == "true"
    assert unit_value(timer, "Timer", "RandomizedDelaySec")
    assert unit_value(timer, "Install", "WantedBy") == "timers.target"


@pytest.mark.parametrize("name", SERVICES)
def test_services_run_hardened_as_their_own_user_and_can_write_their_data(name):
    unit = read_unit(UNITS / name)
    assert unit_value(unit, "Service", "User") not in (None, "root", "0")
    assert unit_value(unit, "Service", "ProtectSystem") == "strict"
    assert unit_value(unit, "Service", "NoNewPrivileges") == "yes"
    writable = " ".join(v for k, v in unit["Service"] if k == "ReadWritePaths").split()
    argv = exec_argv(unit_value(unit, "Service", "ExecStart"))
    assert argv[argv.index("--data-dir") + 1] in writable, "the data dir is read-only under ProtectSystem=strict"
    assert unit_value(unit, "Service", "EnvironmentFile") == "-/etc/camdeck/camdeck.env"
    if name == "camdeck-capture.service":
        assert unit_value(unit, "Service", "Restart") == "on-failure"


def test_capture_unit_stores_a_still_in_redis(redis_server, tmp_path):
    import redis

    example = dict(line.split("=", 1) for line in (UNITS / "camdeck.env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    assert set(example) == {"REDIS_URL"}
    example["REDIS_URL"] = redis_server.url                       # the Pi's Redis, here
    argv = _unit_command("camdeck-capture.service", REPO / "config.toml", tmp_path / "data")
    res = run(argv + ["--count", "1"], cwd=tmp_path, env=clean_env(**example), timeout=120)
    assert res.returncode == 0, res.stderr
    client = redis.Redis.from_url(redis_server.url)
    (key,) = client.keys("image:*")
    assert client.hget(key, "format") == b"jpeg" and client.hget(key, "camera") == b"still"


def test_monitor_unit_measures_the_simulated_fleet(fleet, tmp_path):
    config, data = fleet
    res = run(_unit_command("camdeck-monitor.service", config, data), cwd=tmp_path, env=clean_env())
    assert res.returncode == 0, res.stderr
    devices = json.loads(res.stdout)["devices"]
    assert [f"{d['deployment']}/{d['camera']}" for d in devices] == SIM_DEVICES
    assert all(d["success"] and abs(d["pitch_deg"]) < 0.5 for d in devices), devices


# ---------------------------------------------------------------- Kubernetes

@pytest.fixture(scope="module")
def manifest() -> dict[str, dict]:
    import yaml

    docs = [d for d in yaml.safe_load_all(CRONJOB.read_text()) if d]
    return {d["kind"]: d for d in docs}


def _pod(manifest) -> dict:
    return manifest["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def _shard_count(container: dict) -> int:
    args = container["args"]
    m = re.fullmatch(r"\$\(JOB_COMPLETION_INDEX\)/(\d+)", args[args.index("--shard") + 1])
    assert m, f"--shard {args[args.index('--shard') + 1]}: not $(JOB_COMPLETION_INDEX)/N"
    return int(m.group(1))


def test_manifest_passes_the_kubernetes_schema_strictly(manifest):
    import kubernetes_validate

    assert set(manifest) == {"ConfigMap", "CronJob"}
    for version in ("1.27", kubernetes_validate.latest_version()):   # timeZone is GA from 1.27
        for doc in manifest.values():
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as err:
                pytest.fail(f"{doc['kind']} at {'.'.join(map(str, err.path))}: {err.message} (Kubernetes {version})")


def test_cronjob_runs_one_indexed_pod_per_shard_of_the_dockerfile_image(manifest, stages):
    cron = manifest["CronJob"]["spec"]
    job = cron["jobTemplate"]["spec"]
    (container,) = _pod(manifest)["containers"]
    assert cron["concurrencyPolicy"] == "Forbid"
    assert cron["schedule"].split()[1:] == ["*", "*", "*", "*"]      # hourly ...
    assert 0 < job["activeDeadlineSeconds"] < 3600                    # ... and done before the next one
    assert job["completionMode"] == "Indexed"
    assert job["completions"] == job["parallelism"] == _shard_count(container)
    documented = re.search(r"docker build -f deploy/Dockerfile -t (\S+) \.", DOCKERFILE.read_text()).group(1)
    assert container["image"] == documented and documented.endswith(f"/camdeck:{VERSION}")
    assert "command" not in container, "the image's ENTRYPOINT (camdeck) must stay"
    security = _pod(manifest)["securityContext"]
    assert security["runAsNonRoot"] and str(security["runAsUser"]) == stages["runtime"].last("USER").split(":")[0]


def test_config_map_config_loads_and_its_secrets_come_from_the_secret(manifest, monkeypatch):
    from camdeck.console.config import parse_settings

    pod = _pod(manifest)
    (container,) = pod["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    args = container["args"]
    config_path = Path(args[args.index("--config") + 1])
    (config_volume,) = [n for n, v in volumes.items() if "configMap" in v]
    assert volumes[config_volume]["configMap"]["name"] == manifest["ConfigMap"]["metadata"]["name"]
    assert config_path.parent == Path(mounts[config_volume])
    text = manifest["ConfigMap"]["data"][config_path.name]
    data = tomllib.loads(text)
    secret_env = {e["name"] for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})}
    named = set(re.findall(r'^\s*\w+_env\s*=\s*"(\w+)"', text, re.M))
    assert named and named <= secret_env, f"config names {named - secret_env} that the pod never sets"
    for name in named:
        monkeypatch.setenv(name, f"{name.lower()}-value")
    settings = parse_settings(data, source=f"{CRONJOB.name}: {config_path.name}")
    assert settings.storage.s3_bucket and settings.storage.athena_database and settings.storage.athena_output
    ptz = [spec for spec in settings.cameras.values() if spec.model == "PTZ"]
    assert ptz and all(spec.options["password"].reveal() == "ptz_password-value" for spec in ptz)
    assert settings.mqtt.password.reveal() == "mqtt_password-value"
    assert settings.slack.token.reveal() == "slack_bot_token-value"
    # history on the pod's own emptyDir; references and spool on the shared volume
    history = Path(settings.storage.history_db)
    on_pod = [n for n, v in volumes.items() if "emptyDir" in v and history.is_relative_to(mounts[n])]
    assert len(on_pod) == 1, f"history_db {history} is not on one of the pod's emptyDir volumes"
    data_dir = args[args.index("--data-dir") + 1]
    (data_volume,) = [n for n, p in mounts.items() if p == data_dir]
    assert "persistentVolumeClaim" in volumes[data_volume]


def _moved(arg: str, mounts: dict[str, Path]) -> str:
    """A container path under one of ``mounts`` as the path of that volume here."""
    for mount, local in mounts.items():
        if arg == mount or arg.startswith(mount + "/"):
            return str(local / arg[len(mount):].lstrip("/"))
    return arg


def test_every_shard_runs_its_share_of_the_simulated_fleet_through_the_cli(manifest, stages, fleet, tmp_path):
    _, data = fleet
    pod = _pod(manifest)
    (container,) = pod["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    here = {mounts["config"]: tmp_path / "config", mounts["data"]: data, mounts["history"]: tmp_path / "history"}
    # the cameras are simulated; [storage] history_db is the ConfigMap's, moved here with its emptyDir
    history_db = tomllib.loads(manifest["ConfigMap"]["data"]["config.toml"])["storage"]["history_db"]
    history = Path(_moved(history_db, here))
    assert history.is_relative_to(tmp_path / "history")
    sim = FAST_CONFIG.replace('history_db = "history.sqlite"', f'history_db = "{history}"')
    assert sim != FAST_CONFIG
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.toml").write_text(sim)
    (tmp_path / "home").mkdir()
    shards = _shard_count(container)
    entrypoint = exec_form(stages["runtime"].last("ENTRYPOINT"))
    seen: list[str] = []
    for index in range(shards):
        env = {e["name"]: "secret" for e in container["env"]}
        env["JOB_COMPLETION_INDEX"] = str(index)
        args = [expand_k8s(a, env) for a in container["args"]]
        args = [_moved(a, here) for a in args]
        assert args[args.index("--config") + 1] == str(tmp_path / "config" / "config.toml")
        res = run([str(CAMDECK)] + [*entrypoint[1:], *args], cwd=tmp_path / "home", env=clean_env(**env))
        assert res.returncode == 0, res.stderr
        devices = [f"{d['deployment']}/{d['camera']}" for d in json.loads(res.stdout)["devices"]]
        assert devices == SIM_DEVICES[index::shards]
        seen += devices
    assert sorted(seen) == SIM_DEVICES                                 # no overlap, nothing left out
    from camdeck.monitoring.history import HistoryStore

    rows = HistoryStore(history).query()
    assert sorted(f"{r.deployment}/{r.device_id}" for r in rows) == SIM_DEVICES and all(r.success for r in rows)
