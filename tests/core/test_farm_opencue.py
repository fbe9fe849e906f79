"""The OpenCue farm job: golden job specs, the spec's structure, and submission that never hangs.

Golden files live in ``tests/golden/opencue/<case>/`` (``request.toml``, optional ``farm.toml``,
expected ``job.xml``). Paths in ``job.xml`` are normalised: the case folder is ``$CASE``, the test's
temporary folder ``$TMP`` and the submitter's uid ``$UID``. Refresh them only on purpose::

    CASTGATE_UPDATE_GOLDEN=1 pytest tests/core/test_farm_opencue.py

Every spec these tests make is validated against the DTD it declares (OpenCue's own cjsl-1.13 to
1.15, from ``../shared/fixtures/opencue/``) by a validating parser (lxml), as Cuebot does: see
``tests/opencue_spec.py`` and the ``validated_specs`` fixture. Cuebot's naming rules, which the DTD
does not express, are checked by ``naming_problems``.

Tests run as root in CI containers, where the user ``artist`` has no passwd entry: the settings name
its uid (:data:`UID`), as a studio's farm.toml does when the submitting machine does not know the user.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import socket
import subprocess
import threading
from concurrent import futures
from pathlib import Path
from xml.etree import ElementTree

import pytest

import outline
import outline.backend.cue
from outline.cuerun import OutlineLauncher
from outline.modules.shell import Shell

from opencue_spec import assert_valid, dtd_errors

from castgate.errors import FarmError
from castgate.farm.environment import submitting_castgate
from castgate.farm.layers import job_layers
from castgate.farm.opencue import build_job, job_spec, pretty_xml, serialize, submit
from castgate.farm.settings import FarmSettings, load_farm_settings, parse_farm_settings, split_tags
from castgate.request import load_request, parse_request

pytestmark = pytest.mark.usefixtures("validated_specs")
UID = 4242

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "opencue"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "farm.md"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "request.toml").is_file())


@pytest.fixture(autouse=True)
def farm_environment(monkeypatch, tmp_path):
    """A submitter environment that does not leak into specs: fixed user, no show/shot/tag overrides."""
    for name in ("SHOW", "SHOT", "OL_OS", "OL_TAG_OVERRIDE", "RENDER_TO", "FACILITY", "CUEBOT_HOSTS",
                 "CUEBOT_FACILITY", "OCIO", "CASTGATE_MODELS", "XDG_CACHE_HOME", "PYTHONPATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("USER", "artist")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # pyoutline's default session folder is under ~


def case_inputs(case: str):
    folder = GOLDEN / case
    request = load_request(folder / "request.toml")
    settings = load_farm_settings(folder / "farm.toml") if (folder / "farm.toml").is_file() else FarmSettings()
    return folder, request, settings.replace(uid=settings.uid or UID)


def normalise(xml: str, case_dir: Path, tmp_path: Path) -> str:
    xml = xml.replace(str(case_dir), "$CASE").replace(str(tmp_path), "$TMP")
    xml = xml.replace(submitting_castgate()[0], "$CASTGATE")
    return re.sub(r"<uid>\d+</uid>", "<uid>$UID</uid>", xml)


# -- golden files ------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_job_spec_matches_golden_file(case, tmp_path):
    folder, request, settings = case_inputs(case)
    actual = normalise(job_spec(request, tmp_path / "batch", settings), folder, tmp_path)
    golden = folder / "job.xml"
    if os.environ.get("CASTGATE_UPDATE_GOLDEN") == "1":
        golden.write_text(actual, encoding="utf-8")
    expected = golden.read_text(encoding="utf-8") if golden.is_file() else ""
    if actual != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True),
                                            f"{golden} (expected)", "job_spec() (actual)"))
        print(diff)
        pytest.fail(f"job spec differs from {golden} (diff above); if the change is intended, refresh with "
                    f"CASTGATE_UPDATE_GOLDEN=1 pytest {Path(__file__).name}")


def test_golden_cases_exist():
    assert {"default", "studio"} <= set(CASES)
    for case in CASES:
        assert (GOLDEN / case / "job.xml").is_file(), f"{case}: no job.xml (run with CASTGATE_UPDATE_GOLDEN=1)"


# -- the DTD and Cuebot's naming rules ----------------------------------------------------------------
CUE_NAME = re.compile(r"^[\w.]{3,}$", re.ASCII)  # Cuebot: layer/shot names and job-name suffixes, '-' -> '_'
CUE_TAG = re.compile(r"^[\w.-]{3,}$", re.ASCII)  # Cuebot's tag rule


def naming_problems(xml: str) -> list[str]:
    """Cuebot's naming rules, which the DTD does not express; and never root."""
    problems = []
    root = ElementTree.fromstring(xml)
    for job in root.iter("job"):
        if not CUE_NAME.match(job.get("name", "").replace("-", "_")):
            problems.append(f"job name {job.get('name')!r}")
    for layer in root.iter("layer"):
        if not CUE_NAME.match(layer.get("name", "")):
            problems.append(f"layer name {layer.get('name')!r}")
        for tag in (layer.findtext("tags") or "").replace(" ", "").split("|"):
            if tag and not CUE_TAG.match(tag):
                problems.append(f"tag {tag!r}")
        if not re.match(r"^\d+(-\d+)?$", layer.findtext("range") or ""):
            problems.append(f"range {layer.findtext('range')!r}")
    if not CUE_NAME.match((root.findtext("shot") or "").replace("-", "_")):
        problems.append(f"shot {root.findtext('shot')!r}")
    if root.findtext("user") == "root" or root.findtext("uid") == "0":
        problems.append(f"owner {root.findtext('user')}/{root.findtext('uid')}")
    return problems


