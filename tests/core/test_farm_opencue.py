"""The OpenCue farm job: golden job specs, the spec's structure, and submission that never hangs.

Golden files live in ``tests/golden/opencue/<case>/`` (``request.toml``, optional ``farm.toml``,
expected ``job.xml``). Paths in ``job.xml`` are normalised: the case folder is ``$CASE``, the test's
temporary folder ``$TMP`` and the submitter's uid ``$UID``. Refresh them only on purpose::

    CASTGATE_UPDATE_GOLDEN=1 pytest tests/core/test_farm_opencue.py

The job-spec DTD: no installed package ships OpenCue's DTD (it lives in Cuebot's Java resources;
``find .venv -name '*.dtd'`` finds none), and the standard library cannot validate against a DTD
anyway. ``check_structure`` below therefore re-states, as regular expressions over child element
names, the content models of the cjsl-1.15 DTD that pyoutline declares (and Cuebot validates
with), plus Cuebot's naming rules; a test fails when pyoutline starts declaring another version.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import socket
import threading
from concurrent import futures
from pathlib import Path
from xml.etree import ElementTree

import pytest

import outline
import outline.backend.cue
from outline.cuerun import OutlineLauncher
from outline.modules.shell import Shell

from castgate.errors import FarmError
from castgate.farm.layers import job_layers
from castgate.farm.opencue import build_job, job_spec, pretty_xml, serialize, submit
from castgate.farm.settings import FarmSettings, load_farm_settings, parse_farm_settings, split_tags
from castgate.request import load_request, parse_request

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "opencue"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "farm.md"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "request.toml").is_file())


@pytest.fixture(autouse=True)
def farm_environment(monkeypatch, tmp_path):
    """A submitter environment that does not leak into specs: fixed user, no show/shot/tag overrides."""
    for name in ("SHOW", "SHOT", "OL_OS", "OL_TAG_OVERRIDE", "RENDER_TO", "FACILITY", "CUEBOT_HOSTS",
                 "CUEBOT_FACILITY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("USER", "artist")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # pyoutline's default session folder is under ~


def case_inputs(case: str):
    folder = GOLDEN / case
    request = load_request(folder / "request.toml")
    settings = load_farm_settings(folder / "farm.toml") if (folder / "farm.toml").is_file() else FarmSettings()
    return folder, request, settings


def normalise(xml: str, case_dir: Path, tmp_path: Path) -> str:
    xml = xml.replace(str(case_dir), "$CASE").replace(str(tmp_path), "$TMP")
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


# -- structure (the cjsl DTD's content models, restated) ---------------------------------------------
CONTENT = {
    "spec": "facility? dept? show shot user email? uid? job* depends*",
    "job": "paused? priority? maxretries? maxcores? maxgpus? autoeat? localbook? os? env* layers?",
    "layers": "layer+",
    "layer": "cmd range chunk cores? threadable? memory? gpus? gpu? gpu_memory? timeout? timeout_llu? tags? "
             "limits? env* services? outputs*",
    "limits": "limit+", "services": "service+", "outputs": "output*", "env": "key*", "depends": "depend*",
    "depend": "depjob deplayer? depframe? onjob onlayer? onframe?",
}
TEXT_ONLY = {"facility", "dept", "show", "shot", "user", "email", "uid", "paused", "priority", "maxretries",
             "maxcores", "maxgpus", "autoeat", "os", "cmd", "range", "chunk", "cores", "threadable", "memory",
             "gpus", "gpu", "gpu_memory", "timeout", "timeout_llu", "tags", "limit", "service", "output", "key",
             "depjob", "onjob", "deplayer", "onlayer", "depframe", "onframe", "localbook"}
DEPEND_TYPES = {"LAYER_ON_SIM_FRAME", "PREVIOUS_FRAME", "JOB_ON_JOB", "JOB_ON_LAYER", "JOB_ON_FRAME",
                "LAYER_ON_JOB", "LAYER_ON_FRAME", "LAYER_ON_LAYER", "FRAME_ON_JOB", "FRAME_ON_LAYER",
                "FRAME_ON_FRAME", "FRAME_BY_FRAME"}
NMTOKEN = re.compile(r"^[\w.:-]+$")
CUE_NAME = re.compile(r"^[\w.]{3,}$")  # Cuebot: layer/shot names and job-name suffixes, after '-' -> '_'


def _model_regex(model: str) -> re.Pattern:
    parts = []
    for token in model.split():
        name, mark = re.match(r"(\w+)([?*+]?)", token).groups()
        parts.append(f"(?:{name} ){mark}")
    return re.compile("^" + "".join(parts) + "$")


def check_structure(xml: str) -> list[str]:
    """Every way the spec breaks the cjsl-1.15 content models or Cuebot's naming rules."""
    problems = []
    doctype = re.search(r'<!DOCTYPE spec PUBLIC "[^"]+" "([^"]+)">', xml)
    if not doctype or not doctype.group(1).endswith("/cjsl-1.15.dtd"):
        problems.append(f"DOCTYPE does not declare cjsl-1.15.dtd: {doctype.group(0) if doctype else None}")
    root = ElementTree.fromstring(xml)
    if root.tag != "spec":
        problems.append(f"root element is {root.tag}")
    for element in root.iter():
        children = [child.tag for child in element]
        if element.tag in CONTENT:
            sequence = "".join(f"{c} " for c in children)
            if not _model_regex(CONTENT[element.tag]).match(sequence):
                problems.append(f"<{element.tag}> children {children} break ({CONTENT[element.tag]})")
            if (element.text or "").strip():
                problems.append(f"<{element.tag}> holds text")
        elif element.tag in TEXT_ONLY:
            if children:
                problems.append(f"<{element.tag}> must hold text only, holds {children}")
        else:
            problems.append(f"<{element.tag}> is not an element of the job spec")
    for job in root.iter("job"):
        name = job.get("name", "")
        if not NMTOKEN.match(name) or not CUE_NAME.match(name.replace("-", "_")):
            problems.append(f"job name {name!r}")
    for layer in root.iter("layer"):
        if layer.get("type") not in ("Render", "Util", "Post"):
            problems.append(f"layer type {layer.get('type')!r}")
        if not CUE_NAME.match(layer.get("name", "")):
            problems.append(f"layer name {layer.get('name')!r}")
        for tag in (layer.findtext("tags") or "").replace(" ", "").split("|"):
            if tag and not CUE_NAME.match(tag):
                problems.append(f"tag {tag!r}")
        if not re.match(r"^\d+(-\d+)?$", layer.findtext("range") or ""):
            problems.append(f"range {layer.findtext('range')!r}")
    for key in root.iter("key"):
        if not NMTOKEN.match(key.get("name", "")):
            problems.append(f"env key {key.get('name')!r}")
    for depend in root.iter("depend"):
        if depend.get("type") not in DEPEND_TYPES:
            problems.append(f"depend type {depend.get('type')!r}")
    shot = root.findtext("shot") or ""
    if not CUE_NAME.match(shot.replace("-", "_")):
        problems.append(f"shot {shot!r}")
    return problems