@pytest.mark.parametrize("version", ["1.13", "1.14", "1.15"])
@pytest.mark.parametrize("case", CASES)
def test_spec_validates_against_the_dtd_it_declares(case, version, tmp_path, validated_specs):
    _, request, settings = case_inputs(case)
    xml = job_spec(request, tmp_path / "b", settings.replace(spec_version=version), pretty=False)
    assert f"/cjsl-{version}.dtd" in xml.split("<spec>")[0]
    assert_valid(xml)
    assert naming_problems(xml) == []
    assert ("<outputs" in xml) == (version == "1.15")  # 1.13 has no <outputs>; pyoutline writes them for 1.15
    assert validated_specs  # the fixture saw (and validated) the spec too


def test_the_dtd_check_catches_a_broken_spec():
    broken = ('<?xml version="1.0"?><!DOCTYPE spec PUBLIC "x" "http://h/cjsl-1.13.dtd"><spec><show>s</show>'
              '<shot>ab</shot><user>root</user><job name="j"><layers><layer name="generate" type="Batch">'
              '<range>1-2</range><cmd>x</cmd><chunk>1</chunk><outputs/></layer></layers></job></spec>')
    errors = "\n".join(dtd_errors(broken))
    assert "layer" in errors and "Batch" in errors  # wrong child order, unknown type, <outputs> in 1.13
    problems = "\n".join(naming_problems(broken))
    for fragment in ("job name 'j'", "shot 'ab'", "owner root"):
        assert fragment in problems


def test_pyoutline_still_declares_spec_version_1_15():
    assert outline.config.get("outline", "spec_version") == "1.15"


# -- what the job does -------------------------------------------------------------------------------
def parsed(request, batch, settings):
    root = ElementTree.fromstring(job_spec(request, batch, settings, pretty=False))
    layers = {layer.get("name"): layer for layer in root.iter("layer")}
    return root, layers


def test_layers_commands_frames_and_dependencies(tmp_path):
    _, request, _ = case_inputs("default")
    batch = tmp_path / "my batch"  # a space: commands must quote it
    settings = FarmSettings(uid=UID, shards=3, quota="parity", publish_cmd="publish-plates {batch}")
    root, layers = parsed(request, batch, settings)
    assert list(layers) == ["generate", "merge", "audit", "gate", "publish"]
    request_file = str(GOLDEN / "default" / "request.toml")

    def argv(name, frame="2"):
        return shlex.split(layers[name].findtext("cmd").replace("#IFRAME#", frame))

    castgate = submitting_castgate()
    assert os.path.isabs(castgate[0])  # render hosts start frames with a bare PATH
    assert argv("generate") == [*castgate, "generate", request_file, "-o", str(batch), "--shard", "2/3"]
    assert (layers["generate"].findtext("range"), layers["generate"].findtext("chunk")) == ("1-3", "1")
    assert argv("merge") == [*castgate, "merge", str(batch)]
    assert argv("audit") == [*castgate, "audit", str(batch)]
    assert argv("gate") == [*castgate, "gate", str(batch), "--quota", "parity"]
    assert argv("publish") == ["publish-plates", str(batch)]
    for name in ("merge", "audit", "gate", "publish"):
        assert layers[name].findtext("range") == "1"
    assert layers["gate"].get("type") == "Util" and layers["generate"].get("type") == "Render"
    depends = [(d.get("type"), d.get("anyframe"), d.findtext("deplayer"), d.findtext("onlayer"))
               for d in root.iter("depend")]
    assert depends == [("LAYER_ON_LAYER", "False", "merge", "generate"), ("LAYER_ON_LAYER", "False", "audit", "merge"),
                       ("LAYER_ON_LAYER", "False", "gate", "audit"), ("LAYER_ON_LAYER", "False", "publish", "gate")]
    job = root.find("job")
    assert job.findtext("autoeat") == "False"  # an eaten gate frame could release publish
    assert "/pycuerun" not in ElementTree.tostring(root, encoding="unicode")


def test_environment_resources_and_identity_from_farm_toml(tmp_path):
    folder, request, settings = case_inputs("studio")
    root, layers = parsed(request, tmp_path / "b", settings)
    env = {key.get("name"): key.text for key in root.find("job").find("env")}
    assert env == {"CASTGATE_MODELS": "/studio/models/castgate", "OCIO": "/studio/ocio/aces_1.3/config.ocio",
                   "TMPDIR": "/local/scratch", "XLA_PYTHON_CLIENT_MEM_FRACTION": "0.9"}
    gen = layers["generate"]
    assert {t: gen.findtext(t) for t in ("cores", "memory", "gpus", "gpu_memory", "tags")} == {
        "cores": "4.0", "memory": "24g", "gpus": "1", "gpu_memory": "16g", "tags": "gpu | cuda12"}
    assert gen.find("services").findtext("service") == "castgate_gpu"
    assert [limit.text for limit in gen.find("limits")] == ["castgate"]
    assert shlex.split(gen.findtext("cmd"))[:5] == ["rez", "env", "castgate-0.1", "--", "castgate"]
    assert gen.findtext("range") == "1-6"
    assert layers["audit"].findtext("tags") == "general" and layers["merge"].findtext("tags") is None
    assert (root.findtext("show"), root.findtext("shot"), root.findtext("user"), root.findtext("facility"),
            root.findtext("email")) == ("extras", "sh010", "artist", "cloud", "artist@example.com")
    job = root.find("job")
    assert (job.get("name"), job.findtext("paused"), job.findtext("priority")) == ("office_crowd_v001", "True", "80")
    assert shlex.split(layers["publish"].findtext("cmd")) == [
        "studio-publish", "--plates", str(tmp_path / "b"), "--request", str(folder / "request.toml")]