@pytest.mark.parametrize("case", CASES)
def test_spec_follows_the_job_spec_dtd(case, tmp_path):
    _, request, settings = case_inputs(case)
    assert check_structure(job_spec(request, tmp_path / "b", settings, pretty=False)) == []


def test_structure_check_catches_a_broken_spec():
    broken = ('<?xml version="1.0"?><!DOCTYPE spec PUBLIC "x" "http://h/cjsl-1.15.dtd"><spec><show>s</show>'
              '<shot>ab</shot><user>u</user><job name="j"><layers><layer name="generate" type="Batch">'
              '<range>1-2</range><cmd>x</cmd><chunk>1</chunk></layer></layers></job></spec>')
    problems = "\n".join(check_structure(broken))
    for fragment in ("<layer> children", "job name 'j'", "layer type 'Batch'", "shot 'ab'"):
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
    settings = FarmSettings(shards=3, quota="parity", publish_cmd="publish-plates {batch}")
    root, layers = parsed(request, batch, settings)
    assert list(layers) == ["generate", "merge", "audit", "gate", "publish"]
    request_file = str(GOLDEN / "default" / "request.toml")

    def argv(name, frame="2"):
        return shlex.split(layers[name].findtext("cmd").replace("#IFRAME#", frame))

    assert argv("generate") == ["castgate", "generate", request_file, "-o", str(batch), "--shard", "2/3"]
    assert (layers["generate"].findtext("range"), layers["generate"].findtext("chunk")) == ("1-3", "1")
    assert argv("merge") == ["castgate", "merge", str(batch)]
    assert argv("audit") == ["castgate", "audit", str(batch)]
    assert argv("gate") == ["castgate", "gate", str(batch), "--quota", "parity"]
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
    _, layers = parsed(request, tmp_path / "b", FarmSettings(shards=50))
    assert layers["generate"].findtext("range") == "1-6"
    assert "'#IFRAME#/6'" in layers["generate"].findtext("cmd")
    _, layers = parsed(request, tmp_path / "b", FarmSettings(shards=1))
    assert layers["generate"].findtext("range") == "1" and "'#IFRAME#/1'" in layers["generate"].findtext("cmd")