def test_shards_never_exceed_the_plates_planned(tmp_path):
    _, request, _ = case_inputs("default")  # 6 plates
    _, layers = parsed(request, tmp_path / "b", FarmSettings(uid=UID, shards=50))
    assert layers["generate"].findtext("range") == "1-6"
    assert "'#IFRAME#/6'" in layers["generate"].findtext("cmd")
    _, layers = parsed(request, tmp_path / "b", FarmSettings(uid=UID, shards=1))
    assert layers["generate"].findtext("range") == "1" and "'#IFRAME#/1'" in layers["generate"].findtext("cmd")


def test_build_job_is_a_pyoutline_outline_of_shell_layers(tmp_path):
    _, request, _ = case_inputs("default")
    ol = build_job(request, tmp_path / "b", FarmSettings(uid=UID, shards=2))
    assert isinstance(ol, outline.Outline)
    layers = ol.get_layers()
    assert all(isinstance(layer, Shell) for layer in layers)
    assert [layer.get_name() for layer in layers] == ["generate", "merge", "audit", "gate"]
    assert [[d.get_depend_on_layer().get_name() for d in layer.get_depends()] for layer in layers] == [
        [], ["generate"], ["merge"], ["audit"]]
    assert not (tmp_path / "b").exists()  # building a job writes nothing


def test_job_spec_is_repeatable_and_leaves_nothing_behind(tmp_path):
    _, request, settings = case_inputs("studio")
    first = job_spec(request, tmp_path / "b", settings)
    assert job_spec(request, tmp_path / "b", settings) == first
    assert not (tmp_path / "home").exists()  # no pyoutline session folder under ~
    assert "SHOT" not in os.environ  # pyoutline's launcher sets $SHOT; job_spec puts it back


def test_pycuerun_wrapping_is_what_we_avoid(tmp_path, monkeypatch):
    """pyoutline's default serialisation wraps commands in pycuerun, tied to a session folder."""
    monkeypatch.setattr(outline.config, "get", _config_with_session(outline.config.get, tmp_path / "sessions"))
    _, request, _ = case_inputs("default")
    launcher = OutlineLauncher(build_job(request, tmp_path / "b", FarmSettings(uid=UID)))
    launcher.setup()  # the session folder pycuerun would read on every render host
    wrapped = outline.backend.cue.serialize(launcher)
    cmds = [layer.findtext("cmd") for layer in ElementTree.fromstring(wrapped).iter("layer")]
    assert all("/pycuerun " in cmd and str(tmp_path / "sessions") in cmd for cmd in cmds)
    assert not any("castgate generate" in cmd for cmd in cmds)
    direct = job_spec(request, tmp_path / "b", FarmSettings(uid=UID), pretty=False)
    assert "castgate generate" in direct and "/pycuerun" not in direct


def _config_with_session(get, folder):
    def patched(section, option, *args, **kwargs):
        if (section, option) == ("outline", "session_dir"):
            return str(folder)
        return get(section, option, *args, **kwargs)
    return patched


def test_pretty_xml_keeps_doctype_and_content(tmp_path):
    _, request, settings = case_inputs("studio")
    raw = job_spec(request, tmp_path / "b", settings, pretty=False)
    pretty = pretty_xml(raw)
    assert pretty.splitlines()[1].startswith("<!DOCTYPE spec PUBLIC")
    strip = lambda xml: ElementTree.tostring(_stripped(ElementTree.fromstring(xml)))  # noqa: E731
    assert strip(raw) == strip(pretty)


def _stripped(element):
    for e in element.iter():
        e.text = (e.text or "").strip() or None
        e.tail = None
    return element


def test_the_same_layers_serve_any_farm_manager(tmp_path):
    _, request, _ = case_inputs("default")
    layers = job_layers(request, tmp_path / "b", FarmSettings(uid=UID, shards=2), "<STARTFRAME>")
    assert layers[0].command.endswith("--shard '<STARTFRAME>/2'")
    assert [(l.name, l.depends_on) for l in layers] == [("generate", None), ("merge", "generate"),
                                                       ("audit", "merge"), ("gate", "audit")]


# -- bad settings ------------------------------------------------------------------------------------
def test_bad_farm_toml_lists_every_problem(tmp_path):
    path = tmp_path / "farm.toml"
    path.write_text('[farm]\nshards = "four"\nshwo = "x"\n[farm.layers.generate]\ntags = ["g"]\n'
                    'memory = "lots"\n[farm.layers.render]\ncores = 2\n', encoding="utf-8")
    with pytest.raises(FarmError) as info:
        load_farm_settings(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in ("[farm].shards is 'four'", "unknown key [farm].shwo", "unknown layer [farm.layers.render]"):
        assert fragment in message
    path.write_text('[farm.layers.generate]\ntags = ["g"]\nmemory = "lots"\n', encoding="utf-8")
    with pytest.raises(FarmError) as info:
        load_farm_settings(path)
    assert "'g' is not a tag" in str(info.value) and "'lots' is not a size" in str(info.value)


def test_farm_toml_syntax_error_and_missing_file(tmp_path):
    (tmp_path / "farm.toml").write_text("[farm\n", encoding="utf-8")
    with pytest.raises(FarmError, match="not valid TOML"):
        load_farm_settings(tmp_path / "farm.toml")
    with pytest.raises(FarmError, match="file not found"):
        load_farm_settings(tmp_path / "missing.toml")


def test_docs_example_farm_toml_is_valid():
    blocks = re.findall(r"```toml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    examples = [b for b in blocks if b.lstrip().startswith("[farm]")]
    assert examples, "docs/farm.md has no [farm] example"
    import tomllib

    for block in examples:
        parse_farm_settings(tomllib.loads(block), source="docs/farm.md")


def test_too_short_job_name_names_the_fix(tmp_path):
    request = parse_request({"batch": {"name": "ab"}, "roles": [{"id": "r", "prompt": "p", "count": 1}]},
                            source=str(tmp_path / "r.toml"))
    with pytest.raises(FarmError, match="--job-name"):
        job_spec(request, tmp_path / "b", FarmSettings(uid=UID))
    assert "<job name=\"ab_v1\"" in job_spec(request, tmp_path / "b", FarmSettings(uid=UID, job_name="ab_v1"))


def test_settings_merge_cli_over_file():
    base = parse_farm_settings({"farm": {"shards": 8, "layers": {"generate": {"tags": ["gpu"], "memory": "8g"}}}})
    merged = base.replace(shards=None, priority=5).with_layer("generate", memory="16g", tags=split_tags("gpu, a100"))
    assert (merged.shards, merged.priority) == (8, 5)
    assert merged.resources("generate").tags == ("gpu", "a100")
    assert merged.resources("generate").memory == "16g" and merged.resources("generate").gpus == 1


# -- submission --------------------------------------------------------------------------------------
def _finishes(function, *args, within: float = 60.0):
    """Run ``function(*args)`` in a thread; return (finished, exception) — a hang fails, never blocks."""
    outcome = {}

    def target():
        try:
            function(*args)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(within)
    return not thread.is_alive(), outcome.get("error")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_submit_without_cuebot_is_a_clear_farm_error(tmp_path):
    _, request, _ = case_inputs("default")
    settings = FarmSettings(uid=UID, cuebot=(f"127.0.0.1:{_free_port()}",), timeout=2)
    finished, error = _finishes(submit, request, tmp_path / "b", settings)
    assert finished, "submit hung with no Cuebot"
    assert isinstance(error, FarmError)
    assert "no Cuebot reachable" in str(error) and "--cuebot" in str(error) and "--dry-run" in str(error)
    assert not (tmp_path / "b").exists()


def test_submit_to_a_cuebot_that_never_answers_times_out(tmp_path):
    _, request, _ = case_inputs("default")
    with socket.socket() as silent:  # accepts connections (kernel backlog), never speaks gRPC
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        host = f"127.0.0.1:{silent.getsockname()[1]}"
        finished, error = _finishes(submit, request, tmp_path / "b", FarmSettings(uid=UID, cuebot=(host,), timeout=1))
    assert finished, "submit hung on a silent Cuebot"
    assert isinstance(error, FarmError) and "did not answer within 1 s" in str(error)


def test_submit_launches_the_job_spec_through_pyoutline(tmp_path, monkeypatch):
    """A stand-in Cuebot (pycue's own gRPC services) receives exactly the spec job_spec writes."""
    grpc = pytest.importorskip("grpc")
    from opencue_proto import cue_pb2, cue_pb2_grpc, job_pb2, job_pb2_grpc

    received = []

    class Cue(cue_pb2_grpc.CueInterfaceServicer):
        def GetSystemStats(self, request, context):
            return cue_pb2.CueGetSystemStatsResponse()

    class Jobs(job_pb2_grpc.JobInterfaceServicer):
        def LaunchSpecAndWait(self, request, context):
            received.append(request.spec)
            return job_pb2.JobLaunchSpecAndWaitResponse(
                jobs=job_pb2.JobSeq(jobs=[job_pb2.Job(name="testing-default-artist_ward_extras")]))

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    cue_pb2_grpc.add_CueInterfaceServicer_to_server(Cue(), server)
    job_pb2_grpc.add_JobInterfaceServicer_to_server(Jobs(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        _, request, _ = case_inputs("default")
        settings = FarmSettings(uid=UID, shards=2, cuebot=(f"127.0.0.1:{port}",), timeout=5)
        result = submit(request, tmp_path / "b", settings)
    finally:
        server.stop(None)
    assert result.jobs == ("testing-default-artist_ward_extras",) and result.cuebot.endswith(f":{port}")
    assert received == [job_spec(request, tmp_path / "b", settings, pretty=False)]
    assert f"<uid>{UID}</uid>" in received[0] and "<user>artist</user>" in received[0]


def test_submit_as_root_is_refused_before_connecting(tmp_path, monkeypatch):
    """Cuebot refuses root's jobs: castgate says so before it looks for a Cuebot."""
    _, request, _ = case_inputs("default")
    unreachable = (f"127.0.0.1:{_free_port()}",)
    with pytest.raises(FarmError, match="root"):
        submit(request, tmp_path / "b", FarmSettings(user="root", uid=0, cuebot=unreachable, timeout=1))
    monkeypatch.delenv("USER")
    monkeypatch.delenv("LOGNAME", raising=False)
    monkeypatch.setattr(os, "getuid", lambda: 0)
    monkeypatch.setattr("getpass.getuser", lambda: "root")
    with pytest.raises(FarmError, match="root") as info:
        submit(request, tmp_path / "b", FarmSettings(cuebot=unreachable, timeout=1))
    assert "farm.toml" in str(info.value) and "no Cuebot" not in str(info.value)


def test_serialize_is_pyoutlines_own(tmp_path):
    _, request, settings = case_inputs("studio")
    ol = build_job(request, tmp_path / "b", settings)
    xml = serialize(ol, settings)
    assert xml.startswith('<?xml version="1.0"?><!DOCTYPE spec PUBLIC "SPI Cue  Specification Language"')


# -- a stock render host (castgate issue 15) ----------------------------------------------------------
def test_frames_get_what_the_submitter_had(tmp_path, monkeypatch):
    """RQD builds a frame's environment from scratch: the job carries the model root, OCIO and PYTHONPATH."""
    monkeypatch.setenv("CASTGATE_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("OCIO", "ocio://cg-config-v2.2.0_aces-v1.3_ocio-v2.4")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(["relative/core", str(tmp_path / "cli")]))
    _, request, _ = case_inputs("default")
    root, _ = parsed(request, tmp_path / "b", FarmSettings(uid=UID))
    env = {key.get("name"): key.text for key in root.find("job").find("env")}
    assert env == {"CASTGATE_MODELS": str(tmp_path / "models"), "OCIO": "ocio://cg-config-v2.2.0_aces-v1.3_ocio-v2.4",
                   "PYTHONPATH": os.pathsep.join([str(Path("relative/core").absolute()), str(tmp_path / "cli")])}
    # a studio command of its own: no PYTHONPATH from this shell; farm.toml values win
    settings = FarmSettings(uid=UID, castgate="/studio/bin/castgate", models="/studio/models", ocio="/studio/config.ocio",
                            env={"OCIO": "/show/config.ocio"})
    root, layers = parsed(request, tmp_path / "b", settings)
    env = {key.get("name"): key.text for key in root.find("job").find("env")}
    assert env == {"CASTGATE_MODELS": "/studio/models", "OCIO": "/show/config.ocio"}
    assert shlex.split(layers["merge"].findtext("cmd"))[0] == "/studio/bin/castgate"


def test_default_resources_are_explicit(tmp_path):
    """No layer inherits the shell service's 3.2 GB minimum or pyoutline's 1g of GPU memory."""
    _, request, _ = case_inputs("default")
    _, layers = parsed(request, tmp_path / "b", FarmSettings(uid=UID))
    gen = layers["generate"]
    assert {t: gen.findtext(t) for t in ("cores", "memory", "gpus", "gpu_memory")} == {
        "cores": "2.0", "memory": "12g", "gpus": "1", "gpu_memory": "10g"}
    for name in ("merge", "audit", "gate"):
        assert layers[name].findtext("memory") and layers[name].findtext("cores")
        assert layers[name].findtext("gpus") is None


def test_tags_follow_cuebots_rule():
    settings = parse_farm_settings({"farm": {"layers": {"generate": {"tags": ["gpu-a100", "cuda.12", "my_gpu"]}}}})
    assert settings.resources("generate").tags == ("gpu-a100", "cuda.12", "my_gpu")
    for bad in ("ab", "gpu a100", "gpü", "gpu/a100"):
        with pytest.raises(FarmError, match="not a tag Cuebot accepts"):
            parse_farm_settings({"farm": {"layers": {"generate": {"tags": [bad]}}}})


def test_owner_and_spec_version_from_farm_toml(tmp_path):
    settings = parse_farm_settings({"farm": {"user": "render", "uid": 5001, "spec_version": "1.14"}})
    _, request, _ = case_inputs("default")
    xml = job_spec(request, tmp_path / "b", settings, pretty=False)
    assert "<user>render</user>" in xml and "<uid>5001</uid>" in xml and "cjsl-1.14.dtd" in xml
    for farm, fragment in (({"user": "root"}, "refuses jobs owned by root"), ({"uid": 0}, "uid 0"),
                           ({"spec_version": "1.12"}, "spec_version '1.12'")):
        with pytest.raises(FarmError, match=re.escape(fragment)):
            parse_farm_settings({"farm": farm})


HOSTILE = ["`id`", "$(touch PWNED)", "{request}", "'; touch PWNED; '", '"$(touch PWNED)"']


@pytest.mark.parametrize("hostile", HOSTILE)
def test_publish_command_quotes_paths_once(tmp_path, hostile):
    """Findings 9 and 10 of issue 14: a path never becomes shell syntax, and {request} inside the batch
    path is not substituted a second time. The command is run by /bin/sh, as RQD runs it."""
    _, request, _ = case_inputs("default")
    batch = tmp_path / f"batch {hostile}"
    template = 'printf "%s\\n" "{batch}" --request={request}'
    layers = job_layers(request, batch, FarmSettings(uid=UID, publish_cmd=template), "#IFRAME#")
    publish = layers[-1]
    assert publish.name == "publish"
    result = subprocess.run(["/bin/sh", "-c", publish.command], cwd=tmp_path, capture_output=True, text=True,
                            check=True)
    request_file = str(GOLDEN / "default" / "request.toml")
    assert result.stdout.splitlines() == [str(batch), f"--request={request_file}"]
    assert not list(tmp_path.glob("PWNED*")) and "uid=" not in result.stdout


@pytest.mark.parametrize("template, fragment", [
    ("publish {batch} | tee log", "shell syntax ('|')"),
    ("publish {batch}; notify", "shell syntax (';')"),
    ("publish $SHOW/{batch}", "shell syntax ('$')"),
    ("publish {batchdir}", "unknown placeholder '{batchdir}'"),
    ("publish '{batch}", "cannot be split into words"),
])
def test_publish_template_is_checked_at_submit(tmp_path, template, fragment):
    _, request, _ = case_inputs("default")
    with pytest.raises(FarmError, match=re.escape(fragment)) as info:
        job_layers(request, tmp_path / "b", FarmSettings(uid=UID, publish_cmd=template), "#IFRAME#")
    assert "--publish-cmd" in str(info.value)


@pytest.mark.parametrize("text, fragment", [
    ('[generate]\ngpus = 1\n[farm]\nshards = 2\n', "[generate] is a layer outside [farm]: write it as [farm.layers.generate]"),
    ('gpus = 1\n[farm]\nshards = 2\n', "gpus at the top of the file is a per-layer setting"),
    ('[layers.generate]\ngpus = 1\n', "write it as [farm.layers.NAME]"),
    ('shards = 2\n[farm]\n', "shards is outside [farm]: move it below the [farm] line"),
    ('[farm]\ngpus = 1\n', "[farm].gpus is a per-layer setting: put it under [farm.layers.generate]"),
    ('[farm.generate]\ngpus = 1\n', "[farm.generate] is a layer: write it as [farm.layers.generate]"),
])
def test_misplaced_layer_keys_say_where_they_belong(tmp_path, text, fragment):
    """Finding 20 of issue 14: a layer key at the top of farm.toml."""
    path = tmp_path / "farm.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FarmError) as info:
        load_farm_settings(path)
    assert fragment in str(info.value) and str(path) in str(info.value)


def test_booking_maps_to_the_devices_jax_uses():
    from castgate.farm.booking import booked_threads, booking_environment

    frame = {"CUE_JOB": "j", "CUE_FRAME": "0001-generate", "CUE_GPUS": "2", "CUE_GPU_CORES": "2,3",
             "CUE_GPU_MEMORY": str(20 * 1024 * 1024), "CUE_THREADS": "4"}
    sizes = {}

    def gpu_kb(ids):
        sizes["asked"] = ids
        return 80 * 1024 * 1024

    assert booking_environment(frame, gpu_kb) == {"CUDA_VISIBLE_DEVICES": "2,3", "XLA_PYTHON_CLIENT_MEM_FRACTION": "0.25"}
    assert sizes["asked"] == ["2", "3"]
    # GPU size unknown: allocate on demand instead of 75 % of a GPU another frame may hold
    assert booking_environment(frame, lambda ids: None)["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    # the studio's own settings win
    own = {**frame, "CUDA_VISIBLE_DEVICES": "0", "XLA_PYTHON_CLIENT_MEM_FRACTION": ".5"}
    assert booking_environment(own, gpu_kb) == {}
    # a farm frame that booked no GPU sees none; off the farm nothing changes
    assert booking_environment({"CUE_JOB": "j", "CUE_FRAME": "0001-audit", "CUE_GPUS": "0"}) == {"CUDA_VISIBLE_DEVICES": ""}
    assert booking_environment({}) == {}
    assert booked_threads(frame) == 4 and booked_threads({}) is None and booked_threads({"CUE_THREADS": "x"}) is None


def test_audit_workers_follow_cue_threads(monkeypatch):
    from castgate.audit.batch import available_cpus

    monkeypatch.delenv("CUE_THREADS", raising=False)
    cores = available_cpus()
    monkeypatch.setenv("CUE_THREADS", "1")
    assert available_cpus() == 1
    monkeypatch.setenv("CUE_THREADS", str(cores + 10))
    assert available_cpus() == cores