def test_build_job_is_a_pyoutline_outline_of_shell_layers(tmp_path):
    _, request, _ = case_inputs("default")
    ol = build_job(request, tmp_path / "b", FarmSettings(shards=2))
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
    launcher = OutlineLauncher(build_job(request, tmp_path / "b", FarmSettings()))
    launcher.setup()  # the session folder pycuerun would read on every render host
    wrapped = outline.backend.cue.serialize(launcher)
    cmds = [layer.findtext("cmd") for layer in ElementTree.fromstring(wrapped).iter("layer")]
    assert all("/pycuerun " in cmd and str(tmp_path / "sessions") in cmd for cmd in cmds)
    assert not any("castgate generate" in cmd for cmd in cmds)
    direct = job_spec(request, tmp_path / "b", FarmSettings(), pretty=False)
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
    layers = job_layers(request, tmp_path / "b", FarmSettings(shards=2), "<STARTFRAME>")
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
        job_spec(request, tmp_path / "b", FarmSettings())
    assert "<job name=\"ab_v1\"" in job_spec(request, tmp_path / "b", FarmSettings(job_name="ab_v1"))


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
    settings = FarmSettings(cuebot=(f"127.0.0.1:{_free_port()}",), timeout=2)
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
        finished, error = _finishes(submit, request, tmp_path / "b", FarmSettings(cuebot=(host,), timeout=1))
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
    monkeypatch.setattr(os, "getuid", lambda: 1000)  # Cuebot refuses root; so does submit()
    try:
        _, request, _ = case_inputs("default")
        settings = FarmSettings(shards=2, cuebot=(f"127.0.0.1:{port}",), timeout=5)
        result = submit(request, tmp_path / "b", settings)
    finally:
        server.stop(None)
    assert result.jobs == ("testing-default-artist_ward_extras",) and result.cuebot.endswith(f":{port}")
    assert received == [job_spec(request, tmp_path / "b", settings, pretty=False)]
    assert "<uid>1000</uid>" in received[0]


def test_submit_as_root_is_refused_before_sending(tmp_path, monkeypatch):
    grpc = pytest.importorskip("grpc")
    from opencue_proto import cue_pb2, cue_pb2_grpc

    class Cue(cue_pb2_grpc.CueInterfaceServicer):
        def GetSystemStats(self, request, context):
            return cue_pb2.CueGetSystemStatsResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    cue_pb2_grpc.add_CueInterfaceServicer_to_server(Cue(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    monkeypatch.setattr(os, "getuid", lambda: 0)
    try:
        _, request, _ = case_inputs("default")
        with pytest.raises(FarmError, match="root"):
            submit(request, tmp_path / "b", FarmSettings(cuebot=(f"127.0.0.1:{port}",), timeout=5))
    finally:
        server.stop(None)


def test_serialize_is_pyoutlines_own(tmp_path):
    _, request, settings = case_inputs("studio")
    ol = build_job(request, tmp_path / "b", settings)
    xml = serialize(ol, settings)
    assert xml.startswith('<?xml version="1.0"?><!DOCTYPE spec PUBLIC "SPI Cue  Specification Language"')
